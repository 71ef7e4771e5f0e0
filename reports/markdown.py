"""A gate's verdict as Markdown: the GitHub step summary, the pull-request (or merge-request)
comment, the Prefect artifact. A table with a row per pack (and per language of a pack of
several): the verdict, the score with its 95% interval, the change against the baseline with
its 95% interval and the McNemar p-value, the flips; then tokenizer drift; the flipped items
folded away under <details>.

Every text that is not tinyqa's own (questions, gold labels, answers, check names and messages
that quote them, notices) is untrusted: a model's answer must not close the folded section,
add a heading, a link or an image, or mention a user. `text` escapes it for Markdown and HTML
alike (GitHub, GitLab, Prefect's artifacts) and caps it; docs/security.md."""
from __future__ import annotations

import re
from collections import defaultdict

from tinyqa import text as untrusted
from tinyqa.comment import MARKER   # first line: finds the comment to update instead of adding another
from tinyqa.suites.result import DRIFT, DROP, FLOOR, Check, GateResult

MAX_DETAILS = 50


MAX_TEXT = 1000                    # characters of one quoted text (a flipped item's line, a message)
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
# Markdown's inline syntax: emphasis, code, links and images, tables, strikethrough, escapes.
_MARKDOWN = re.compile(r"([\\`*\[\]|~])")
# A GitHub or GitLab mention (@user, @org/team) or a GitLab reference to everyone (@all).
_MENTION = re.compile(r"@(?=[\w-])")


def text(value: object, limit: int = MAX_TEXT) -> str:
    """Untrusted text as inert Markdown on one line: HTML's `&<>"` as entities (no tag, no
    comment, no autolink), Markdown's inline syntax backslash-escaped, line breaks as spaces,
    control characters visible, `@` followed by a zero-width space (no mention), at most
    `limit` characters (then `…`)."""
    s = " ".join(str(value).replace("\r", "\n").split("\n"))
    s = untrusted.visible(s if len(s) <= limit else s[:limit] + "…")
    s = "".join(_HTML.get(ch, ch) for ch in s)
    return _MENTION.sub("@\u200b", _MARKDOWN.sub(r"\\\1", s))


def _cell(value: object) -> str:
    return text(value)


def _code(value: object) -> str:
    """A short value (a model name, a run id) as a code span that nothing in it can close."""
    s = untrusted.visible(" ".join(str(value).split()))[:200]
    fence = "`" * (max((len(r) for r in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _pct(x: float, signed: bool = False) -> str:
    return f"{x:+.0%}" if signed else f"{x:.0%}"


def _score(floor: Check | None) -> str:
    if floor is None or not floor.measures:
        return "–"
    m = floor.measures
    return f"{_pct(m['value'])} ({_pct(m['low'])}–{_pct(m['high'])})"


def _change(drop: Check | None) -> tuple[str, str, str]:
    """The change cell (bold when it failed), the p-value cell and the flips cell."""
    if drop is None or not drop.measures:
        return "no baseline", "–", "–"
    m = drop.measures
    change = f"{_pct(m['change'], True)} ({_pct(m['low'], True)} to {_pct(m['high'], True)})"
    return (change if drop.passed else f"**{change}**", f"{m['p']:.2g}",
            f"{m['lost']} right→wrong · {m['gained']} wrong→right")


def _verdict(checks: list[Check]) -> str:
    failed = [c for c in checks if not c.passed]
    if not failed and any(c.measures.get("verdict") == "inconclusive" for c in checks):
        return "⚠️ inconclusive"
    if not failed:
        return "✅ pass"
    why = [(f"{c.metric} below its {_pct(c.measures['floor'])} floor" if c.measures else c.message)
           if c.kind == FLOOR else "significant drop" for c in failed]
    return "❌ **FAIL**: " + "; ".join(_cell(w) for w in dict.fromkeys(why))


def _pack_rows(pack_id: str, checks: list[Check]) -> list[str]:
    drop = next((c for c in checks if c.kind == DROP and c.slice == "all"), None)
    metric = (drop.metric if drop else None) or "contains"
    floors = {c.metric: c for c in checks if c.kind == FLOOR}
    floor = floors.get(metric) or floors.get("contains")
    rows = [f"| {pack_id} | {_verdict([*floors.values(), *([drop] if drop else [])])} | {_score(floor)} | "
            f"{' | '.join(_change(drop))} |"]
    for c in checks:
        if c.kind == DROP and c.lang is not None:
            rows.append(f"| {pack_id} · {c.lang} | {_verdict([c])} | – | {' | '.join(_change(c))} |")
    others = [c for c in checks if c.kind not in (FLOOR, DROP)]
    rows += [f"| {pack_id} · {_cell(c.name)} | {_verdict([c])} | {_cell(c.message)} | | | |" for c in others]
    return rows


def _folded(pack_id: str, c: Check) -> list[str]:
    items = c.details[:MAX_DETAILS]
    more = len(c.details) - len(items)
    if c.measures.get("lost") is not None:
        what = f"{c.measures['lost']} right→wrong, {c.measures['gained']} wrong→right"
    else:
        what = f"{len(c.details)} item(s)"
    return ["", f"<details><summary>{text(pack_id)} · {text(c.name)}: {what}</summary>", "",
            *[f"- {_cell(d)}" for d in items], *([f"- … and {more} more"] if more else []), "", "</details>"]


def _power(packs: dict[str, list[Check]]) -> list[str]:
    """Per pack: the drop it could detect, what was not compared, flaky items, and what would
    settle an inconclusive drop."""
    from tinyqa.suites.gate import power_sentence

    lines = []
    for pack_id, checks in packs.items():
        drop = next((c for c in checks if c.kind == DROP and c.slice == "all" and c.measures), None)
        if drop is None:
            continue
        m = drop.measures
        line = f"- **{text(pack_id)}**, {power_sentence(m['paired'], m.get('min_detectable_drop'))} (80% power)"
        if m.get("not_compared"):
            line += "; not compared: " + ", ".join(f"{_code(n['id'])} ({text(n['reason'])})" for n in m["not_compared"][:MAX_DETAILS])
        if m.get("flaky"):
            line += (f"; flaky{' (quarantined)' if m.get('quarantined') else ''}: "
                     + ", ".join(_code(i) for i in m["flaky"][:MAX_DETAILS]))
        if m.get("settle"):
            line += "; " + _cell(m["settle"])
        lines.append(line)
    return ["", *lines] if lines else []


def gate(result: GateResult, link: str | None = None) -> str:
    """The verdict as a Markdown document; `link` (to the run's reports) goes at the end."""
    ok = result.passed and not result.errors
    head = "PASS" if ok else ("ERRORS" if result.errors else "FAIL")
    icon = "✅" if ok else "❌"
    if result.verdict == "inconclusive":
        head, icon = "PASS, INCONCLUSIVE", "⚠️"
    lines = [MARKER, f"## {icon} tinyqa gate: {head} · {_code(result.model)}", ""]
    if result.errors:
        lines += [f"**{result.errors} item(s) failed beyond the retry budget**: infrastructure, not a regression.", ""]
    by_pack: dict[str, list[Check]] = defaultdict(list)
    for c in result.checks:
        by_pack[c.group].append(c)
    drift = [c for c in result.checks if c.kind == DRIFT]
    packs = {p: cs for p, cs in by_pack.items() if any(c.kind != DRIFT for c in cs)}
    regressed = [p for p, cs in packs.items() if not all(c.passed for c in cs)]
    metric = next((c.metric for c in result.checks if c.kind == DROP and c.measures.get("change") is not None),
                  "contains")
    if packs:
        lines += [f"{len(regressed)} of {len(packs)} pack(s) failed" + (f": **{', '.join(text(p) for p in regressed)}**" if regressed else ""),
                  "", f"| pack | verdict | {metric} (95% CI) | change vs baseline (95% CI) | McNemar p | flipped |",
                  "|---|---|---|---|---|---|"]
        for pack_id, checks in packs.items():
            lines += _pack_rows(pack_id, checks)
    lines += _power(packs)
    for c in drift:
        lines += ["", f"**Tokenizer drift** ({_cell(c.name)}): {'✅' if c.passed else '❌'} {_cell(c.message)}"]
    if not drift:
        lines += ["", "**Tokenizer drift**: not checked"]
    for group, checks in by_pack.items():   # a language's flips are among its pack's
        for c in checks:
            if c.details and ((c.kind == DROP and c.slice == "all") or not (c.passed or c.kind == DROP)):
                lines += _folded(group, c)
    notes = result.notes
    cost = result.cost_usd
    if result.qa:
        notes = [*notes, f"cost: ${cost:.4f} as LiteLLM priced the answers" if cost is not None
                 else "cost: unknown (LiteLLM has no price for this model)"]
    if notes:
        lines += ["", *[f"- {_cell(n)}" for n in notes]]
    runs = ", ".join(_code(r.run_id) for r in result.qa)
    lines += ["", f"Runs: {runs}" + (f" · drift {_code(result.drift.run_id)}" if result.drift else "")]
    if link:
        lines.append(f"Reports and dashboard: {link}")
    return "\n".join(lines) + "\n"
