"""How the command line shows a result: the typed results of tinyqa/api.py as tables and
lines on the terminal, the gate's JUnit and Markdown files, the step outputs of GitHub
Actions. Everything here reads fields; nothing parses a message."""
from __future__ import annotations

import os
import sys

import typer
from rich.console import Console
from rich.table import Table

out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def summary(result) -> Table:
    """Per pack: n, EM, contains, p50 latency and errors, from a run's metrics rows."""
    rows = {(m["pack_id"], m["metric"]): m for m in result.metrics if m["slice"] == "all"}
    table = Table("pack", "n", "EM", "contains", "p50 latency", "errors",
                  title=f"run {result.run_id} · {result.run['model']}")
    for pack_id in result.run["pack_ids"]:
        def pct(metric):
            v = rows.get((pack_id, metric), {}).get("value")
            return "-" if v is None else f"{v:.0%}"
        p50 = rows.get((pack_id, "latency_p50_s"), {}).get("value")
        errs = rows[(pack_id, "errors")]
        table.add_row(pack_id, str(errs["n"]), pct("em"), pct("contains"),
                      "-" if p50 is None else f"{p50:.2f} s", f"{errs['value']:.0f}")
    return table


def notes(notices: list[str]) -> None:
    for n in notices:
        out.print(f"note: {n}", markup=False)


def finish_run(result, reports: str) -> None:
    """Print a tiny QA run and leave with its exit code (3 errors, 1 a failed floor)."""
    from tinyqa.suites.result import exit_code

    out.print(summary(result))
    notes(result.notices)
    out.print(f"reports written to {reports}/ (run {result.run_id})", markup=False)
    if result.errors:
        err.print(f"tinyqa: {result.errors} item(s) failed beyond the retry budget (see the items report)")
    for c in result.checks:
        if not c.passed:
            err.print(f"FAIL {c.group}: {c.message}", markup=False)
    raise typer.Exit(exit_code([result]))


def estimate(est) -> None:
    """The expected cost of a run (models/cost.Estimate), before its first request."""
    out.print(est.sentence, markup=False)


def gate(result, model: str, elapsed: float, junit=None, markdown=None, json_out=None) -> None:
    """The gate's checks table, the failed checks' items, the notes; JUnit, Markdown and JSON
    files when asked, GitHub's step summary and outputs when set; then its exit code."""
    from tinyqa.reports import markdown as md
    from tinyqa.suites.result import exit_code

    table = Table("pack", "check", "result", "detail", title=f"tinyqa gate · {model}")
    for c in result.checks:
        table.add_row(c.group, c.name, "pass" if c.passed else "[bold red]FAIL[/]", c.message)
    out.print(table)
    for c in result.checks:
        for d in ([] if c.passed else c.details[:20]):
            out.print(f"  {c.group}: {d}", markup=False)
    notes(result.notes)
    if junit:
        from tinyqa.reports import junit as junit_xml

        junit_xml.write(junit, result.checks, time_s=elapsed,
                        properties={"model": model, "baseline": (result.baseline and result.baseline.ref) or "none",
                                    "runs": ",".join(r.run_id for r in result.qa)})
    if json_out:
        from tinyqa.reports import verdict as verdict_json

        verdict_json.write(json_out, result)
    text = md.gate(result)
    if markdown:
        from tinyqa.files import write_atomic

        write_atomic(markdown, text)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(text)
    if os.environ.get("GITHUB_OUTPUT"):   # a step output of GitHub Actions (the tinyqa action's run-id)
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as f:
            f.write(f"run-id={','.join(r.run_id for r in result.qa)}\n")
    said = {"pass": "passed", "fail": "FAILED", "inconclusive": "passed, inconclusive", "error": "FAILED (errors)"}
    out.print(f"gate {said[result.verdict]} in {elapsed:.1f} s")
    if result.errors:
        err.print(f"tinyqa: {result.errors} item(s) failed beyond the retry budget: infrastructure, not a regression")
    raise typer.Exit(exit_code(result.qa, result.checks))


def _tokens(pieces: list[str]) -> str:
    return "".join(f"[{p}]" for p in pieces).replace("\n", "\\n")


DRIFT_COLUMNS = {"fertility": "fertility", "chars_per_token": "chars/tok", "split_word_rate": "split words",
                 "single_token_retention": "single-token", "byte_fallback_rate": "byte/partial",
                 "roundtrip_fidelity": "round-trip", "digits_per_token": "digits/tok", "digit_group_max": "max digits"}


def drift(res, baseline, reports: str, show: int) -> None:
    """A drift run: the tokenizer and timings, per-language metrics (with the change against
    the baseline), the identity parts and items that changed; then its exit code."""
    d, t = res.details, res.details.timings
    out.print(f"tokenizer {d.tokenizer['spec']} ({d.tokenizer['kind']}: {d.tokenizer['name']}) · "
              f"{d.items} items in {len(d.packs)} packs · load {t['load_s']:.2f} s · "
              f"fingerprint {t['fingerprint_s'] * 1000:.0f} ms · metrics {t['metrics_s'] * 1000:.0f} ms", markup=False)
    deltas = {(x["lang"], x["metric"]): x for x in d.metric_deltas}
    values = {(m["slice"].removeprefix("lang="), m["metric"]): m["value"] for m in res.metrics if m["slice"] != "all"}
    table = Table("lang", *DRIFT_COLUMNS.values(),
                  title="per-language metrics" + (" (Δ vs baseline, shared items)" if d.compared else ""))
    for lang in sorted({lang for lang, _ in values}):
        cells = []
        for metric in DRIFT_COLUMNS:
            value = values.get((lang, metric))
            cell = "-" if value is None else f"{value:.3f}"
            x = deltas.get((lang, metric))
            if x and x["delta"]:
                cell += f" ({x['delta']:+.3f}{'!' if x['breach'] else ''})"
            cells.append(cell)
        table.add_row(lang, *cells)
    out.print(table)
    if d.compared:
        for x in d.identity_changed:
            out.print(f"identity changed: {x['part']}: {x['old'] or '-'} → {x['new'] or '-'}", markup=False)
        for x in d.changed[:show]:
            for part in x["parts"]:
                same = " (same pieces, other ids)" if x["old"][part] == x["new"][part] else ""
                out.print(f"changed {x['pack_id']}/{x['item_id']} [{x['lang']}] {part}: "
                          f"{_tokens(x['old'][part])} → {_tokens(x['new'][part])}{same}", markup=False)
        if len(d.changed) > show:
            out.print(f"… and {len(d.changed) - show} more changed items (see {reports}/drift)", markup=False)
        out.print(f"{len(d.changed) + d.unchanged} items compared with {baseline}: {len(d.changed)} changed, "
                  f"{d.new} new (not in the baseline), {d.missing} missing", markup=False)
    out.print(f"reports written to {reports}/ (run {res.run_id})", markup=False)
    if d.baseline_written:
        out.print(f"baseline written to {d.baseline_written} ({d.items} items)", markup=False)
    for f in d.failures:
        err.print(f"FAIL {f}", markup=False)
    if d.compared and res.passed:
        out.print(f"no drift against {baseline}", markup=False)
    raise typer.Exit(0 if res.passed else 1)


def lmeval_headlines(result) -> str:
    """Each task's first score of an lm-eval run as `task score value ±stderr`."""
    from tinyqa.reports.dashboard_lmeval import PREFERRED, facet

    rows = {(m["pack_id"], m["slice"], m["metric"]): m for m in result.metrics}
    shown = []
    for task in result.run["pack_ids"]:
        for (t, slice_, metric), m in rows.items():
            if t == task and metric in PREFERRED[:2]:
                se = rows.get((t, slice_, f"{metric}_stderr"))
                shown.append(f"{facet(t, slice_)} {metric} {m['value']:.3f}" + (f" ±{se['value']:.3f}" if se else ""))
    return ", ".join(shown) or "no scores"


def lmeval(result, model: str, backend: str, reports: str) -> None:
    """An lm-eval run: its scores table, the cross-check with tinyqa's EM, the notes."""
    rows = {(m["pack_id"], m["slice"], m["metric"]): m for m in result.metrics}
    table = Table("task", "metric", "filter", "value", "stderr", "n",
                  title=f"lm-eval {result.details.lm_eval_version} · {model} · {backend}")
    for (task_id, slice_, metric), m in rows.items():
        if metric.endswith("_stderr") or metric in ("tinyqa_exact_match", "em_disagreements"):
            continue
        se = rows.get((task_id, slice_, f"{metric}_stderr"))
        table.add_row(task_id, metric, slice_.removeprefix("filter="), f"{m['value']:.4f}",
                      "-" if se is None else f"{se['value']:.4f}", "-" if m["n"] is None else str(m["n"]))
    out.print(table)
    for a in result.details.agreement:
        same = "agrees with" if not a["differ"] else f"differs on {len(a['differ'])} item(s) from"
        out.print(f"{a['task']} (filter {a['filter']}): lm-eval exact_match {a['k_lmeval']}/{a['n']} "
                  f"{same} tinyqa's EM {a['k_tinyqa']}/{a['n']} on the same answers", markup=False)
        for d in a["differ"][:20]:
            out.print(f"  {d['item_id']}: {d['prediction']!r} lm-eval {'right' if d['lmeval_em'] else 'wrong'}, "
                      f"tinyqa {'right' if d['tinyqa_em'] else 'wrong'}: {d['why']}", markup=False)
    notes(result.notices)
    out.print(f"reports written to {reports}/ (run {result.run_id}) · lm-eval "
              f"{result.details.timings['lm_eval_s']:.1f} s", markup=False)


def nightly(result, reports: str) -> None:
    out.print(f"nightly: {len(result.qa)} tiny QA run(s), {result.errors} item error(s); reports in {reports}/",
              markup=False)
    for d in result.drift:
        failures = d.details.failures
        out.print(f"drift {d.run['model']}: {'; '.join(failures) if failures else 'no change'}", markup=False)
    for r in result.lmeval:
        out.print(f"lm-eval {r.run['model']} ({r.run['prompt_template'].removeprefix('lm-eval/')}): "
                  f"{lmeval_headlines(r)} · run {r.run_id}", markup=False)
    if result.dashboard:
        out.print(f"dashboard: {result.dashboard}", markup=False)
    raise typer.Exit(result.exit_code)


def generated(result, allow_partial: bool, str_output: bool) -> None:
    """A generator run: its report lines, what is missing, the JSONL (--str-output), the folder."""
    from tinyqa.generators import generate as gen

    console = err if str_output else out
    for line in gen.report_lines(result):
        console.print(line, markup=False)
    if not result.complete:
        err.print(f"tinyqa: {gen.missing_line(result)}", markup=False)
        if not allow_partial or not any(result.kept.values()):
            err.print("tinyqa: nothing written (--allow-partial writes the valid items obtained, if any)")
            raise typer.Exit(1)
    if str_output and (result.complete or allow_partial):
        sys.stdout.write(result.jsonl)
    if result.written:
        console.print(f"{result.written}: {sum(result.kept.values())} items written", markup=False)
