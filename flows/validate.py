"""The validate-packs flow: every check of `tinyqa validate` (the pack model with ids and hashes
recomputed, the Great Expectations suite, the Croissant records), one task a pack.

A pack's verdict is cached: its key is the pack's files, the checking code and the checkers'
versions, so an unchanged pack is not checked again while a change to any of them is.
"""
from __future__ import annotations

import hashlib
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

from prefect import flow, task

import tinyqa
import tinyqa.flows  # noqa: F401  (the offline defaults: this module may be a deployment's entry point)
from tinyqa import pack as pack_module
from tinyqa.errors import CheckFailed
from tinyqa.pack import locate_packs, shipped_dir
from tinyqa.suites import scoring
from tinyqa.validators import validate as checks

_CHECKERS = ("great-expectations", "mlcroissant", "pydantic", "py3langid")


def verdict_key(_context, parameters: dict) -> str:
    h = hashlib.sha256(f"{tinyqa.__version__} {[version(d) for d in _CHECKERS]}".encode())
    # The scorer's rules are checked too (normalised questions, aliases).
    code = sorted(Path(checks.__file__).parent.glob("*.py")) + [Path(pack_module.__file__), Path(scoring.__file__)]
    for f in sorted(p for p in Path(parameters["path"]).iterdir() if p.is_file()) + code:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return f"validate-pack-{h.hexdigest()}"


@task(name="validate-pack", task_run_name="validate-{path}", cache_key_fn=verdict_key,
      cache_expiration=timedelta(days=30), persist_result=True)
def check_pack(path: str) -> list[str]:
    """Every problem of the pack at `path`, one line each (none: valid)."""
    return checks.validate_pack(Path(path))


def folders(packs: list[str]) -> list[Path]:
    """Shipped pack ids and pack folders (or folders of packs) as pack folders: what a name
    means is pack.locate_packs's rule."""
    return checks.pack_dirs(locate_packs(packs))


@flow(name="validate-packs")
def validate_packs(packs: list[str] | None = None) -> dict[str, list[str]]:
    """The problems of each pack (default: every shipped pack), by pack folder name."""
    return {d.name: check_pack(str(d)) for d in folders(packs or [str(shipped_dir())])}


def require_valid(problems: dict[str, list[str]]) -> None:
    """Stop (exit 1) when a pack has a problem: a run on a broken pack measures nothing."""
    bad = [f"{pid}: {p}" for pid, ps in problems.items() for p in ps]
    if bad:
        raise CheckFailed(f"{len(bad)} pack problem(s), first: {bad[0]} (see `tinyqa validate`)")
