"""Questions about the runs in a report store: one run, the comparison of two runs, the
baseline a gate compares with. The rules live in suites/ (compare, gate); this reads the rows."""
from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds

from tinyqa.errors import InputError
from tinyqa.reports import store
from tinyqa.suites import compare as compare_rows
from tinyqa.suites import gate
from tinyqa.suites import items as item_rules


def find_run(reports: Path | str, run_id: str) -> dict:
    """The runs row of `run_id`; InputError when the store has no such run."""
    row = store.run_row(reports, run_id)
    if row is None:
        raise InputError(f"run {run_id!r}: not in {reports}/runs (see `tinyqa runs`)")
    return row


def compare(reports: Path | str, run_a: str, run_b: str, metric: str = "contains") -> compare_rows.Flips:
    """Item flips, per-slice deltas and the McNemar p-value between two stored runs."""
    compare_rows.check_metric(metric)
    items = {r: store.run_rows(reports, "items", r) for r in (run_a, run_b)}
    for r, rows in items.items():
        if not rows:
            raise InputError(f"run {r!r}: no items in {reports}")
    return compare_rows.compare(run_a, run_b, items[run_a], items[run_b],
                                store.run_rows(reports, "metrics", run_a), store.run_rows(reports, "metrics", run_b),
                                metric)


def baseline(reports: Path | str, run_id: str) -> dict:
    """A gate baseline document made from a stored run."""
    return gate.baseline_from_rows(find_run(reports, run_id), store.run_rows(reports, "items", run_id))


def gate_baseline(reports: Path | str, model: str, pack_ids: list[str], prompt_hash: str) -> tuple[dict | None, gate.Baseline]:
    """The baseline the gate compares with when given no file (gate.choose_baseline), and the
    sentence that says which run it is and why."""
    chosen, why = gate.choose_baseline(store.read(reports, "runs").to_pylist(), model, pack_ids, prompt_hash)
    if chosen is None:
        return None, why
    return gate.baseline_from_rows(chosen, store.run_rows(reports, "items", chosen["run_id"])), why


def flaky_items(reports: Path | str, current: list[dict], metric: str = "contains") -> set[tuple[str, str]]:
    """The flaky items (suites/items.flaky_items) of `current` (runs rows with their items
    under "items": this gate's runs, repeats included): those that flip among this gate's
    repeats, and those that flipped among the store's earlier runs with identical settings
    (model, prompt template hash, decoding, pack content). An item steady before and changed
    now is not flaky: that change is what the drop test judges (a regression quarantined as
    flaky would never fail the gate)."""
    like = current[0]["run"]
    pack_rows: dict[str, list] = {}
    for r in current[0]["items"]:
        pack_rows.setdefault(r["pack_id"], []).append(r.get("item_sha256"))
    hashes = {p: item_rules.pack_hash(h) for p, h in pack_rows.items()}
    runs = [c["run"] for c in current]
    rows = [r for c in current for r in c["items"]]
    now = item_rules.flaky_items(runs, rows, like, hashes, metric)
    try:
        store.require(reports)
    except InputError:
        return now
    where = (ds.field("suite") == item_rules.SUITE) & (ds.field("model") == like["model"])
    earlier = [r for r in store.read(reports, "runs", where).to_pylist()
               if all(r.get(k) == like.get(k) for k in item_rules.SETTINGS)]
    if not earlier:
        return now
    ids = [r["run_id"] for r in earlier]
    before = store.read(reports, "items", ds.field("run_id").isin(ids) & ds.field("pack_id").isin(list(hashes)),
                        run_ids=ids).to_pylist()
    return now | item_rules.flaky_items(earlier, before, like, hashes, metric)
