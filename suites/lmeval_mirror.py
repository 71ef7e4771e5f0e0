"""A dataset mirror: lm-eval's standard tasks (ARC, GSM8K, MMLU, ...) run from a local folder,
on machines that cannot reach the Hugging Face Hub, with lm-eval's own task definitions
unchanged (the same prompts, splits, filters and metrics).

A mirror folder is one of:

- **Parquet/JSONL per dataset**: `<root>/<dataset_path>/<dataset_name or "default">/<split>.parquet`
  (or `.jsonl`, or the Hub's shards `<split>-00000-of-00001.parquet`), e.g.
  `mirror/allenai/ai2_arc/ARC-Easy/test.parquet`, `mirror/openai/gsm8k/main/train.jsonl`. The
  Hub's own Parquet repositories use that layout, so a dataset repository downloaded as files
  into `<root>/<owner>/<name>` is a mirror of its configs. `tinyqa lmeval mirror` writes it.
- **a Hugging Face datasets cache** (`HF_DATASETS_CACHE` of a machine that ran the tasks once):
  folders `<owner>___<name>/<config>/...`. It is used as that cache.

In lm-eval's child process, `install(root)` makes `datasets.load_dataset(path, name)` — the
call every configured lm-eval task makes for its data — read `path`/`name` from a Parquet/JSONL
mirror when the mirror has it (anything else loads as before). `missing()` says, before a run,
which datasets the tasks need that the mirror lacks. `build()` is the mirror command's work.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tinyqa.errors import InputError
from tinyqa.suites.lmeval_tasks import TaskNeed

MANIFEST = "tinyqa-mirror.json"
DEFAULT_CONFIG = "default"
_BUILDERS = {"parquet": "parquet", "jsonl": "json", "json": "json"}
_SPLIT_FILE = re.compile(r"^(?P<split>\w[\w.]*?)(?:-\d{5}-of-\d{5})?\.(?P<ext>parquet|jsonl|json)$")
# load_dataset arguments that still apply to a mirrored dataset (the rest name Hub files).
_KEPT_KWARGS = ("split", "keep_in_memory")


@dataclass(frozen=True)
class Files:
    """A mirrored dataset config: the `datasets` builder that reads it and its files per split."""

    builder: str
    splits: dict[str, list[str]]


def is_hf_cache(root: Path) -> bool:
    """A Hugging Face datasets cache rather than a Parquet/JSONL mirror: its datasets are
    folders `<owner>___<name>` (and it has no tinyqa manifest)."""
    if (root / MANIFEST).is_file():
        return False
    return any(p.is_dir() and "___" in p.name for p in root.iterdir())


def _safe(part: str | None) -> bool:
    return bool(part) and not Path(part).is_absolute() and ".." not in Path(part).parts


def config_dir(root: Path, path: str, name: str | None) -> Path | None:
    """Where a Parquet/JSONL mirror keeps dataset `path`, config `name`; None for a path that
    cannot be in a mirror (absolute, `..`)."""
    if not _safe(path) or (name is not None and not _safe(name)):
        return None
    return root / path / (name or DEFAULT_CONFIG)


def files(root: Path, path: str, name: str | None) -> Files | None:
    """The mirrored files of `path`/`name`, or None when the mirror does not have them."""
    folder = config_dir(root, path, name)
    if folder is None or not folder.is_dir():
        return None
    splits: dict[str, list[str]] = defaultdict(list)
    builders = set()
    for f in sorted(folder.iterdir()):
        m = _SPLIT_FILE.match(f.name)
        if m and f.is_file():
            splits[m["split"]].append(str(f))
            builders.add(_BUILDERS[m["ext"]])
    if not splits:
        return None
    if len(builders) > 1:
        raise InputError(f"--datasets: {folder} mixes Parquet and JSON files; keep one format per dataset config")
    return Files(builders.pop(), dict(splits))


def _hf_cache_has(root: Path, path: str, name: str | None) -> bool:
    from datasets.naming import camelcase_to_snakecase

    parts = path.split("/")
    parts[-1] = camelcase_to_snakecase(parts[-1])
    folder = root / "___".join(parts) / (name or DEFAULT_CONFIG)
    return folder.is_dir() and any(folder.glob("*/*"))


def missing(root: Path, needs: list[TaskNeed]) -> list[TaskNeed]:
    """The tasks whose dataset the mirror at `root` lacks (tasks that name their own data
    files, or whose dataset lm-eval's config does not say, are left to load as they do)."""
    hf_cache = is_hf_cache(root)
    out = []
    for n in needs:
        if n.dataset_path is None or n.data_files:
            continue
        has = (_hf_cache_has(root, n.dataset_path, n.dataset_name) if hf_cache
               else files(root, n.dataset_path, n.dataset_name) is not None)
        if not has:
            out.append(n)
    return out


def missing_message(root: Path | str, lacking: list[TaskNeed], tasks: list[str], shown: int = 6) -> str:
    """One line: what the mirror lacks and how to get it."""
    by_dataset: dict[str, list[str]] = defaultdict(list)
    for n in lacking:
        by_dataset[n.dataset].append(n.task)
    named = [f"{d} ({', '.join(ts[:2])}{', …' if len(ts) > 2 else ''})" for d, ts in list(by_dataset.items())[:shown]]
    more = f" and {len(by_dataset) - shown} more" if len(by_dataset) > shown else ""
    return (f"--datasets {root}: not in the mirror: {'; '.join(named)}{more}; build it on a machine that "
            f"reaches the Hugging Face Hub with `tinyqa lmeval mirror --tasks {','.join(tasks)} --out DIR` "
            "and copy DIR here")


def install(root: Path, cache: Path) -> None:
    """In lm-eval's child process: `datasets.load_dataset(path, name)` reads the datasets the
    Parquet/JSONL mirror at `root` has (prepared into `cache`, never the Hugging Face cache);
    every other call goes through unchanged."""
    import datasets

    original = datasets.load_dataset

    def load_dataset(path, name=None, *args, **kwargs):
        found = files(root, path, name) if isinstance(path, str) and not args else None
        if found is None:
            return original(path, name, *args, **kwargs)
        kept = {k: v for k, v in kwargs.items() if k in _KEPT_KWARGS}
        return original(found.builder, data_files=found.splits, cache_dir=str(cache), **kept)

    load_dataset.__wrapped__ = original
    datasets.load_dataset = load_dataset


# --- building a mirror (the `tinyqa lmeval mirror` command) --------------------------------

def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_dataset(out: Path, path: str, name: str | None, dataset_dict) -> dict[str, dict]:
    """Write each split of `dataset_dict` (a datasets.DatasetDict) as
    `<out>/<path>/<name>/<split>.parquet`; returns rows and sha256 per split."""
    folder = config_dir(out, path, name)
    if folder is None:
        raise InputError(f"dataset path {path!r} cannot be mirrored (absolute or with ..)")
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, ds in dataset_dict.items():
        target = folder / f"{split}.parquet"
        tmp = target.with_suffix(".parquet.tmp")
        ds.to_parquet(str(tmp))
        tmp.replace(target)
        written[split] = {"rows": ds.num_rows, "sha256": _sha256(target)}
    return written


def build(tasks: list[str], out: Path, source: Path | None = None, verbose: bool = False) -> dict:
    """Mirror the datasets of lm-eval `tasks` into `out` as Parquet. Each dataset is read with
    `datasets.load_dataset` from the Hugging Face Hub, or, with `source`, offline from
    another mirror or a Hugging Face datasets cache. Returns this run's manifest: per dataset
    its tasks, splits, rows and sha256 (`out/tinyqa-mirror.json` keeps the datasets mirrored
    there before too, a dataset mirrored again replacing its entry). Runs in a
    child process of its own (spawned), like lm-eval's runs: the Hub settings it makes are
    its own."""
    from tinyqa import child

    return child.call(_build_here, list(tasks), Path(out), source and Path(source), verbose,
                      died="the mirror's process died (out of memory?)")


def _build_here(tasks: list[str], out: Path, source: Path | None, verbose: bool) -> dict:
    import os

    if source is not None:
        os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
        if is_hf_cache(source):
            os.environ["HF_DATASETS_CACHE"] = str(source)
    if not verbose:
        os.environ.update(TQDM_DISABLE="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1")
        import logging

        for logger in ("lm_eval", "lm-eval", "datasets", "huggingface_hub"):
            logging.getLogger(logger).setLevel(logging.CRITICAL)
    import datasets
    from lm_eval.tasks import TaskManager

    from tinyqa.suites.lmeval_tasks import needs

    manager = TaskManager()
    unknown = [t for t in tasks if t not in manager.task_index]
    if unknown:
        raise InputError(f"--tasks: unknown lm-eval task(s) {', '.join(unknown)} (`lm_eval ls tasks` lists them)")
    wanted: dict[tuple[str, str | None], list[str]] = defaultdict(list)
    skipped = []
    for n in needs(manager.task_index, tasks):
        if n.dataset_path is None or n.data_files:
            skipped.append(n.task)
        else:
            wanted[(n.dataset_path, n.dataset_name)].append(n.task)
    cache = out / ".cache"
    if source is None:
        def load(path, name):
            return datasets.load_dataset(path, name, cache_dir=str(cache))
    elif is_hf_cache(source):
        def load(path, name):
            return datasets.load_dataset(path, name, cache_dir=str(source))
    else:
        install(source, cache)
        load = datasets.load_dataset
    manifest = {"tasks": list(tasks), "datasets": [], "skipped": skipped,
                "source": str(source) if source else "huggingface-hub",
                "datasets_version": datasets.__version__}
    out.mkdir(parents=True, exist_ok=True)
    earlier = _read_manifest(out)
    try:
        for (path, name), used_by in wanted.items():
            try:
                loaded = load(path, name)
            except Exception as e:
                where = f"in {source}" if source else "on the Hugging Face Hub"
                raise InputError(f"dataset {path} {name or ''} (--tasks {','.join(used_by)}) could not be read "
                                 f"{where}: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}") from None
            manifest["datasets"].append({"path": path, "name": name, "tasks": used_by,
                                         "splits": write_dataset(out, path, name, loaded)})
    finally:
        import shutil

        shutil.rmtree(cache, ignore_errors=True)
    kept = [d for d in earlier.get("datasets", [])
            if (d["path"], d["name"]) not in {(n["path"], n["name"]) for n in manifest["datasets"]}]
    written = {**manifest, "tasks": list(dict.fromkeys([*earlier.get("tasks", []), *tasks])),
               "datasets": kept + manifest["datasets"]}
    (out / MANIFEST).write_text(json.dumps(written, indent=2) + "\n", encoding="utf-8")
    return manifest


def _read_manifest(out: Path) -> dict:
    """The manifest of a mirror built before into `out` (a second `mirror` run adds to it)."""
    try:
        return json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
