"""Checkpoints: a run's answered items, appended as they come, so that an interrupted run
(Ctrl-C, a kill, a lost machine) can be finished with `--resume RUN_ID` without asking them
again. One JSON-lines file per run under `<reports>/_checkpoints/` (outside every table): a
header with the run's settings, then one items row a line. Removed once the run's reports
are written."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from tinyqa import runinfo
from tinyqa.errors import InputError
from tinyqa.reports import location
from tinyqa.settings import cache_dir


FOLDER = "_checkpoints"


class Checkpoint:
    def __init__(self, path: Path, meta: dict, rows: list[dict]):
        self.path, self.meta, self.rows = path, meta, rows
        self._file = None

    @staticmethod
    def folder(reports: str | Path) -> Path:
        """`<reports>/_checkpoints/` for a local store; for a store at a URL (s3://…), a local
        folder of the cache named after it: a checkpoint is appended line by line, which
        object stores do not do."""
        if location.is_url(reports):
            return cache_dir() / "checkpoints" / hashlib.sha256(str(reports).encode()).hexdigest()[:16]
        return Path(location.local_path(reports)) / FOLDER

    @classmethod
    def path_for(cls, reports: str | Path, run_id: str) -> Path:
        """The checkpoint's file; InputError (exit 2) for a run id that is not one (`../x`,
        `a/b`): checked before it names any path, so nothing outside the folder is touched."""
        if not isinstance(run_id, str) or not location.RUN_ID.fullmatch(run_id) or len(run_id) > 128:
            raise InputError(f"--resume {run_id!r}: not a run id (letters, digits, '.', '_', '-'; "
                             "see `tinyqa runs`)")
        return cls.folder(reports) / f"{run_id}.jsonl"

    @classmethod
    def create(cls, reports: str | Path, run_id: str, meta: dict) -> Checkpoint:
        """A new checkpoint; `meta["api_base"]` is kept without credentials (see resume_api_base)."""
        url, public = meta.get("api_base"), runinfo.public_url(meta.get("api_base"))
        meta = {**meta, "api_base": public, "api_base_credentials": url != public}
        path = cls.path_for(reports, run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"meta": meta}) + "\n", encoding="utf-8")
        return cls(path, meta, [])

    @classmethod
    def load(cls, reports: str | Path, run_id: str) -> Checkpoint:
        """The checkpoint of an interrupted run; a torn last line (the kill) is ignored."""
        path = cls.path_for(reports, run_id)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
            meta = json.loads(lines[0])["meta"]
        except (OSError, IndexError, ValueError, KeyError):
            raise InputError(f"--resume {run_id}: no checkpoint at {path} "
                             "(only an interrupted run can be resumed)") from None
        rows = []
        for line in lines[1:]:
            try:
                rows.append(json.loads(line))
            except ValueError:
                break
        kept = lines[:1 + len(rows)]
        if len(kept) < len(lines) or not path.read_bytes().endswith(b"\n"):
            # Cut the torn line off before the resumed run appends to the file, or its first
            # row would be glued to it and lost, with every row after it, at the next resume.
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            os.replace(tmp, path)
        return cls(path, meta, rows)

    @classmethod
    def of_task_run(cls, reports: str | Path, task_run_id: str | None) -> str | None:
        """The run id of the checkpoint a Prefect task run left (its earlier attempt), if any."""
        folder = cls.folder(reports)
        if task_run_id is None or not folder.is_dir():
            return None
        for path in folder.glob("*.jsonl"):
            with open(path, encoding="utf-8") as f, contextlib.suppress(ValueError, KeyError):
                if json.loads(f.readline())["meta"].get("task_run_id") == task_run_id:
                    return path.stem
        return None

    def resume_api_base(self, given: str | None) -> str | None:
        """The base URL to finish the run with: `given` (--api-base), else the recorded one,
        unless that one had credentials, which are not kept on disk."""
        if given:
            return given
        if self.meta.get("api_base_credentials"):
            raise InputError(f"--resume {self.path.stem}: the run was asked of {self.meta['api_base']} with "
                             "credentials in the URL, which are not kept: pass --api-base again")
        return self.meta["api_base"]

    def answered(self) -> dict[tuple[str, str], dict]:
        """Rows of items answered before the interruption (errored ones are asked again)."""
        return {(r["pack_id"], r["item_id"]): r for r in self.rows if r["error"] is None}

    def append(self, row: dict) -> None:
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
        self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._file.flush()
        self.rows.append(row)

    @classmethod
    def discard(cls, reports: str | Path, run_id: str) -> None:
        """Remove a run's checkpoint, if any (its reports are written)."""
        cls.path_for(reports, run_id).unlink(missing_ok=True)

    def close(self) -> None:
        """Once the run is answered; the file stays until its reports are written."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def remove(self) -> None:
        """Once the run's reports are written, or when it answered nothing."""
        self.close()
        self.path.unlink(missing_ok=True)
