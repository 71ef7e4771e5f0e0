"""The tiny QA run against a scripted OpenAI-compatible server on loopback."""
import duckdb
import pytest
import pyarrow.dataset as ds

from conftest import GOLD
from fakeserver import Fault, ScriptedServer


def test_run_scores_and_writes_reports(prefect_harness, mini_pack, tmp_path):
    from tinyqa.flows.qa import qa_run

    answers = {q: f"The answer is {a}." for q, a in GOLD.items()}
    answers["Who wrote Hamlet?"] = "Shakespeare"
    with ScriptedServer(lambda q, n: answers[q]) as srv:
        result = qa_run(model="openai/scripted", api_base=srv.url, packs=[str(mini_pack)],
                        reports=str(tmp_path / "r"))
    assert result.errors == 0
    items = ds.dataset(tmp_path / "r" / "items", partitioning="hive").to_table().to_pylist()
    by_q = {r["question"]: r for r in items}
    assert by_q["Who wrote Hamlet?"]["em"] is True          # alias, exact
    assert by_q["What is the capital of France?"]["em"] is False
    assert by_q["What is the capital of France?"]["contains"] is True
    assert all(r["attempts"] == 1 and r["error"] is None for r in items)
    m = duckdb.sql(f"select slice, value, n from read_parquet('{tmp_path}/r/metrics/**/*.parquet', "
                   "hive_partitioning=true) where metric = 'contains' order by slice").fetchall()
    assert ("all", 1.0, 4) in m and ("lang=fr", 1.0, 1) in m
    run = ds.dataset(tmp_path / "r" / "runs", partitioning="hive").to_table().to_pylist()[0]
    assert run["model"] == "openai/scripted" and run["api_base"] == srv.url
    assert run["prompt_template"] == "qa-v1" and len(run["prompt_hash"]) == 64
    assert run["status"] == "complete"


def test_transient_faults_are_retried_and_persistent_ones_recorded(prefect_harness, mini_pack, tmp_path):
    from tinyqa.flows.qa import qa_run

    def answer(q, n):
        if q == "Who wrote Hamlet?":
            return Fault(500)                                  # always fails
        if n == 1:
            return Fault(429, headers={"Retry-After": "0"})    # fails once
        return GOLD[q]

    with ScriptedServer(answer) as srv:
        result = qa_run(model="openai/scripted", api_base=srv.url, packs=[str(mini_pack)],
                        reports=str(tmp_path / "r"))
    items = {r["question"]: r for r in ds.dataset(tmp_path / "r" / "items", partitioning="hive").to_table().to_pylist()}
    assert result.errors == 1 and len(items) == 4
    failed = items["Who wrote Hamlet?"]
    assert failed["error"] and failed["attempts"] == 4 and failed["em"] is None
    assert all(r["attempts"] == 2 and r["em"] for q, r in items.items() if q != "Who wrote Hamlet?")
    assert srv.asked["Who wrote Hamlet?"] == 4


def test_cache_serves_repeated_runs_and_no_cache_bypasses(mini_pack, tmp_path, monkeypatch):
    from tinyqa.models.llm import target
    from tinyqa.pack import load_pack
    from tinyqa.suites import qa
    from tinyqa.suites.templates import load_template

    monkeypatch.setenv("TINYQA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-tinyqa-test-SECRET-1234")
    pack, tmpl = load_pack(mini_pack), load_template()
    with ScriptedServer(lambda q, n: GOLD[q]) as srv:
        t = target("openai/scripted", srv.url)
        first = qa.ask("r1", [pack], t, tmpl)
        second = qa.ask("r2", [pack], t, tmpl)
        third = qa.ask("r3", [pack], t, tmpl, use_cache=False)
    assert [r["cached"] for r in first] == [False] * 4 and [r["cached"] for r in second] == [True] * 4
    assert [r["prediction"] for r in first] == [r["prediction"] for r in second]
    assert not any(r["cached"] for r in third)
    assert sum(srv.asked.values()) == 8
    for f in (tmp_path / "cache").rglob("*"):
        if f.is_file():
            assert "SECRET" not in f.read_text()


def test_rate_limit_spaces_requests_to_a_provider(mini_pack, tmp_path):
    import dataclasses

    from tinyqa.models.llm import target
    from tinyqa.pack import load_pack
    from tinyqa.suites import qa
    from tinyqa.suites.templates import load_template

    with ScriptedServer(lambda q, n: GOLD[q]) as srv:
        t = target("openai/scripted", srv.url)
        qa.ask("warm-up", [load_pack(mini_pack)], t, load_template(), use_cache=False)  # client set-up
        srv.requests.clear()
        t = dataclasses.replace(t, rpm=300)   # one request per 0.2 s
        rows = qa.ask("r", [load_pack(mini_pack)], t, load_template(), use_cache=False)
    starts = sorted(r["t"] for r in srv.requests)
    # Without the limit the 4 requests arrive within milliseconds; with it they span ~0.6 s.
    assert len(rows) == 4 and starts[-1] - starts[0] > 0.5, starts


def test_model_settings_come_from_tinyqa_toml(tmp_path):
    from tinyqa import config
    from tinyqa.errors import InputError

    (tmp_path / "tinyqa.toml").write_text('[models."openai/x"]\nconcurrency = 4\nrpm = 120\n')
    assert config.model_settings("openai/x", tmp_path) == {"concurrency": 4, "rpm": 120.0}
    assert config.model_settings("openai/y", tmp_path) == {}
    (tmp_path / "tinyqa.toml").write_text('[models."openai/x"]\nconcurrency = 0\n')
    with pytest.raises(InputError, match=r"tinyqa.toml: field models.openai/x.concurrency"):
        config.load(tmp_path)
    (tmp_path / "tinyqa.toml").write_text('[models\n')
    with pytest.raises(InputError, match="invalid TOML"):
        config.load(tmp_path)


def test_tinyqa_config_names_the_settings_file(tmp_path, monkeypatch):
    from tinyqa import config
    from tinyqa.errors import InputError

    (tmp_path / "ci.toml").write_text('[gate]\nmin_contains = 0.4\n')
    (tmp_path / "pyproject.toml").write_text('[tool.tinyqa.gate]\nmax_drop = 0.1\n')
    monkeypatch.setenv("TINYQA_CONFIG", str(tmp_path / "ci.toml"))
    assert config.load() == (config.Config(gate={"min_contains": 0.4}), tmp_path / "ci.toml")
    monkeypatch.setenv("TINYQA_CONFIG", str(tmp_path / "pyproject.toml"))
    assert config.load()[0].gate == {"max_drop": 0.1}
    monkeypatch.setenv("TINYQA_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(InputError, match="TINYQA_CONFIG: .*missing.toml is not a file"):
        config.load()
    monkeypatch.setenv("TINYQA_CONFIG", "")
    assert config.load(tmp_path)[0].gate == {"max_drop": 0.1}


def test_a_retried_task_finishes_its_first_attempt_without_asking_again(prefect_harness, mini_pack, tmp_path,
                                                                         monkeypatch):
    """The report store fails once (a network filesystem hiccup): Prefect retries the task, and
    the retry picks up the answers its first attempt checkpointed."""
    from prefect import flow

    from tinyqa.flows import qa
    from tinyqa.reports import store

    real_write, failures = store.write, []

    def flaky_write(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise OSError("store unavailable")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(store, "write", flaky_write)

    @flow
    def once():
        return qa.tiny_qa.with_options(retry_delay_seconds=0)("openai/scripted", [str(mini_pack)], srv.url,
                                                              reports=str(tmp_path / "r"))

    with ScriptedServer(lambda q, n: GOLD[q]) as srv:
        result = once()
    assert failures and result.errors == 0
    assert sorted(srv.asked.values()) == [1, 1, 1, 1]           # nothing asked twice
    runs = ds.dataset(tmp_path / "r" / "runs", partitioning="hive").to_table().to_pylist()
    assert [r["run_id"] for r in runs] == [result.run_id]
    assert not list((tmp_path / "r" / "_checkpoints").glob("*.jsonl"))


def test_bad_input_is_not_retried(prefect_harness, tmp_path, monkeypatch):
    from prefect import flow

    from tinyqa.errors import InputError
    from tinyqa.flows import qa, steps

    from tinyqa import pack

    attempts = []

    def counting(packs):
        attempts.append(packs)
        return pack.resolve_packs(packs)

    monkeypatch.setattr(steps, "resolve_packs", counting)

    @flow
    def once():
        return qa.tiny_qa.with_options(retry_delay_seconds=0)("openai/x", ["no_such_pack"], "http://127.0.0.1:9/v1",
                                                              reports=str(tmp_path / "r"))

    with pytest.raises(InputError):
        once()
    assert len(attempts) == 1                          # one attempt, not three
    assert not (tmp_path / "r" / "_checkpoints").exists()   # and nothing left behind


def test_model_calls_share_one_loop_and_keep_the_callers_context():
    """Runs on several threads (the nightly fan-out) share one event loop, and each call sees
    its caller's context variables (Prefect's settings and run context)."""
    import asyncio
    import contextvars
    import threading

    from tinyqa.models import llm

    var = contextvars.ContextVar("caller")

    async def probe():
        await asyncio.sleep(0.01)
        return var.get(None), id(asyncio.get_running_loop())

    results = []

    def caller(i):
        var.set(i)
        results.append(llm.on_loop(probe()))

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(v for v, _ in results) == [0, 1, 2]
    assert len({loop for _, loop in results}) == 1


def test_refusals_then_an_answer_still_ask_every_item(mini_pack, tmp_path, monkeypatch):
    """The first requests refused alike, then one answered (the refusals were the items', not
    the provider's): every item is asked and recorded, none held back."""
    from tinyqa.models.llm import target
    from tinyqa.pack import load_pack
    from tinyqa.suites import qa
    from tinyqa.suites.templates import load_template

    import threading

    monkeypatch.setattr(qa, "REFUSALS", 2)
    order, refusals = list(GOLD), threading.Semaphore(0)

    def answer(q, n):
        if order.index(q) < 2:
            refusals.release()
            return Fault(400)
        if order.index(q) == 2:      # answered once both refusals are out: the run is held back by then
            for _ in range(2):
                refusals.acquire(timeout=30)
        return GOLD[q]

    with ScriptedServer(answer) as srv:
        rows = qa.ask("r", [load_pack(mini_pack)], target("openai/scripted", srv.url), load_template(),
                      concurrency=3, use_cache=False)
    assert [r["error"] is not None for r in rows] == [True, True, False, False]
    assert sum(srv.asked.values()) == 4


def test_a_provider_refusing_every_request_stops_the_run(mini_pack, monkeypatch):
    from tinyqa.errors import InfraError
    from tinyqa.models.llm import target
    from tinyqa.pack import load_pack
    from tinyqa.suites import qa
    from tinyqa.suites.templates import load_template

    with ScriptedServer(lambda q, n: Fault(404, body=b'{"error": {"message": "The model does not exist"}}')) as srv:
        with pytest.raises(InfraError, match=r"refused every request \(3 sent, none answered, the other 1 not sent\)"):
            qa.ask("r", [load_pack(mini_pack)], target("openai/scripted", srv.url), load_template(),
                   concurrency=1, use_cache=False)
    assert sum(srv.asked.values()) == 3
