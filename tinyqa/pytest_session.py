"""The pytest plugin's one run a session: its settings (the --tinyqa-* options over the
[pytest] table of tinyqa.toml), the packs its selected tinyqa tests read, and the run itself,
through the operations the `tinyqa` commands call (tinyqa/api.py): in process, or as flows on
a Prefect API the user configured; never a server of its own, never a change to the
environment of pytest's process.

A session runs one gate when a selected test reads `tinyqa_gate` or `tinyqa_pack` (the gate's
QA run serves `tinyqa_run` too), else one tiny QA run, over the union of the selected tests'
packs: each item is asked once however many tests read it. What the `tinyqa` commands exit
with 2 or 3 for (bad input, an endpoint down, items that failed beyond the retry budget) is
raised here as the fixture's failure, so that pytest reports the tests as errors, never as
failed assertions; a regression is a failed assertion in the test that reads it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

MARKER = "tinyqa"
FIXTURES = ("tinyqa_outcome", "tinyqa_run", "tinyqa_gate", "tinyqa_pack")
GATE_FIXTURES = ("tinyqa_gate", "tinyqa_pack")
DEFAULT_PACKS = ("core_en",)


@dataclass(frozen=True)
class Settings:
    model: str | None
    api_base: str | None
    baseline: str | None
    reports: str
    packs: tuple[str, ...]
    tokenizer: str | None
    drift_baseline: str | None
    use_cache: bool


_SETTINGS = pytest.StashKey[Settings]()


def settings(config: pytest.Config) -> Settings:
    """The --tinyqa-* options, else the [pytest] table of tinyqa.toml (or [tool.tinyqa.pytest]
    of pyproject.toml) in the folder pytest runs in, else the defaults; read once a session."""
    if _SETTINGS not in config.stash:
        config.stash[_SETTINGS] = _settings(config)
    return config.stash[_SETTINGS]


def _settings(config: pytest.Config) -> Settings:
    from tinyqa import config as project
    from tinyqa.settings import DEFAULT_REPORTS

    table = _input(lambda: project.load()[0].pytest)

    def pick(name: str):
        value = config.getoption(f"tinyqa_{name}")
        return value if value is not None else getattr(table, name)

    packs = config.getoption("tinyqa_packs")
    return Settings(model=pick("model"), api_base=pick("api_base"), baseline=pick("baseline"),
                    reports=pick("reports") or DEFAULT_REPORTS,
                    packs=tuple(packs.split(",") if packs else table.packs or DEFAULT_PACKS),
                    tokenizer=pick("tokenizer"), drift_baseline=pick("drift_baseline"), use_cache=not config.getoption("tinyqa_no_cache"))


def _input(fn):
    """`fn()`, with a tinyqa error as a one-line failure of whatever runs it (a collection
    error at collection, an error of every test that reads the result at set-up), naming the
    plugin's options where the message names the command's."""
    from tinyqa.errors import TinyQAError

    try:
        return fn()
    except TinyQAError as e:
        message = re.sub(r"^--(model|api-base|packs|baseline|tokenizer|drift-baseline)\b", r"--tinyqa-\1", str(e))
        pytest.fail("\n".join([f"tinyqa: error: {message}", *(f"  {d}" for d in e.details)]), pytrace=False)


# --- which packs ------------------------------------------------------------------------------

def target(param) -> tuple[str, str | None]:
    """A `tinyqa_pack` parameter: a pack (id or folder), or (pack, language)."""
    if isinstance(param, str):
        return param, None
    pack, lang = param
    return pack, lang


def target_id(param) -> str:
    pack, lang = target(param)
    name = Path(pack).name or pack
    return name if lang is None else f"{name}-{lang}"


def marked_targets(node, default: tuple[str, ...] | None) -> list[tuple[str, str | None]]:
    """What @pytest.mark.tinyqa(packs=[...], langs=[...]) names: each pack, or each language
    of each pack that has it (without packs, the core pack of each language); no marker:
    `default` (the session's packs)."""
    marker = node.get_closest_marker(MARKER)
    kwargs = dict(marker.kwargs) if marker else {}
    unknown = set(kwargs) - {"packs", "langs"}
    if unknown or (marker and marker.args):
        pytest.fail(f"tinyqa: error: @pytest.mark.tinyqa takes packs=[...] and langs=[...], not "
                    f"{marker.args or ''}{sorted(unknown) or ''}", pytrace=False)
    packs = _names(kwargs.get("packs"))
    langs = _names(kwargs.get("langs"))
    if not langs:
        return [(p, None) for p in (packs or default or DEFAULT_PACKS)]
    if not packs:
        return [(f"core_{lang}", lang) for lang in langs]
    from tinyqa.pack import resolve_packs

    has = {pack: set(p.langs) for pack, p in zip(packs, _input(lambda: resolve_packs(packs)), strict=True)}
    return [(pack, lang) for pack in packs for lang in langs if lang in has[pack]]


def _names(value) -> list[str]:
    if value is None:
        return []
    return value.split(",") if isinstance(value, str) else list(value)


def wanted(items: list[pytest.Item], default: tuple[str, ...]) -> tuple[list[str], bool]:
    """The packs the selected tinyqa tests read (in the order met) and whether one needs the gate."""
    packs: dict[str, None] = {}
    gate = False
    for item in items:
        names = getattr(item, "fixturenames", ())
        if not any(f in names for f in FIXTURES):
            continue
        gate |= any(f in names for f in GATE_FIXTURES)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "tinyqa_pack" in callspec.params:
            found = [target(callspec.params["tinyqa_pack"])]
        else:
            found = marked_targets(item, default)
        packs.update((pack, None) for pack, _ in found)
    return list(packs), gate


# --- the run ----------------------------------------------------------------------------------

def run(session: pytest.Session):
    """The session's one gate or tiny QA run (tinyqa/api.py), as an Outcome for the views: on
    the configured Prefect API if there is one, else in this process; no server started and
    the process's environment as it was (the offline defaults only for the run's length)."""
    from tinyqa import offline

    with offline.scoped():
        return _run(session)


def _run(session: pytest.Session):
    from tinyqa import api, runinfo
    from tinyqa.pytest_views import Outcome

    s = settings(session.config)
    packs, gate = wanted(session.items, s.packs)
    if s.model is None:
        pytest.fail("tinyqa: error: no model: pass --tinyqa-model (and --tinyqa-api-base for a server of your own), "
                    "or set model under [pytest] in tinyqa.toml", pytrace=False)

    verbose = session.config.get_verbosity() >= 2
    if gate:
        result = _input(lambda: api.gate(model=s.model, packs=packs, baseline=s.baseline, api_base=s.api_base,
                                         tokenizer=s.tokenizer, drift_baseline=s.drift_baseline,
                                         use_cache=s.use_cache, reports=s.reports, verbose=verbose,
                                         own_process=False))
        outcome = Outcome(s.model, result.qa[0], result)
    else:
        result = _input(lambda: api.run(model=s.model, packs=packs, api_base=s.api_base, use_cache=s.use_cache,
                                        reports=s.reports, verbose=verbose, own_process=False))
        outcome = Outcome(s.model, result)
    errored = [r for r in outcome.run.items if r["error"] is not None]
    if errored:
        where = f" at {runinfo.public_url(s.api_base)}" if s.api_base else ""
        what = ("answered none of the" if len(errored) == len(outcome.run.items) else
                f"failed {len(errored)} of")
        pytest.fail(f"tinyqa: {s.model}{where} {what} {len(outcome.run.items)} item(s) within the retry budget: "
                    f"infrastructure, not a regression (run {outcome.run.run_id} in {s.reports}; "
                    f"first error: {errored[0]['error']})", pytrace=False)
    return outcome
