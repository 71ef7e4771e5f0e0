"""examples/test_model.py run by pytest (in its own process, the plugin loaded by its entry
point) against a loopback OpenAI-compatible server: it passes on a good model, fails on a
regressed one naming the pack and the flipped items (in pytest's report and in JUnit), and
errors, never fails, when the endpoint is down. And a project whose tinyqa tests are not
selected imports none of LiteLLM, Prefect or pyarrow."""
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fakeserver import ScriptedServer

pytestmark = pytest.mark.slow
pytest_plugins = ["pytester"]
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "test_model.py"


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory):
    """One PREFECT_HOME for the module's runs: its database is migrated once."""
    return tmp_path_factory.mktemp("prefect")


@pytest.fixture
def example(pytester, prefect_home, monkeypatch):
    """A project holding the example; pytest runs in it in a process of its own, with no
    Prefect API configured (the run is in process), as a team's CI would."""
    monkeypatch.setenv("PREFECT_HOME", str(prefect_home))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    pytester.makepyfile(test_model=EXAMPLE.read_text(encoding="utf-8"))

    def run(*args):
        return pytester.runpytest_subprocess("test_model.py", "-p", "no:cacheprovider", "-ra", "--junitxml=junit.xml", *args,
                                             timeout=300)
    return run


def gold():
    from tinyqa.pack import resolve_packs

    return {i.text: (p.id, i.id, i.label) for p in resolve_packs(["core_en", "core_fr"]) for i in p.items}


def junit(pytester):
    cases = {}
    for case in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase"):
        outcome = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        cases[case.get("name")] = (outcome.tag if outcome is not None else "passed",
                                   outcome.get("message") if outcome is not None else "",
                                   outcome.text or "" if outcome is not None else "")
    return cases


def test_passes_on_a_good_model_and_fails_on_a_regressed_one(example, pytester):
    items = gold()
    with ScriptedServer(lambda q, n: items[q][2]) as good:
        res = example("--tinyqa-model", "openai/peer", "--tinyqa-api-base", good.url, "--tinyqa-tokenizer", "local")
    res.assert_outcomes(passed=6)
    assert len(good.asked) == len(items) == 94 and set(good.asked.values()) == {1}   # once, for six tests
    assert {k: v[0] for k, v in junit(pytester).items()} == {
        "test_answers_contain_the_gold_answer[core_en]": "passed", "test_answers_contain_the_gold_answer[core_fr]": "passed",
        "test_no_regression[core_en]": "passed", "test_no_regression[core_fr]": "passed",
        "test_french_answers_are_exact_once_unwrapped": "passed", "test_tokenizer_did_not_drift": "passed"}

    # The same model, regressed on 24 French items; the baseline is the passing run above.
    wrong = sorted(q for q, (pack, _, _) in items.items() if pack == "core_fr")[:24]
    with ScriptedServer(lambda q, n: "Je ne sais pas" if q in wrong else items[q][2]) as bad:
        res = example("--tinyqa-model", "openai/peer", "--tinyqa-api-base", bad.url)
    res.assert_outcomes(passed=2, failed=3, skipped=1)
    out = res.stdout.str()
    flipped = [items[q][1] for q in wrong]
    assert "assert core_fr contains 0.429 (42 answered, 95% CI 0.291–0.578) >= 0.6" in out
    assert "core_fr: contains 43% (95% CI 29%–58%) on 42 answered item(s)" in out
    assert "baseline: run " in out and "the latest passing run of openai/peer on core_en,core_fr" in out
    assert "drop all: FAIL: contains dropped +57% on 42 paired items, 100% in the baseline → 43%" in out
    assert all(f"right→wrong {i} " in out for i in flipped)
    assert "SKIPPED [1]" in out and "no offline tokenizer known for openai/peer (pass --tinyqa-tokenizer)" in out
    cases = junit(pytester)
    assert sorted(k for k, v in cases.items() if v[0] == "failure") == [
        "test_answers_contain_the_gold_answer[core_fr]", "test_french_answers_are_exact_once_unwrapped",
        "test_no_regression[core_fr]"]
    outcome, message, body = cases["test_answers_contain_the_gold_answer[core_fr]"]
    assert "core_fr contains 0.429" in message and "95% CI" in message and "baseline: run" in message
    assert all(f"right→wrong {i} " in body for i in flipped)
    outcome, message, body = cases["test_no_regression[core_fr]"]
    assert message.startswith("assert not 1 failed check(s): core_fr drop all: contains dropped +57%")
    assert all(f"right→wrong {i} " in body for i in flipped)


def test_an_endpoint_that_is_down_is_an_error_not_a_failure(example, pytester):
    with socket.socket() as s:   # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The settings from tinyqa.toml this time; every item at once, so the retries end soon.
    pytester.makefile(".toml", tinyqa=f'[pytest]\nmodel = "openai/peer"\napi_base = "http://127.0.0.1:{port}/v1"\n'
                                      '[models."openai/peer"]\nconcurrency = 128\n')
    res = example()
    res.assert_outcomes(errors=6)
    assert ("tinyqa: openai/peer at http://127.0.0.1:%d/v1 answered none of the 94 item(s) within the retry "
            "budget: infrastructure, not a regression" % port) in res.stdout.str()
    assert "Traceback" not in res.stdout.str()
    assert {v[0] for v in junit(pytester).values()} == {"error"}


PLAIN = """
import sys

def test_plain(request):
    assert request.config.pluginmanager.has_plugin("tinyqa")
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("litellm", "prefect", "pyarrow")
                   or m.startswith(("tinyqa.flows", "tinyqa.models", "tinyqa.suites", "tinyqa.reports")))
    assert not heavy
"""


def test_a_session_without_a_selected_tinyqa_test_imports_none_of_it(example, pytester):
    pytester.makepyfile(test_plain=PLAIN)
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "plain", timeout=120)
    res.assert_outcomes(passed=1)   # the example's tests were collected, and deselected
    assert "6 deselected" in res.stdout.str()


def test_the_plugin_starts_no_server_and_leaves_the_environment_as_it_was(example, pytester, prefect_home,
                                                                         monkeypatch):
    """No Prefect API configured: the session's gate runs in pytest's process without Prefect,
    and the offline defaults it needs are gone again when the session ends."""
    import json

    for var in ("LITELLM_LOCAL_MODEL_COST_MAP", "TIKTOKEN_CACHE_DIR", "GX_ANALYTICS_ENABLED",
                "PREFECT_SERVER_ANALYTICS_ENABLED"):
        monkeypatch.delenv(var, raising=False)
    pytester.makeconftest(
        "import json, os, sys\n"
        "BEFORE = dict(os.environ)\n"
        "def pytest_sessionfinish(session):\n"
        "    after = dict(os.environ)\n"
        "    changed = sorted(k for k in BEFORE.keys() | after.keys() if BEFORE.get(k) != after.get(k)\n"
        "                     and not k.startswith('PYTEST_'))\n"
        "    with open('probe.json', 'w') as f:\n"
        "        json.dump({'changed': changed, 'prefect': 'prefect' in sys.modules,\n"
        "                   'litellm': 'litellm' in sys.modules}, f)\n")
    items = gold()
    with ScriptedServer(lambda q, n: items[q][2]) as good:
        res = example("--tinyqa-model", "openai/peer", "--tinyqa-api-base", good.url, "--tinyqa-tokenizer", "local")
    res.assert_outcomes(passed=6)
    probe = json.loads((pytester.path / "probe.json").read_text())
    assert probe == {"changed": [], "prefect": False, "litellm": True}
    assert not (prefect_home / "prefect.db").exists()
