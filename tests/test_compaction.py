"""Compaction: a closed day's run files become one file per table; every reader sees the same
rows before, during and after, and a run is still found by its id."""
import uuid
from datetime import date, datetime, timedelta, timezone

import fsspec
import pytest
from typer.testing import CliRunner

from tinyqa.errors import InputError
from tinyqa.reports import compaction, store

TODAY = datetime.now(timezone.utc).date()
OLD, NEW = str(TODAY - timedelta(days=10)), str(TODAY)


def _run(root, run_id, day, n=3):
    at = datetime.fromisoformat(day).replace(hour=8, tzinfo=timezone.utc)
    store.write(root, "items", [{"run_id": run_id, "item_id": f"i{i}", "contains": i % 2 == 0} for i in range(n)],
                run_id, day)
    store.write(root, "metrics", [{"run_id": run_id, "metric": "contains", "value": 0.5, "n": n}], run_id, day)
    store.write(root, "runs", [{"run_id": run_id, "started_at": at, "model": "m", "status": "complete"}], run_id, day)


def _rows(root, table):
    return sorted(tuple(sorted(r.items())) for r in store.read(root, table).to_pylist())


@pytest.fixture(params=["local", "memory"])
def root(request, tmp_path):
    if request.param == "local":
        yield tmp_path / "reports"
    else:
        url = f"memory://tinyqa-compact-{uuid.uuid4().hex[:8]}/reports"
        yield url
        fsspec.filesystem("memory").rm(url.split("://", 1)[1], recursive=True)


def _names(root, table):
    return [p.rsplit("/", 2)[-2:] for p in store.files(root, table)[2]]


def test_a_closed_day_becomes_one_file_and_reads_the_same(root):
    for i in range(3):
        _run(root, f"old{i}", OLD)
    _run(root, "new0", NEW)
    before = {t: _rows(root, t) for t in ("runs", "items", "metrics")}
    done = compaction.compact(root, TODAY - timedelta(days=2))
    assert sorted((c.table, c.date, c.files, c.rows) for c in done) == [
        ("items", OLD, 3, 9), ("metrics", OLD, 3, 3), ("runs", OLD, 3, 3)]
    assert _names(root, "items") == [[f"date={OLD}", "compacted.parquet"], [f"date={NEW}", "new0.parquet"]]
    fs, base = store.filesystem(root)
    on_disk = [i.path for i in fs.get_file_info(store.pafs.FileSelector(base, recursive=True))
               if i.type == store.pafs.FileType.File]
    assert len(on_disk) == 6 and not any("/." in p for p in on_disk)      # run files deleted, nothing temporary
    assert {t: _rows(root, t) for t in before} == before
    assert [r["item_id"] for r in store.run_rows(root, "items", "old1")] == ["i0", "i1", "i2"]
    assert store.run_row(root, "new0")["model"] == "m"
    assert store.connect(root).sql("select count(*) from items").fetchall() == [(12,)]
    assert compaction.compact(root, TODAY - timedelta(days=2)) == []       # nothing left to do


def test_readers_never_see_a_run_twice_while_its_day_is_compacted(tmp_path):
    """Between writing the compacted file and deleting the run files, readers take the compacted
    file alone; a run file that came later (a day compacted too early) is merged by the next
    compaction, once."""
    root = tmp_path / "reports"
    for i in range(2):
        _run(root, f"r{i}", OLD)
    data = store.read(root, "items").drop_columns(["date"])
    store.write_table(root, "items", data, store.COMPACTED, OLD)             # the run files are still there
    assert store.read(root, "items").num_rows == 6
    assert len(store.run_rows(root, "items", "r0")) == 3
    compaction.compact(root, date.fromisoformat(OLD))
    _run(root, "late", OLD)
    assert sorted(store.read(root, "runs").column("run_id").to_pylist()) == ["r0", "r1"]   # not yet visible
    (again,) = [c for c in compaction.compact(root, date.fromisoformat(OLD)) if c.table == "runs"]
    assert (again.files, again.rows) == (1, 3)
    assert sorted(store.read(root, "runs").column("run_id").to_pylist()) == ["late", "r0", "r1"]
    with pytest.raises(ValueError, match="compacted"):
        store.write(root, "runs", [], store.COMPACTED, OLD)


def test_compact_command(tmp_path):
    from tinyqa.cli import app

    root = tmp_path / "reports"
    _run(root, "old0", OLD)
    _run(root, "new0", NEW)
    res = CliRunner().invoke(app, ["compact", "--reports", str(root)])
    assert res.exit_code == 0, res.output
    assert "items" in res.output and OLD in res.output and NEW not in res.output.split("compacted through")[1]
    assert _names(root, "runs") == [[f"date={OLD}", "compacted.parquet"], [f"date={NEW}", "new0.parquet"]]
    res = CliRunner().invoke(app, ["compact", "--reports", str(root)])
    assert res.exit_code == 0 and "nothing to compact" in res.output
    with pytest.raises(InputError, match="no report store"):
        compaction.compact(tmp_path / "nowhere", TODAY)
