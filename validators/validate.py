"""`tinyqa validate`: every check of a pack, each problem one line; never writes to the pack."""
from __future__ import annotations

from pathlib import Path

from tinyqa.errors import InputError
from tinyqa.pack import DATA_FILE, load_pack


def pack_dirs(paths: list[Path]) -> list[Path]:
    """Pack folders named directly, or every pack folder inside a folder of packs; a file stands
    for the folder it is in (a pack's data.jsonl or croissant.json, a folder index's
    croissant.json: what a pre-commit hook is given). Each folder once, in order."""
    found: dict[Path, None] = {}
    for p in paths:
        folder = p.parent if p.is_file() or p.name == DATA_FILE else p
        if (folder / DATA_FILE).is_file():
            found[folder] = None
        elif folder.is_dir() and any((c / DATA_FILE).is_file() for c in folder.iterdir()):
            found.update(dict.fromkeys(sorted(c for c in folder.iterdir() if (c / DATA_FILE).is_file())))
        else:
            raise InputError(f"{p}: not a pack folder or a folder of packs")
    return list(found)


def validate_pack(path: Path) -> list[str]:
    """All problems of one pack: the pack model (ids and hashes recomputed); once that holds,
    the Great Expectations suite and the Croissant records."""
    from tinyqa.validators import croissant, expectations

    problems: list[str] = []
    pack = load_pack(path, problems=problems)
    if problems:
        return problems
    return expectations.check(pack, croissant.declared_langs(pack)) + croissant.check(pack)
