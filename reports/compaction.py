"""Compaction: each closed day's partition of a table, one Parquet file per run, rewritten as
one file, `<table>/date=D/compacted.parquet`, then its run files deleted.

Readers list and open every file of a table (the gate's baseline and the dashboard read the
whole runs table), so on an object store a table's cost grows with its files, not its bytes:
docs/scale.md has the arithmetic. Once a partition holds its compacted file, readers take that
file alone (reports/store.files), so a reader sees the run files or the compacted file, never
both and never neither; deleting the run files afterwards changes nothing it reads. A day is
closed when no run started on it is still running (runs write under their start date):
compact only days that ended longer ago than a run lasts. A compacted partition that got run
files later (a day compacted too early) is compacted again with them.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from tinyqa.reports import store


@dataclass
class Compacted:
    table: str
    date: str
    files: int    # the run files rewritten (and deleted)
    rows: int     # rows in the compacted file


def compact(root: Path | str, through: date) -> list[Compacted]:
    """Compact every partition of every table dated `through` or earlier that has run files."""
    done = []
    store.require(root)
    fs, base = store.filesystem(root)
    for table in store.TABLES:
        for day, paths in sorted(_partitions(fs, f"{base}/{table}").items()):
            runs = [p for p in paths if not p.endswith(f"/{store.COMPACTED}.parquet")]
            if runs and date.fromisoformat(day) <= through:
                done.append(_compact(root, fs, table, day, paths, runs))
    return done


def _partitions(fs: pafs.FileSystem, folder: str) -> dict[str, list[str]]:
    """The Parquet files of each `date=D` partition of a table's folder, by D."""
    parts = defaultdict(list)
    for info in fs.get_file_info(pafs.FileSelector(folder, recursive=True, allow_not_found=True)):
        rel = info.path[len(folder):].strip("/").split("/")
        if (info.type == pafs.FileType.File and len(rel) == 2 and rel[0].startswith("date=")
                and rel[1].endswith(".parquet") and not rel[1].startswith((".", "_"))):
            parts[rel[0].removeprefix("date=")].append(info.path)
    return parts


def _compact(root, fs, table: str, day: str, paths: list[str], runs: list[str]) -> Compacted:
    def read(files):   # the declared schema: a column an older file lacks reads as null
        return store.open_files(fs, files, store.SCHEMAS[table]).to_table()

    data = read(runs)
    old = [p for p in paths if p not in runs]
    if old:   # compacted again: a run already in the compacted file is kept once
        kept = read(old)
        data = pa.concat_tables([kept, data.filter(pc.invert(pc.is_in(data.column("run_id"),
                                                                      kept.column("run_id").unique())))])
    data = data.sort_by([("run_id", "ascending")])
    store.write_table(root, table, data, store.COMPACTED, day)
    for p in runs:
        fs.delete_file(p)
    return Compacted(table, day, len(runs), data.num_rows)
