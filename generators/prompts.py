"""What the generator says to a model and how it reads the reply.

`system_prompt` states the item schema, the rules, the domain notes and a few exemplars in the
target language; `user_prompt` asks one batch; `response_format` asks for structured output
where the provider supports it; `read_items` parses a reply leniently and names each repair.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass

from tinyqa.languages import LANG_NAMES, base, language_name  # noqa: F401  (language_name: the prompts' word)
from tinyqa.pack import Item, load_pack, shipped_dir

DIFFICULTY = {
    "easy": "a general audience knows the answer",
    "medium": "a well-read adult knows the answer",
    "hard": "an educated adult may need to think about the answer",
}
# The fields a model writes for each item, in the order asked: the context sentence before the
# label, so that a model (a small one especially) states the fact and then copies the answer
# out of it. lang and difficulty come from the request.
ITEM_FIELDS = ("text", "context", "label", "aliases", "category")
N_EXEMPLARS = 3


def exemplars(lang: str, categories: list[str], seed: int, k: int = N_EXEMPLARS) -> list[Item]:
    """`k` items of the shipped pack `core_<lang>` (else `core_en`), chosen by `seed`: from
    the requested categories when the pack has `k` of them, in pack order."""
    folder = shipped_dir() / f"core_{base(lang)}"
    if not (folder / "data.jsonl").is_file():
        folder = shipped_dir() / "core_en"
    items = list(load_pack(folder, check_ids=False).items)
    matching = [i for i in items if i.tags.category in categories]
    pool = matching if len(matching) >= k else items
    picked = sorted(random.Random(f"{seed}:{lang}").sample(range(len(pool)), min(k, len(pool))))
    return [pool[i] for i in picked]


def _example(item: Item) -> dict:
    return {"text": item.text, "context": item.context, "label": item.label,
            "aliases": list(item.aliases), "category": item.tags.category}


def system_prompt(lang: str, categories: list[str], difficulty: str, context: str | None,
                  examples: list[Item]) -> str:
    """The system message for one language: schema, rules, domain notes and exemplars."""
    name = language_name(lang)
    ex_lang = examples[0].lang if examples else lang
    shown = '{"items": [\n' + ",\n".join(json.dumps(_example(i), ensure_ascii=False) for i in examples) + "\n]}"
    lines = [
        "You write items for a tiny question-answer benchmark.",
        "",
        "Each item is a JSON object with exactly these fields:",
        f'- "text": the question, in {name}.',
        f'- "context": ONE sentence in {name} stating the fact; it contains the answer word for word.',
        f'- "label": the one short answer (a name, number, year or a few words), in {name}, '
        'copied exactly as it is written in "context".',
        '- "aliases": other accepted forms of the same answer (a list of strings, may be empty), '
        "including the inflected form when the question's grammar calls for one.",
        f'- "category": one of: {", ".join(categories)}.',
        "",
        "Rules:",
        f"- Write everything in {name} (language code {lang}), in its usual script.",
        "- One stable, uncontroversial fact per item with a single short answer.",
        f"- Difficulty {difficulty}: {DIFFICULTY[difficulty]}.",
        "- Every question is new: never repeat a question, never copy an example.",
        '- Reply with one JSON object {"items": [...]} and nothing else.',
    ]
    if context:
        lines += ["", f"Domain notes (write the items about this): {context.strip()}"]
    note = "" if ex_lang == lang else f" (in {language_name(ex_lang)}; write yours in {name})"
    lines += ["", f"Examples of the format{note}:", shown]
    return "\n".join(lines)


def user_prompt(lang: str, wanted: dict[str, int], avoid: list[str]) -> str:
    """The request for one batch: how many items of each category, and the questions already
    kept for this language (not to be repeated)."""
    k = sum(wanted.values())
    lines = [f"Language: {lang} ({language_name(lang)})",
             f"Write {k} new item{'s' if k != 1 else ''}: "
             + ", ".join(f"{c}: {m}" for c, m in wanted.items() if m) + "."]
    if avoid:
        lines += ["Do not repeat these questions:", *(f"- {q}" for q in avoid)]
    lines.append('Reply with the JSON object {"items": [...]} only.')
    return "\n".join(lines)


def prompt_hash(system: str) -> str:
    """SHA-256 of a language's system message: what the provenance of its items names."""
    return hashlib.sha256(system.encode()).hexdigest()


def response_schema(categories: list[str], k: int, bounded: bool) -> dict:
    """JSON schema of a reply: {"items": [item, ...]}. `bounded` adds item-count and length
    limits (grammar-constrained servers honour them; strict OpenAI schemas reject them)."""
    string = {"type": "string", "maxLength": 300} if bounded else {"type": "string"}
    item = {
        "type": "object",
        "properties": {"text": string, "context": string,
                       "label": {"type": "string", **({"maxLength": 60} if bounded else {})},
                       "aliases": {"type": "array", "items": {"type": "string"},
                                   **({"maxItems": 3} if bounded else {})},
                       "category": {"type": "string", "enum": list(categories)}},
        "required": list(ITEM_FIELDS),
        "additionalProperties": False,
    }
    items = {"type": "array", "items": item, **({"minItems": 1, "maxItems": k} if bounded else {})}
    return {"type": "object", "properties": {"items": items}, "required": ["items"],
            "additionalProperties": False}


def structured_mode(model: str, local: bool) -> str:
    """How to ask `model` for structured output: `json_schema` where LiteLLM's model map says
    the provider supports response schemas, `grammar` for the embedded llama.cpp server
    (json_object with a schema), else `none` (the reply is parsed leniently)."""
    import litellm

    if local:
        return "grammar"
    try:
        return "json_schema" if litellm.supports_response_schema(model=model) else "none"
    except Exception:  # an unmapped model: no structured output
        return "none"


def response_format(mode: str, categories: list[str], k: int) -> dict | None:
    """The `response_format` request parameter for `mode` (None for `none`)."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {
            "name": "tinyqa_items", "strict": True, "schema": response_schema(categories, k, False)}}
    if mode == "grammar":
        return {"type": "json_object", "schema": response_schema(categories, k, True)}
    return None


@dataclass(frozen=True)
class Reading:
    """A parsed reply: the candidate items (None when there were none to read), the repairs
    made to read them, and why nothing could be read (`refusal`, `broken_json`, `no_items`)."""

    candidates: list | None
    repairs: tuple[str, ...] = ()
    problem: str | None = None


_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)
_DECODER = json.JSONDecoder()


def _salvage(text: str, start: int) -> list:
    """The complete objects at the start of a truncated or broken JSON array."""
    at = text.find("[", start)
    found: list = []
    if at < 0:
        return found
    pos = at + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] != "{":
            return found
        try:
            obj, pos = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError:
            return found
        found.append(obj)


def read_items(text: str | None) -> Reading:
    """Candidate items from a reply. Accepted as is: {"items": [...]} or a bare list. Repaired,
    and each repair named: a markdown code fence, text before or after the JSON, a wrapping
    object with another single list field, a lone item object, an array cut off (only its
    complete objects are kept)."""
    s = (text or "").strip()
    repairs: list[str] = []
    if fence := _FENCE.search(s):
        repairs.append("code fence removed")
        if s[:fence.start()].strip() or s[fence.end():].strip():
            repairs.append("text around the code fence ignored")
        s = fence.group(1).strip()
    starts = [i for i in (s.find("{"), s.find("[")) if i >= 0]
    if not starts:
        return Reading(None, tuple(repairs), "refusal")
    start = min(starts)
    if start:
        repairs.append("text before the JSON ignored")
    try:
        value, end = _DECODER.raw_decode(s, start)
    except json.JSONDecodeError:
        salvaged = _salvage(s, start)
        if not salvaged:
            return Reading(None, tuple(repairs), "broken_json")
        return Reading(salvaged, (*repairs, "cut-off JSON: complete items kept"))
    if s[end:].strip():
        repairs.append("text after the JSON ignored")
    if isinstance(value, list):
        return Reading(value, tuple(repairs))
    if isinstance(value, dict):
        if isinstance(value.get("items"), list):
            return Reading(value["items"], tuple(repairs))
        lists = [k for k, v in value.items() if isinstance(v, list)]
        if len(lists) == 1:
            return Reading(value[lists[0]], (*repairs, f"wrapping object {lists[0]!r} unwrapped"))
        if "text" in value and "label" in value:
            return Reading([value], (*repairs, "single item wrapped in a list"))
    return Reading(None, tuple(repairs), "no_items")
