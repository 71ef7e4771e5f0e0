"""tinyqa inside pytest (the `pytest11` entry point `tinyqa`; `-p no:tinyqa` turns it off).

Options --tinyqa-model, --tinyqa-api-base, --tinyqa-baseline, --tinyqa-reports, --tinyqa-packs,
--tinyqa-tokenizer, --tinyqa-drift-baseline (also under [pytest] in tinyqa.toml, without the
prefix: `model`, `api_base`, ...) and --tinyqa-no-cache;
the marker `@pytest.mark.tinyqa(packs=[...], langs=[...])`; the fixtures `tinyqa_run` (the
session's tiny QA run), `tinyqa_gate` (the session's gate) and `tinyqa_pack` (one test per
pack, or pack and language, of the marker or a parametrisation of its own). The session runs
one flow for all of them (tinyqa/pytest_session.py); tests assert on views of its result
(tinyqa/pytest_views.py), and a failure says what the test read.

This module is imported by every pytest run where tinyqa is installed, so it imports pytest
and the standard library only: LiteLLM, Prefect and the rest are imported when a tinyqa test
is set up, and nothing here runs for a session without one.
"""
from __future__ import annotations

import sys

import pytest

_LOG = pytest.StashKey[object]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tinyqa", "tinyqa: a model's checks as tests (defaults: [pytest] in tinyqa.toml)")
    group.addoption("--tinyqa-model", help="LiteLLM model string, or `local` for the embedded model.")
    group.addoption("--tinyqa-api-base", help="Base URL of the model's server (an OpenAI-compatible one, or the provider's).")
    group.addoption("--tinyqa-baseline", help="Gate baseline file (default: the latest comparable passing run in the reports).")
    group.addoption("--tinyqa-reports", help="Report store: a folder or a filesystem URL (default ./reports).")
    group.addoption("--tinyqa-packs", help="Packs of the tinyqa tests without a tinyqa marker, comma-separated (default core_en).")
    group.addoption("--tinyqa-tokenizer", help="Tokenizer of the gate's drift check (default: the model's own, if known offline).")
    group.addoption("--tinyqa-drift-baseline", help="Drift baseline (default: packs/baselines/drift-<tokenizer>.json).")
    group.addoption("--tinyqa-no-cache", action="store_true", default=False,
                    help="Ask the model even when a cached answer exists.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tinyqa(packs=[...], langs=[...]): the packs (or the languages of them) a "
                                       "tinyqa test reads; with the tinyqa_pack fixture, one test each")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test reading `tinyqa_pack` becomes one test per pack (or pack and language) of its
    marker, unless it parametrises `tinyqa_pack` itself."""
    if "tinyqa_pack" not in metafunc.fixturenames or _parametrised(metafunc.definition, "tinyqa_pack"):
        return
    from tinyqa import pytest_session

    default = None
    if metafunc.definition.get_closest_marker(pytest_session.MARKER) is None:
        default = pytest_session.settings(metafunc.config).packs
    targets = pytest_session.marked_targets(metafunc.definition, default)
    metafunc.parametrize("tinyqa_pack", targets, indirect=True, ids=[pytest_session.target_id(t) for t in targets])


def _parametrised(definition, name: str) -> bool:
    for marker in definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        if name in ([n.strip() for n in names.split(",")] if isinstance(names, str) else names):
            return True
    return False


@pytest.fixture(scope="session")
def tinyqa_outcome(request: pytest.FixtureRequest):
    """The session's one tiny QA run or gate, over every selected tinyqa test's packs."""
    from tinyqa import pytest_session

    return pytest_session.run(request.session)


def _log(request: pytest.FixtureRequest, outcome):
    from tinyqa.pytest_views import Log

    log = request.node.stash.get(_LOG, None)
    if log is None:
        log = request.node.stash[_LOG] = Log(outcome)
    return log


@pytest.fixture
def tinyqa_run(request: pytest.FixtureRequest, tinyqa_outcome):
    """The session's tiny QA run: `.pack("core_fr").contains`, `.result` (a RunResult)."""
    from tinyqa.pytest_views import RunView

    return RunView(tinyqa_outcome, _log(request, tinyqa_outcome))


@pytest.fixture
def tinyqa_gate(request: pytest.FixtureRequest, tinyqa_outcome):
    """The session's gate: `.pack(id)`, `.regressions()`, `.drift.changed`, `.result` (a GateResult)."""
    from tinyqa.pytest_views import GateView

    return GateView(tinyqa_outcome, _log(request, tinyqa_outcome))


@pytest.fixture
def tinyqa_pack(request: pytest.FixtureRequest, tinyqa_outcome):
    """One pack (or one language of it) of the session's gate: `.contains`, `.regressions()`."""
    from tinyqa import pytest_session
    from tinyqa.pytest_views import PackView

    pack, lang = pytest_session.target(request.param)
    return PackView(tinyqa_outcome, tinyqa_outcome.pack_id(pack), lang, _log(request, tinyqa_outcome))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed tinyqa test's report ends with what it read: the metrics with their intervals,
    the baseline, the flipped items (in the terminal and in --junitxml's failure)."""
    report = yield
    log = item.stash.get(_LOG, None)
    if log and report.failed and call.when == "call":
        from tinyqa.pytest_views import section

        if hasattr(report.longrepr, "addsection"):
            report.longrepr.addsection("tinyqa", section(log))
        else:
            report.sections.append(("tinyqa", section(log)))
    return report


def pytest_assertrepr_compare(config: pytest.Config, op: str, left, right):
    views = sys.modules.get("tinyqa.pytest_views")   # not imported: no tinyqa value in the comparison
    return None if views is None else views.compare_lines(op, left, right)
