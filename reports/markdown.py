"""A gate's verdict as Markdown: the GitHub step summary, a pull-request comment, the
Prefect artifact. Per pack: the verdict, each check with its numbers (the change with the
McNemar p-value, the floors with the score's interval), the flipped items folded away."""
from __future__ import annotations

from collections import defaultdict

from tinyqa.suites.result import GateResult

MARKER = "<!-- tinyqa-gate -->"   # finds the comment to update instead of adding another
MAX_DETAILS = 50


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def gate(result: GateResult, link: str | None = None) -> str:
    """The verdict as a Markdown document; `link` (to the run's reports) goes at the end."""
    ok = result.passed and not result.errors
    head = "PASS" if ok else ("ERRORS" if result.errors else "FAIL")
    icon = "✅" if ok else "❌"
    lines = [MARKER, f"## {icon} tinyqa gate: {head} · `{result.model}`", ""]
    if result.errors:
        lines += [f"**{result.errors} item(s) failed beyond the retry budget**: infrastructure, not a regression.", ""]
    by_pack: dict[str, list] = defaultdict(list)
    for c in result.checks:
        by_pack[c.pack_id].append(c)
    lines += ["| pack | verdict | checks |", "|---|---|---|"]
    for pack_id, checks in by_pack.items():
        failed = [c for c in checks if not c.passed]
        verdict = "**FAIL**" if failed else "pass"
        shown = failed or checks
        lines.append(f"| {pack_id} | {verdict} | {'<br>'.join(_cell(f'{c.name}: {c.message}') for c in shown)} |")
    for pack_id, checks in by_pack.items():
        for c in checks:
            if c.details and not c.passed:
                items = c.details[:MAX_DETAILS]
                more = len(c.details) - len(items)
                lines += ["", f"<details><summary>{pack_id} · {c.name}: {len(c.details)} item(s)</summary>", "",
                          *[f"- {_cell(d)}" for d in items], *([f"- … and {more} more"] if more else []),
                          "", "</details>"]
    notes = [*result.notices, *([f"baseline: {result.baseline}"] if result.baseline and not any(
        n.startswith("baseline") for n in result.notices) else [])]
    if notes:
        lines += ["", *[f"- {_cell(n)}" for n in notes]]
    runs = ", ".join(f"`{r.run_id}`" for r in result.qa)
    lines += ["", f"Runs: {runs}" + (f" · drift `{result.drift.run_id}`" if result.drift else "")]
    if link:
        lines.append(f"Reports and dashboard: {link}")
    return "\n".join(lines) + "\n"
