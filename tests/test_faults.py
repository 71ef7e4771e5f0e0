"""Tiny QA runs against a fault-injecting OpenAI-compatible server: whatever the provider does,
every item ends answered or recorded with its error, and nothing is lost.

What counts as what (models/llm.py):
- Transient, retried with backoff (Retry-After honoured, capped at RETRY_AFTER_MAX): 429 with
  or without Retry-After, 500, 502, 503, a request that hangs or trickles past the timeout
  (the timeout bounds the whole call, not each read), a connection reset or closed without a
  response, a truncated body, a malformed (non-JSON) 200 body.
- Not retried, recorded as the item's error: other 4xx (a 400 is the request's fault).
- Answers, not faults: empty content is an answer (an empty prediction, scored wrong, kept
  as "" in the items table, unlike an error's null prediction), as is a huge one (5 MB, kept to
  its first 4096 characters with its length and hash) and
  one trickled within the timeout. A mature client treats an empty completion as the model's
  answer: retrying it would ask a deterministic model the same question for the same result.
"""
import dataclasses
import time

import pyarrow.dataset as ds
import pytest

from fakeserver import Fault, ScriptedServer, completion
from tinyqa.models import llm
from tinyqa.pack import Item, Pack, item_line
from tinyqa.suites import qa
from tinyqa.suites.templates import load_template

N = 12
ITEMS = tuple(Item.model_validate({
    "text": f"Question {i}: which code word?", "label": f"word{i}", "aliases": [],
    "context": f"The code word is word{i}.", "tags": {"category": "faults", "difficulty": "easy"},
    "lang": "en"}).with_ids() for i in range(N))
GOLD = {it.text: it.label for it in ITEMS}
INDEX = {it.text: i for i, it in enumerate(ITEMS)}
SHARE = {i for i in range(N) if i % 3 == 0}          # 4 of 12 items fail their first attempt

HANG_TIMEOUT = 2.5   # seconds; the client's timeout where a fault must outlive it
# Every transient fault, each retried until the item is answered.
TRANSIENT = {
    "429": Fault(429),
    "429-retry-after": Fault(429, headers={"Retry-After": "1"}),
    "500": Fault(500),
    "502": Fault(502, body=b"<html><body>502 Bad Gateway</body></html>"),
    "503": Fault(503, headers={"Retry-After": "0"}),
    "hang": Fault(kind="hang", delay=60),
    "reset": Fault(kind="reset"),
    "close": Fault(kind="close"),
    "truncated": Fault(kind="truncated"),
    "malformed": Fault(kind="malformed"),
    "malformed-html": Fault(kind="malformed", body=b"<html><body>upstream error</body></html>"),
    "trickle-past-timeout": Fault(kind="trickle", text="late", chunk=4, interval=1.0),
}
SLOW = {"hang", "trickle-past-timeout"}


def lasts(f: Fault) -> float:
    """Seconds a slow fault keeps its request open when the client waits it out: no bound in
    these tests depends on how fast the machine is, only on whether the client waited."""
    return f.delay if f.kind == "hang" else len(completion(f.text)) / f.chunk * f.interval


@pytest.fixture(autouse=True)
def quick(monkeypatch, tmp_path):
    """Retries back off 10 ms instead of 0.5 s; caches inside the test."""
    monkeypatch.setitem(llm.complete.__kwdefaults__, "backoff", 0.01)
    monkeypatch.setenv("TINYQA_CACHE_DIR", str(tmp_path / "cache"))


def pack(tmp_path=None) -> Pack:
    """The 12-item pack; written as a pack folder when `tmp_path` is given."""
    if tmp_path is None:
        return Pack(id="faults", path=".", items=ITEMS)
    folder = tmp_path / "faults"
    folder.mkdir()
    (folder / "data.jsonl").write_text("".join(item_line(i) + "\n" for i in ITEMS), encoding="utf-8")
    return Pack(id="faults", path=folder, items=ITEMS)


def run(answer, timeout: float = 10.0) -> tuple[list[dict], ScriptedServer]:
    with ScriptedServer(answer) as srv:
        t = dataclasses.replace(llm.target("openai/x", srv.url), timeout=timeout)
        rows = qa.ask("faults", [pack()], t, load_template(), use_cache=False)
    return rows, srv


def tally(rows: list[dict]) -> tuple[int, int, int]:
    """(answered, retried, errored): rows with no error, with more than one attempt, with an error."""
    return (sum(r["error"] is None for r in rows), sum(r["attempts"] > 1 for r in rows),
            sum(r["error"] is not None for r in rows))


def assert_nothing_lost(rows: list[dict]) -> None:
    assert len(rows) == N and [r["item_id"] for r in rows] == [i.id for i in ITEMS]


def first_attempt_fails(fault: Fault, share=SHARE):
    def answer(q, n):
        return fault if n == 1 and INDEX[q] in share else GOLD[q]
    return answer


@pytest.mark.parametrize("kind", list(TRANSIENT))
def test_a_transient_fault_on_first_attempts_is_retried_until_answered(kind):
    started = time.monotonic()
    rows, srv = run(first_attempt_fails(TRANSIENT[kind]), HANG_TIMEOUT if kind in SLOW else 10.0)
    elapsed = time.monotonic() - started
    assert_nothing_lost(rows)
    assert tally(rows) == (12, 4, 0)
    assert [r["attempts"] for r in rows] == [2 if i in SHARE else 1 for i in range(N)]
    assert all(r["em"] is True and r["prediction"] == r["gold"] for r in rows)
    assert [srv.asked[i.text] for i in ITEMS] == [2 if i in SHARE else 1 for i in range(N)]
    assert srv.faults[TRANSIENT[kind].kind] == 4
    if kind == "429-retry-after":      # the server's Retry-After: 1 is honoured
        for i in SHARE:
            t = [r["t"] for r in srv.requests if r["body"]["messages"][-1]["content"] == ITEMS[i].text]
            assert t[1] - t[0] >= 1.0
    if kind in SLOW:                   # the timeout ended the attempt, not the server
        assert HANG_TIMEOUT <= elapsed < lasts(TRANSIENT[kind])


def test_every_fault_at_once_each_item_its_own():
    kinds = list(TRANSIENT)
    assert len(kinds) == N

    def answer(q, n):
        return TRANSIENT[kinds[INDEX[q]]] if n == 1 else GOLD[q]

    rows, srv = run(answer, HANG_TIMEOUT)
    assert_nothing_lost(rows)
    assert tally(rows) == (12, 12, 0)
    assert all(r["attempts"] == 2 and r["em"] for r in rows)
    assert sum(srv.faults.values()) == 12 and sum(srv.asked.values()) == 24


def test_empty_and_slowly_trickled_content_are_answers():
    """Empty content is the model's answer: recorded as "" (not null), scored wrong, not retried."""
    faults = {0: Fault(kind="empty"), 1: Fault(kind="empty", text=None),        # "" and null content
              2: Fault(kind="trickle", text="word2", chunk=16, interval=0.01)}  # within the timeout

    rows, srv = run(lambda q, n: faults.get(INDEX[q], GOLD[q]))
    assert_nothing_lost(rows)
    assert tally(rows) == (12, 0, 0)
    assert sum(srv.asked.values()) == 12
    for r in rows[:2]:
        assert r["prediction"] == "" and r["em"] is False and r["contains"] is False
        assert r["lev_ratio"] == 0.0 and r["error"] is None and r["attempts"] == 1
    assert rows[2]["prediction"] == "word2" and rows[2]["em"] is True
    assert all(r["em"] for r in rows[2:])
    m = {(x["slice"], x["metric"]): x for x in qa.metrics("faults", rows)}
    assert (m[("all", "em")]["value"], m[("all", "em")]["n"]) == (pytest.approx(10 / 12), 12)
    assert m[("all", "errors")]["value"] == 0.0


def test_a_huge_answer_is_received_capped_and_scored():
    """5 MB of content: an answer (wrong), not a crash. What is kept (and scored) is its first
    4096 characters, with its whole length and hash (tinyqa/text.py, docs/security.md)."""
    rows, srv = run(lambda q, n: Fault(kind="huge") if INDEX[q] == 0 else GOLD[q])
    assert_nothing_lost(rows)
    assert tally(rows) == (12, 0, 0)
    assert len(rows[0]["prediction"]) == 4096 and rows[0]["prediction_chars"] == 5 * 1024 * 1024
    assert len(rows[0]["prediction_sha256"]) == 64 and rows[0]["em"] is False
    assert rows[1]["prediction_chars"] == len(GOLD[ITEMS[1].text])
    assert rows[0]["contains"] is False and all(r["em"] for r in rows[1:])


def test_items_that_always_fail_carry_their_errors_and_nothing_is_lost():
    always = {0: Fault(500), 1: Fault(503), 2: Fault(kind="reset"), 3: Fault(kind="malformed"),
              4: Fault(429), 5: Fault(kind="truncated"),
              6: Fault(400, body=b'{"error": {"message": "bad request"}}')}   # not retried
    rows, srv = run(lambda q, n: always.get(INDEX[q], GOLD[q]))
    assert_nothing_lost(rows)
    assert tally(rows) == (5, 6, 7)
    assert [r["attempts"] for r in rows[:7]] == [4, 4, 4, 4, 4, 4, 1]
    assert [srv.asked[i.text] for i in ITEMS] == [4, 4, 4, 4, 4, 4, 1, 1, 1, 1, 1, 1]
    expected = ["InternalServerError", "ServiceUnavailableError", "InternalServerError",
                "InternalServerError", "RateLimitError", "InternalServerError", "BadRequestError"]
    for r, name in zip(rows[:7], expected):
        assert r["error"].startswith(name), r["error"]
        assert "\n" not in r["error"] and len(r["error"]) < 400
        assert r["prediction"] is None and r["em"] is None and r["contains"] is None
        assert r["lev_ratio"] is None and r["cached"] is False
    assert all(r["error"] is None and r["em"] for r in rows[7:])
    m = {(x["slice"], x["metric"]): x for x in qa.metrics("faults", rows)}
    # Errors are never scored as wrong answers: EM is over the 5 answered items.
    assert (m[("all", "em")]["value"], m[("all", "em")]["n"]) == (1.0, 5)
    assert (m[("all", "errors")]["value"], m[("all", "errors")]["n"]) == (7.0, 12)


def test_a_server_that_always_hangs_ends_in_timeouts_not_a_stuck_run():
    started = time.monotonic()
    hang = Fault(kind="hang", delay=60)
    rows, srv = run(lambda q, n: hang if INDEX[q] < 2 else GOLD[q], timeout=1.0)
    assert time.monotonic() - started < lasts(hang)       # never waited for a hang to end
    assert_nothing_lost(rows)
    assert tally(rows) == (10, 2, 2)
    assert all(r["error"].startswith("TimeoutError") and r["attempts"] == 4 for r in rows[:2])


def test_retry_after_is_capped(monkeypatch):
    """A Retry-After of an hour does not stall the run: the wait is capped (RETRY_AFTER_MAX)."""
    default = llm.RETRY_AFTER_MAX
    monkeypatch.setattr(llm, "RETRY_AFTER_MAX", 0.2)
    started = time.monotonic()
    rows, srv = run(first_attempt_fails(Fault(429, headers={"Retry-After": "3600"})))
    assert time.monotonic() - started < default           # the cap, not the hour nor the default cap
    assert tally(rows) == (12, 4, 0)


@pytest.mark.slow
def test_cli_exits_3_only_when_errors_remain(prefect_harness, tmp_path):
    from typer.testing import CliRunner

    from tinyqa.cli import app

    folder = pack(tmp_path).path

    def cli(answer, reports):
        with ScriptedServer(answer) as srv:
            res = CliRunner().invoke(app, ["run", "--model", "openai/x", "--api-base", srv.url,
                                           "--packs", str(folder), "--no-cache", "--reports", str(reports)])
        # No exception escaped the command (CliRunner keeps one that did in res.exception).
        assert res.exception is None or isinstance(res.exception, SystemExit), res.output
        items = ds.dataset(reports / "items", partitioning="hive").to_table().to_pylist()
        runs = ds.dataset(reports / "runs", partitioning="hive").to_table().to_pylist()
        return res, sorted(items, key=lambda r: INDEX[r["question"]]), runs

    # Transient faults and empty answers: all answered, exit 0.
    mixed = [Fault(500), Fault(kind="reset"), Fault(kind="malformed"), Fault(429)]

    def transient(q, n):
        i = INDEX[q]
        if i == 1:
            return Fault(kind="empty")
        return mixed[i // 3] if n == 1 and i in SHARE else GOLD[q]

    res, items, runs = cli(transient, tmp_path / "ok")
    assert res.exit_code == 0, res.output
    assert len(items) == N and tally(items) == (12, 4, 0)
    assert items[1]["prediction"] == "" and items[1]["em"] is False
    assert runs[0]["status"] == "complete"

    # Two items fail beyond the retry budget: exit 3, and both are in the report with their error.
    res, items, runs = cli(lambda q, n: Fault(503) if INDEX[q] in (4, 5) else GOLD[q], tmp_path / "bad")
    assert res.exit_code == 3, res.output
    assert "2 item(s) failed beyond the retry budget" in res.stderr
    assert len(items) == N and tally(items) == (10, 2, 2)
    assert [r["item_id"] for r in items if r["error"]] == [ITEMS[4].id, ITEMS[5].id]
    assert runs[0]["status"] == "errors"
