from datetime import datetime, timezone

from tinyqa.reports import store
from tinyqa.reports import history
from tinyqa.suites import qa


def _write_run(root, run_id, outcomes):
    rows = []
    for i, ok in enumerate(outcomes):
        rows.append({"run_id": run_id, "suite": "tinyqa", "pack_id": "p", "item_id": f"en-{i}", "lang": "en",
                     "category": "c", "difficulty": "easy", "question": f"q{i}", "gold": "g",
                     "prediction": "g" if ok else "x", "em": ok, "contains": ok, "em_extracted": ok,
                     "lev_ratio": 1.0 if ok else 0.0, "f1": 1.0 if ok else 0.0, "latency_s": 0.1,
                     "prompt_tokens": 1, "completion_tokens": 1, "cost_usd": None, "cached": False,
                     "attempts": 1, "error": None if ok is not None else "boom"})
    for r in rows:
        if r["error"]:
            r.update(em=None, contains=None, em_extracted=None, lev_ratio=None, f1=None, prediction=None)
    store.write(root, "items", rows, run_id, "2026-11-23")
    store.write(root, "metrics", qa.metrics(run_id, rows), run_id, "2026-11-23")
    store.write(root, "runs", [{"run_id": run_id, "started_at": datetime.now(timezone.utc)}], run_id, "2026-11-23")


def test_flips_deltas_and_mcnemar(tmp_path):
    _write_run(tmp_path, "a", [True] * 8 + [False] * 2)
    _write_run(tmp_path, "b", [False] * 7 + [True] * 1 + [True, None])
    c = history.compare(tmp_path, "a", "b")
    assert c.paired == 9                                  # the errored item is left out
    assert [f["item_id"] for f in c.regressed] == [f"en-{i}" for i in range(7)]
    assert [f["item_id"] for f in c.improved] == ["en-8"]
    assert 0.03 < c.p_value < 0.08
    overall = next(d for d in c.deltas if d["slice"] == "all")
    assert overall["a"] == 0.8 and overall["delta"] < -0.5


def test_identical_runs_do_not_differ(tmp_path):
    _write_run(tmp_path, "a", [True, False] * 5)
    _write_run(tmp_path, "b", [True, False] * 5)
    c = history.compare(tmp_path, "a", "b")
    assert not c.regressed and not c.improved and c.p_value == 1.0
