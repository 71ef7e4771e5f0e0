"""Item analysis of a report store: the runs and items rows it needs, read (only the columns
used, only the chosen packs), and handed to suites/items.py, where the rules live."""
from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds

from tinyqa.reports import store
from tinyqa.suites import items as item_rules

COLUMNS = ["run_id", "suite", "pack_id", "item_id", "lang", "difficulty", "question", "gold", "error"]


def analyse(reports: Path | str, metric: str = "contains", packs: list[str] | None = None,
            last: int | None = None) -> item_rules.Analysis:
    """The item analysis (suites/items.analyse) of the tiny QA runs in the store at `reports`,
    on `packs` (default every pack in it), over each series' `last` runs (default all)."""
    item_rules.check_metric(metric)
    store.require(reports)
    where = ds.field("suite") == item_rules.SUITE
    runs = store.read(reports, "runs", where).to_pylist()
    if packs:
        where = where & ds.field("pack_id").isin(packs)
    rows = store.dataset(reports, "items").to_table(columns=[*COLUMNS, metric], filter=where).to_pylist()
    return item_rules.analyse(runs, rows, metric, last=last)
