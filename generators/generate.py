"""Minting a pack through LiteLLM: exactly the items asked for, each checked, or a report of
what could not be obtained.

`make_spec` checks what was asked; `generate` asks in rounds (one request per language still
short, sent concurrently by the `ask` coroutine it is given), checks every candidate in a fixed
order (languages, then the candidates of each reply) so that the same replies always give the
same pack, and stops when every language has its share or a budget is spent; `write_pack` writes
the pack folder atomically, validated before it is moved into place.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import ValidationError

import tinyqa
from tinyqa.errors import InfraError, InputError, TinyQAError
from tinyqa.generators import prompts
from tinyqa.models import llm
from tinyqa.models.cache import ResponseCache
from tinyqa.pack import BCP47, DATA_FILE, PACK_ID, Item, item_line, resolve_packs
from tinyqa.suites.result import Details
from tinyqa.suites.scoring import normalize
from tinyqa.text import control_char, visible
from tinyqa.validators.expectations import BOUNDS
from tinyqa.validators.inflection import missing_inflection
from tinyqa.validators.langid import other_language
from tinyqa.validators.scripts import in_script

DIFFICULTIES = ("easy", "medium", "hard")
CATEGORY = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
LABEL_MAX = 60          # "one short answer"; the pack validator allows up to 100 characters
QUESTION_MARKS = "?？؟;\u037e፧"  # what a question ends with: Latin, CJK fullwidth, Arabic, Greek, Ethiopic
AVOID_SHOWN = 30        # questions already kept that a request lists as not to be repeated
BATCH_SIZE, LOCAL_BATCH_SIZE = 8, 4


class GenerationFailed(TinyQAError):
    """A pack that would not pass validation: nothing is written (exit 1)."""

    exit_code = 1


@dataclass(frozen=True)
class Spec:
    """What to generate: `n` items shared evenly across `languages` (the first ones get one
    more when it does not divide), each language's share across `categories` likewise."""

    languages: tuple[str, ...]
    categories: tuple[str, ...]
    difficulty: str
    n: int
    model: str
    context: str | None = None
    seed: int = 0
    avoid: tuple[str, ...] = ()
    batch_size: int = BATCH_SIZE
    max_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    temperature: float = 0.7
    published: str | None = None

    def shares(self) -> dict[str, dict[str, int]]:
        """Items wanted per language and category; remainders rotate across categories."""
        out = {}
        n_cat = len(self.categories)
        for li, lang in enumerate(self.languages):
            share = _split(self.n, len(self.languages))[li]
            per = _split(share, n_cat)
            out[lang] = {c: per[(ci - li) % n_cat] for ci, c in enumerate(self.categories)}
        return out

    @property
    def call_budget(self) -> int:
        """`max_calls`, or 3 × the requests a run with no rejection needs, plus 2 a language."""
        if self.max_calls is not None:
            return self.max_calls
        return sum(3 * math.ceil(sum(s.values()) / self.batch_size) + 2 for s in self.shares().values())


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _csv(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return [v.strip() for v in items if v.strip()]


def make_spec(languages: str | list[str], categories: str | list[str], n: int, model: str, *,
              difficulty: str = "medium", api_base: str | None = None, context: str | None = None,
              seed: int = 0, avoid: str | list[str] | None = None, batch_size: int | None = None,
              max_calls: int | None = None, max_tokens: int | None = None,
              max_cost_usd: float | None = None, temperature: float = 0.7,
              published: str | None = None) -> Spec:
    """Check every input offline (InputError naming the option) and build the Spec. The model
    string is checked by `llm.target`; `local` needs the embedded model installed."""
    langs = _csv(languages)
    if not langs:
        raise InputError("--languages: no language given")
    for lang in langs:
        if not re.fullmatch(BCP47, lang):
            raise InputError(f"--languages: {lang!r} is not a language code (BCP-47, e.g. fr, pt-BR)")
    if len(set(langs)) != len(langs):
        raise InputError(f"--languages: a language is given twice ({', '.join(langs)})")
    cats = [c.lower() for c in _csv(categories)]
    if not cats:
        raise InputError("--categories: no category given")
    for c in cats:
        if not CATEGORY.fullmatch(c):
            raise InputError(f"--categories: {c!r} must match {CATEGORY.pattern}")
    if len(set(cats)) != len(cats):
        raise InputError(f"--categories: a category is given twice ({', '.join(cats)})")
    if difficulty not in DIFFICULTIES:
        raise InputError(f"--difficulty: {difficulty!r} is not one of {', '.join(DIFFICULTIES)}")
    if n < 1:
        raise InputError(f"--n: {n} items asked; ask for at least 1")
    if n < len(langs):
        raise InputError(f"--n: {n} items cannot cover {len(langs)} languages")
    if batch_size is not None and not 1 <= batch_size <= 50:
        raise InputError(f"--batch-size: {batch_size} is not between 1 and 50")
    for name, value in (("--max-calls", max_calls), ("--max-tokens", max_tokens), ("--max-cost", max_cost_usd)):
        if value is not None and value <= 0:
            raise InputError(f"{name}: {value} must be positive")
    if not 0.0 <= temperature <= 2.0:
        raise InputError(f"--temperature: {temperature} is not between 0 and 2")
    if published is not None:
        try:
            date.fromisoformat(published)
        except ValueError:
            raise InputError(f"--date: {published!r} is not a date (YYYY-MM-DD)") from None
    avoid_list = _csv(avoid)
    if avoid_list:
        try:
            resolve_packs(avoid_list)
        except InputError as e:
            raise InputError(f"--avoid: {str(e).removeprefix('--packs: ')}") from None
    if model == llm.LOCAL:
        from tinyqa.models import local

        local.gguf_path()
    else:
        llm.target(model, api_base)
    return Spec(tuple(langs), tuple(cats), difficulty, n, model, context or None, seed,
                tuple(avoid_list), batch_size or (LOCAL_BATCH_SIZE if model == llm.LOCAL else BATCH_SIZE),
                max_calls, max_tokens, max_cost_usd, temperature, published)


def check_out(out: Path | None, *, force: bool = False, str_output: bool = False) -> None:
    """The output folder: named for a valid pack id, and not an existing non-empty folder
    unless `force`. Only `--str-output` may go without one."""
    if out is None:
        if not str_output:
            raise InputError("--out: give the pack folder to write (or --str-output)")
        return
    if not PACK_ID.fullmatch(out.name):
        raise InputError(f"--out: pack id {out.name!r} (the folder's name) must match {PACK_ID.pattern}")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out: {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(f"--out: {out} exists and is not empty (--force replaces it)")


# --- asking ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    """One (language, batch) request: the messages and the parameters sent with them."""

    lang: str
    batch: int
    messages: list[dict]
    params: dict
    response_format: dict | None = None


Asker = Callable[[list[Request]], Awaitable[list[llm.Answer]]]
# Characters of a reply kept: a batch of items is a few kB; a longer reply is cut (and then
# unreadable JSON, rejected as such) rather than held whole.
REPLY_MAX = 256 * 1024


async def ask_one(t: llm.Target, request: Request, cache: ResponseCache | None) -> llm.Answer:
    """Send one request through `llm.complete` (its retries, cache and usage accounting)."""
    return await llm.complete(t, request.messages, cache=cache, timeout=t.timeout,
                              params=request.params, response_format=request.response_format, keep=REPLY_MAX)


def gathering(t: llm.Target, one: Callable[[Request], Awaitable[llm.Answer]]) -> Asker:
    """An Asker that sends a round's requests through `one` concurrently, at most
    `t.concurrency` in flight, and returns the answers in request order."""

    async def ask(requests: list[Request]) -> list[llm.Answer]:
        gate = asyncio.Semaphore(t.concurrency)

        async def gated(r: Request) -> llm.Answer:
            async with gate:
                return await one(r)

        return list(await asyncio.gather(*(gated(r) for r in requests)))

    return ask


def sampling_seed(seed: int, lang: str, batch: int) -> int:
    """The seed sent with one request: derived from the run's seed, the language and batch."""
    digest = hashlib.sha256(f"{seed}:{lang}:{batch}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


# --- checking candidates --------------------------------------------------------------------

def question_key(lang: str, text: str) -> str:
    """What makes two questions the same: the language and the normalised text."""
    return f"{lang}:{normalize(text, lang)}"


def candidate_item(obj: object, lang: str, difficulty: str, categories: tuple[str, ...],
                   provenance: dict) -> Item | str:
    """The candidate as an Item, or the first reason it is rejected: `schema` (not an object
    with string text, label and context and a list of string aliases), `category` (not one
    asked for), `multiline`, `control` (a control character: ESC, a C1 control, ...),
    `not_a_question` (the text does not end with a question mark),
    `length` (outside the pack validator's bounds, a label over LABEL_MAX characters or not
    shorter than its context), `label_not_in_context`, `script` (text, label or context not in
    the language's script), `language` (question and context read as another language that
    shares the script: validators/langid.py), `inflection` (a Russian question asking for an
    oblique case without the inflected answer among the aliases: validators/inflection.py).
    Whitespace around fields is stripped; aliases equal to the label or repeated are dropped."""
    if not isinstance(obj, dict):
        return "schema"
    text, label, context = (obj.get(k) for k in ("text", "label", "context"))
    aliases = obj.get("aliases") or []
    if not all(isinstance(v, str) and v.strip() for v in (text, label, context)):
        return "schema"
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        return "schema"
    category = obj.get("category")
    if category is None and isinstance(obj.get("tags"), dict):
        category = obj["tags"].get("category")
    if not isinstance(category, str) or category.strip().lower() not in categories:
        return "category"
    text, label, context = text.strip(), label.strip(), context.strip()
    if any("\n" in s or "\r" in s for s in (text, label, context)):
        return "multiline"
    if any(control_char(s) for s in (text, label, context, category, *aliases)):
        return "control"
    if text[-1] not in QUESTION_MARKS:
        return "not_a_question"
    bounds = {**BOUNDS, "label": (BOUNDS["label"][0], min(BOUNDS["label"][1], LABEL_MAX))}
    if (any(not lo <= len(v) <= hi for v, (lo, hi) in
            ((text, bounds["text"]), (label, bounds["label"]), (context, bounds["context"])))
            or len(context) <= len(label) or not normalize(text, lang)):
        return "length"
    if label not in context:
        return "label_not_in_context"
    if not all(in_script(s, lang) for s in (text, label, context)):
        return "script"
    if other_language(text, context, lang) is not None:
        return "language"
    kept_aliases: list[str] = []
    for a in (a.strip() for a in aliases):
        if a and a != label and a not in kept_aliases and len(a) <= BOUNDS["label"][1]:
            kept_aliases.append(a)
    if missing_inflection(text, label, kept_aliases, lang) is not None:
        return "inflection"
    try:
        return Item(text=text, label=label, aliases=kept_aliases, context=context, lang=lang,
                    tags={"category": category.strip().lower(), "difficulty": difficulty},
                    provenance=provenance)
    except ValidationError:
        return "schema"


# --- the top-up loop ------------------------------------------------------------------------

@dataclass
class Usage:
    """Requests made and what they cost, as LiteLLM reported it (`priced`: the requests whose
    price it knew)."""

    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    priced: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, a: llm.Answer) -> None:
        self.calls += 1
        self.cached += a.cached
        self.prompt_tokens += a.prompt_tokens or 0
        self.completion_tokens += a.completion_tokens or 0
        if a.cost_usd is not None:
            self.cost_usd += a.cost_usd
            self.priced += 1


@dataclass
class LangState:
    """One language's progress: items kept per category, replies and rejections by reason."""

    lang: str
    share: dict[str, int]
    system: str
    prompt_hash: str
    kept: dict[str, list[Item]] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)
    batches: int = 0
    replies: Counter = field(default_factory=Counter)
    repairs: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def missing(self) -> dict[str, int]:
        return {c: want - len(self.kept.get(c, [])) for c, want in self.share.items()}

    @property
    def short(self) -> bool:
        return any(m > 0 for m in self.missing().values())


def _allocate(missing: dict[str, int], size: int) -> dict[str, int]:
    """Up to `size` items over the categories still short, round robin in category order."""
    wanted = dict.fromkeys(missing, 0)
    left = dict(missing)
    while sum(wanted.values()) < size and any(v > 0 for v in left.values()):
        for c in missing:
            if left[c] > 0 and sum(wanted.values()) < size:
                wanted[c] += 1
                left[c] -= 1
    return wanted


@dataclass
class Outcome:
    """What a generation produced and how: the items kept (pack order), per language the
    shares, rejections and replies, the usage, and why it stopped short (None if it did not)."""

    spec: Spec
    structured: str
    states: list[LangState]
    usage: Usage
    stopped: str | None = None

    @property
    def items(self) -> list[Item]:
        """Languages in the order asked, then categories, then the order items were kept."""
        return [i.with_ids() for s in self.states for c in self.spec.categories for i in s.kept.get(c, [])]

    @property
    def missing(self) -> dict[str, dict[str, int]]:
        return {s.lang: {c: m for c, m in s.missing().items() if m > 0} for s in self.states if s.short}

    @property
    def complete(self) -> bool:
        return not self.missing

    def jsonl(self) -> str:
        return "".join(item_line(i) + "\n" for i in self.items)

    def summary(self) -> dict:
        """A JSON-able account of the run (what the flow returns and the CLI prints)."""
        u = self.usage
        return {
            "languages": list(self.spec.languages), "requested": self.spec.shares(),
            "kept": {s.lang: sum(len(v) for v in s.kept.values()) for s in self.states},
            "missing": self.missing, "complete": self.complete, "stopped": self.stopped,
            "rejected": {s.lang: dict(sorted(s.rejected.items())) for s in self.states},
            "replies": {s.lang: dict(sorted(s.replies.items())) for s in self.states},
            "repairs": {s.lang: dict(sorted(s.repairs.items())) for s in self.states},
            "errors": {s.lang: s.errors[-1] for s in self.states if s.errors},
            "usage": {"calls": u.calls, "cached": u.cached, "prompt_tokens": u.prompt_tokens,
                      "completion_tokens": u.completion_tokens,
                      "cost_usd": round(u.cost_usd, 6) if u.priced else None, "priced_calls": u.priced},
            "structured_output": self.structured,
            "prompt_hashes": {s.lang: s.prompt_hash for s in self.states},
            "jsonl": self.jsonl(),
        }


@dataclass
class GenerateResult(Details):
    """A generator run (`Outcome.summary` and the folder written): per language what was
    requested (by category), kept, rejected (by reason), the replies and repairs, the last
    error; what is missing and why it stopped; usage; the JSONL of the kept items; `written`,
    the pack folder, or None."""

    languages: list[str]
    requested: dict
    kept: dict
    missing: dict
    complete: bool
    stopped: str | None
    rejected: dict
    replies: dict
    repairs: dict
    errors: dict
    usage: dict
    structured_output: object
    prompt_hashes: dict
    jsonl: str
    written: str | None = None


def provenance_model(model: str) -> str:
    """The generator model as provenance names it: the embedded model's own name for `local`."""
    if model == llm.LOCAL:
        from tinyqa.models.local import MODEL_NAME

        return MODEL_NAME
    return model


def _absorb(state: LangState, answer: llm.Answer, keys: dict[str, str], spec: Spec) -> None:
    """Check one reply's candidates in order and keep the valid ones its language still needs."""
    if answer.error:
        state.replies["api_error"] += 1
        state.errors.append(answer.error)
        return
    reading = prompts.read_items(answer.text)
    state.repairs.update(reading.repairs)
    if reading.problem:
        state.replies[reading.problem] += 1
        return
    state.replies["repaired" if reading.repairs else "read"] += 1
    provenance = {"source": "generated", "model": provenance_model(spec.model), "prompt_hash": state.prompt_hash}
    for obj in reading.candidates or []:
        item = candidate_item(obj, state.lang, spec.difficulty, spec.categories, provenance)
        if isinstance(item, str):
            state.rejected[item] += 1
            continue
        key = question_key(state.lang, item.text)
        if key in keys:
            state.rejected[keys[key]] += 1
            continue
        category = item.tags.category
        if len(state.kept.setdefault(category, [])) >= state.share[category]:
            state.rejected["surplus"] += 1
            continue
        state.kept[category].append(item)
        state.accepted.append(item.text)
        keys[key] = "duplicate"


def _request(state: LangState, spec: Spec, mode: str) -> Request:
    state.batches += 1
    wanted = _allocate(state.missing(), spec.batch_size)
    k = sum(wanted.values())
    user = prompts.user_prompt(state.lang, wanted, state.accepted[-AVOID_SHOWN:])
    params = {"temperature": spec.temperature, "seed": sampling_seed(spec.seed, state.lang, state.batches),
              "max_tokens": min(4096, 160 + 160 * k)}
    return Request(state.lang, state.batches,
                   [{"role": "system", "content": state.system}, {"role": "user", "content": user}],
                   params, prompts.response_format(mode, list(spec.categories), k))


async def generate(spec: Spec, t: llm.Target, ask: Asker) -> Outcome:
    """Ask in rounds until every language has its share or a budget (calls, tokens, cost) is
    spent. Each round sends one request per language still short (in language order, as many
    as the call budget allows) through `ask`, then checks the replies in that order, each candidate
    by `candidate_item` and then not a question kept before, shown as an exemplar or present
    in an `avoid` pack; the rest of a full category is surplus. A reply
    that cannot be read is counted by reason and its language asked again next round. When
    every request of the first round, or of two rounds in a row, failed beyond its retries
    (the endpoint is down), InfraError."""
    keys: dict[str, str] = {}
    for pack in resolve_packs(list(spec.avoid)) if spec.avoid else []:
        for item in pack.items:
            keys.setdefault(question_key(item.lang, item.text), "avoided")
    states = []
    for lang, share in spec.shares().items():
        examples = prompts.exemplars(lang, list(spec.categories), spec.seed)
        for ex in examples:
            keys.setdefault(question_key(lang, ex.text), "exemplar")
        system = prompts.system_prompt(lang, list(spec.categories), spec.difficulty, spec.context, examples)
        states.append(LangState(lang, share, system, prompts.prompt_hash(system)))
    mode = prompts.structured_mode(spec.model, spec.model == llm.LOCAL)
    usage = Usage()
    outcome = Outcome(spec, mode, states, usage)
    budget = spec.call_budget
    failed_rounds = 0
    while short := [s for s in states if s.short]:
        if usage.calls >= budget:
            outcome.stopped = f"call budget spent ({usage.calls} of {budget} requests)"
            break
        if spec.max_tokens is not None and usage.tokens >= spec.max_tokens:
            outcome.stopped = f"token budget spent ({usage.tokens} of {spec.max_tokens} tokens)"
            break
        if spec.max_cost_usd is not None and usage.cost_usd >= spec.max_cost_usd:
            outcome.stopped = f"cost budget spent (${usage.cost_usd:.4f} of ${spec.max_cost_usd:.4f})"
            break
        todo = short[: budget - usage.calls]
        requests = [_request(s, spec, mode) for s in todo]
        answers = await ask(requests)
        for state, answer in zip(todo, answers, strict=True):
            usage.add(answer)
            _absorb(state, answer, keys, spec)
        failed_rounds = failed_rounds + 1 if all(a.error for a in answers) else 0
        if failed_rounds and (failed_rounds == 2 or usage.calls == len(answers)):
            raise InfraError(f"{t.label}: every request of {'the first round' if failed_rounds == 1 else 'two rounds'}"
                             f" failed beyond its retries: {answers[0].error}")
    return outcome


# --- writing --------------------------------------------------------------------------------

def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def data_card(outcome: Outcome, pack_id: str, published: str) -> str:
    """The pack's README: generation parameters, per-language counts, rejections by reason,
    replies, repairs and usage. Nothing in it changes when the same replies come again."""
    spec, s = outcome.spec, outcome.summary()
    reasons = sorted({r for st in outcome.states for r in st.rejected})
    replies = sorted({r for st in outcome.states for r in st.replies})
    repairs = sorted({r for st in outcome.states for r in st.repairs})
    u = s["usage"]
    lines = [
        f"# {pack_id}", "",
        "## Purpose",
        f"A tinyqa pack generated by `tinyqa generate`: {len(outcome.items)} short-answer "
        f"question{'' if len(outcome.items) == 1 else 's'} "
        f"({', '.join(f'{prompts.language_name(x)} ({x})' for x in spec.languages)}), "
        f"categories {', '.join(spec.categories)}, difficulty {spec.difficulty}. Each item has one "
        "short answer and a one-sentence context containing it verbatim.", "",
        "## How it was generated",
        f"- model: `{provenance_model(spec.model)}`",
        f"- languages: {', '.join(spec.languages)}; categories: {', '.join(spec.categories)}; "
        f"difficulty: {spec.difficulty}; n: {spec.n}",
        f"- seed: {spec.seed}; temperature: {spec.temperature}; batch size: {spec.batch_size}; "
        f"call budget: {spec.call_budget}",
        f"- structured output: {outcome.structured}",
        f"- domain notes: {spec.context or '(none)'}",
        f"- avoided packs: {', '.join(spec.avoid) or '(none)'}",
        f"- published: {published}; tinyqa {tinyqa.__version__}",
        "- prompt hashes (SHA-256 of each language's system prompt; every item's "
        "`provenance.prompt_hash`): " + ", ".join(f"{k} `{v[:16]}`" for k, v in s["prompt_hashes"].items()),
        "", "Every kept item passed: the pack schema, a requested category, one line each, a question "
        "mark ending the question, length "
        f"bounds (label at most {LABEL_MAX} characters), label verbatim in the context, the language's "
        "script, the language itself (question and context identified), an inflected alias where a "
        "Russian question asks for one, and no repeat (normalised question) of a kept item, an "
        "exemplar or an avoided pack.",
        "", "## Items per language",
        *_table(["lang", "requested", "kept", "missing"],
                [[st.lang, sum(st.share.values()), s["kept"][st.lang],
                  sum(st.missing().values()) if st.short else 0] for st in outcome.states]),
        "", "## Rejected candidates",
        *(_table(["lang", *reasons], [[st.lang, *(st.rejected.get(r, 0) for r in reasons)]
                                      for st in outcome.states]) if reasons else ["None."]),
        "", "## Replies",
        *_table(["lang", *replies], [[st.lang, *(st.replies.get(r, 0) for r in replies)] for st in outcome.states]),
    ]
    if repairs:
        lines += ["", "Repairs made to read replies:", "",
                  *_table(["lang", *repairs], [[st.lang, *(st.repairs.get(r, 0) for r in repairs)]
                                               for st in outcome.states])]
    cost = "unknown" if u["cost_usd"] is None else f"${u['cost_usd']:.6f} ({u['priced_calls']} priced requests)"
    lines += ["", "## Usage",
              f"{u['calls']} requests, {u['prompt_tokens']} prompt tokens, {u['completion_tokens']} "
              f"completion tokens, cost {cost}."]
    if outcome.missing:
        lines += ["", "## Missing (a partial pack)",
                  f"Stopped: {outcome.stopped}.",
                  *(f"- {lang}: " + ", ".join(f"{c} {m}" for c, m in miss.items())
                    for lang, miss in outcome.missing.items())]
    lines += ["", "## Known limitations",
              "- Generated by a model and checked mechanically, not by a person: facts may be wrong.",
              "- Language identification reads the question and context together and rejects only "
              "items clearly in another language; a near language (Galician for Portuguese) or one "
              "tinyqa does not know may pass.",
              "", "## Licence",
              "CC BY 4.0 (as croissant.json declares); the model provider's terms may also apply.", ""]
    return "\n".join(lines)


def write_pack(outcome: Outcome, out: Path, *, force: bool = False) -> Path:
    """Write the pack folder `out` atomically: data.jsonl, croissant.json (datePublished from
    the spec, else an earlier croissant.json in `out`, else today), README.md, all into a
    temporary sibling that must pass `validate_pack` before it replaces `out`."""
    from tinyqa.validators.croissant import describe_pack
    from tinyqa.validators.croissant import FILE as CROISSANT
    from tinyqa.validators.validate import validate_pack

    out = Path(out)
    check_out(out, force=force)
    if not outcome.items:
        raise GenerationFailed(f"{out}: no valid item was obtained; nothing written")
    published = outcome.spec.published
    if published is None and (out / CROISSANT).is_file():
        try:
            published = json.loads((out / CROISSANT).read_text(encoding="utf-8")).get("datePublished", "")[:10] or None
        except (ValueError, AttributeError):
            published = None
    published = published or date.today().isoformat()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        folder = staging / out.name
        folder.mkdir()
        (folder / DATA_FILE).write_text(outcome.jsonl(), encoding="utf-8")
        # croissant.write keeps the datePublished of the file it replaces.
        (folder / CROISSANT).write_text(json.dumps({"datePublished": published}), encoding="utf-8")
        describe_pack(folder)
        (folder / "README.md").write_text(data_card(outcome, out.name, published), encoding="utf-8")
        problems = validate_pack(folder)
        if problems:
            raise GenerationFailed(f"{out}: the generated pack fails validation, nothing written: {problems[0]}")
        if out.exists():
            out.rename(staging / ".replaced")
        folder.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def report_lines(summary: dict) -> list[str]:
    """The run in a few lines for the terminal: per language kept/requested and rejections,
    replies that could not be read, repairs, usage, and what is missing."""
    lines = []
    for lang in summary["languages"]:
        want = sum(summary["requested"][lang].values())
        rej = ", ".join(f"{r} {k}" for r, k in summary["rejected"][lang].items()) or "none"
        rep = ", ".join(f"{r} {k}" for r, k in summary["replies"][lang].items())
        lines.append(f"{lang}: {summary['kept'][lang]}/{want} items · rejected: {rej} · replies: {rep}")
        if summary["repairs"][lang]:
            lines.append(f"{lang}: repairs: " + ", ".join(f"{r} {k}" for r, k in summary["repairs"][lang].items()))
        if lang in summary["errors"]:
            lines.append(f"{lang}: last error: {visible(summary['errors'][lang])}")
    u = summary["usage"]
    cost = "unknown" if u["cost_usd"] is None else f"${u['cost_usd']:.6f}"
    lines.append(f"usage: {u['calls']} requests ({u['cached']} cached), {u['prompt_tokens']} prompt + "
                 f"{u['completion_tokens']} completion tokens, cost {cost} · structured output: "
                 f"{summary['structured_output']}")
    return lines


def missing_line(summary: dict) -> str:
    """One line naming what could not be obtained, and why the run stopped."""
    parts = [f"{lang}: {sum(m.values())} missing ({', '.join(f'{c} {k}' for c, k in m.items())})"
             for lang, m in summary["missing"].items()]
    return f"could not obtain {'; '.join(parts)}: {summary['stopped']}"
