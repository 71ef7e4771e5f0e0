"""`tinyqa validate`: every check of a pack, each problem one line; never writes to the pack."""
from __future__ import annotations

from pathlib import Path

from tinyqa.errors import InputError
from tinyqa.pack import DATA_FILE, load_pack


def pack_dirs(paths: list[Path]) -> list[Path]:
    """Pack folders named directly, or every pack folder inside a folder of packs."""
    found = []
    for p in paths:
        if (p / DATA_FILE).is_file() or p.name == DATA_FILE:
            found.append(p.parent if p.name == DATA_FILE else p)
        elif p.is_dir() and any((c / DATA_FILE).is_file() for c in p.iterdir()):
            found += sorted(c for c in p.iterdir() if (c / DATA_FILE).is_file())
        else:
            raise InputError(f"{p}: not a pack folder or a folder of packs")
    return found


def validate_pack(path: Path) -> list[str]:
    """All problems of one pack: the pack model (ids and hashes recomputed); once that holds,
    the Great Expectations suite and the Croissant records."""
    from tinyqa.validators import croissant, expectations

    problems: list[str] = []
    pack = load_pack(path, problems=problems)
    if problems:
        return problems
    return expectations.check(pack, croissant.declared_langs(pack)) + croissant.check(pack)
