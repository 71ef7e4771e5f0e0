"""The tokenizer-drift suite: fingerprint a tokenizer on the packs, measure it per language,
compare with a stored baseline, and decide a verdict — without calling any model.

- Fingerprint: the tokenizer's identity (each part hashed, see `tokenizers.PARTS`) and, per
  item, the hash and count of the token ids of its question (`text`) and of its answer (`label`).
- Metrics per language (from per-item counts, so they can be recomputed on any item subset):
  `fertility` (tokens per word; per character for scripts written without spaces),
  `chars_per_token`, `split_word_rate` (words covered by two or more tokens),
  `single_token_retention` (words that are exactly one token of their own, leading whitespace
  allowed), `byte_fallback_rate` (tokens that are byte-fallback tokens or not valid UTF-8 on
  their own), `roundtrip_fidelity` (texts with decode(encode(x)) == x), `digits_per_token`
  (mean digits in a token holding digits) and `digit_group_max` (most digits in one token).
  Words are runs of word characters (with combining marks); word metrics count only texts
  whose token bytes concatenate back to the text (or to it with one leading space).
- Compare: items are matched by (pack_id, item_id). Items absent from the baseline are `new`
  and baseline items absent now are `missing`: neither is drift. An item whose question or
  answer ids hash changed is `changed`. Metrics are compared over the items both sides share.

Imports here stay light (no litellm, prefect or transformers): a drift check runs in well
under a second once its tokenizer is loaded.
"""
from __future__ import annotations

import codecs
import hashlib
import json
import re
import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tinyqa import languages
from tinyqa.errors import InputError
from tinyqa.files import write_atomic
from tinyqa.suites import tokenizers
from tinyqa.suites.result import Check, DriftDetails, RunResult
from tinyqa.suites.tokenizers import Tokenizer, ids_bytes

SUITE = "drift"
FORMAT = 1
COUNTS = ("strings", "chars", "tokens", "units", "aligned_units", "split_units", "single_units",
          "partial_tokens", "roundtrip_ok", "digit_tokens", "digits", "digit_max")
METRICS = ("fertility", "chars_per_token", "split_word_rate", "single_token_retention",
           "byte_fallback_rate", "roundtrip_fidelity", "digits_per_token", "digit_group_max")
_MARKS = "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0900-\u0dff\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u3099\u309a"
_WORD = re.compile(rf"(?:\w|[{_MARKS}])+")
_CHAR = re.compile(r"\w")
_SHA = r"^[0-9a-f]{16}$"


def _hex_bytes(err: UnicodeDecodeError) -> tuple[str, int]:
    return "".join(f"<0x{b:02X}>" for b in err.object[err.start:err.end]), err.end


codecs.register_error("tinyqa-hex", _hex_bytes)


def readable(piece: bytes) -> str:
    """A token's bytes as text: UTF-8 where valid, `<0xE3>` for each byte that is not."""
    return piece.decode("utf-8", "tinyqa-hex")


def ids_sha(ids: list[int]) -> str:
    """The first 16 hex digits of the SHA-256 of the ids as little-endian uint32s."""
    return hashlib.sha256(ids_bytes(ids)).hexdigest()[:16]


def pair_sha(q_sha: str, a_sha: str) -> str:
    """One hash for an item's question and answer hashes (the drift table's `ids_sha`)."""
    return hashlib.sha256(f"{q_sha}:{a_sha}".encode()).hexdigest()[:16]


@dataclass
class ItemPrint:
    """One item's fingerprint; `q_ids`/`a_ids` are present for items encoded in this process,
    `q_tokens`/`a_tokens` (readable pieces) for items read from a baseline."""

    pack_id: str
    item_id: str
    lang: str
    q_ids_sha: str
    q_n: int
    a_ids_sha: str
    a_n: int
    q_ids: list[int] | None = None
    a_ids: list[int] | None = None
    q_tokens: list[str] | None = None
    a_tokens: list[str] | None = None
    counts: dict[str, int] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.pack_id, self.item_id

    @property
    def ids_sha(self) -> str:
        return pair_sha(self.q_ids_sha, self.a_ids_sha)


@dataclass
class Fingerprint:
    tokenizer: dict[str, str]
    identity: dict[str, str | None]
    packs: list[str]
    items: list[ItemPrint]
    timings: dict[str, float] = field(default_factory=dict)


def fingerprint(tok: Tokenizer, packs: list) -> Fingerprint:
    """Encode every item's question and answer in one batch; hash and count the ids.
    This is the hot path the benchmark holds against the bare batch encode."""
    started = time.perf_counter()
    items = [i for p in packs for i in p.items]
    owners = [p.id for p in packs for _ in p.items]
    texts = [s for i in items for s in (i.text, i.label)]
    encoded = tok.encode_batch(texts)
    prints = []
    for k, (item, pack_id) in enumerate(zip(items, owners)):
        q, a = encoded[2 * k], encoded[2 * k + 1]
        prints.append(ItemPrint(pack_id, item.id, item.lang, ids_sha(q), len(q), ids_sha(a), len(a), q, a))
    return Fingerprint(tok.describe(), dict(tok.identity), [p.id for p in packs], prints,
                       {"fingerprint_s": time.perf_counter() - started})


def _string_counts(tok: Tokenizer, text: str, ids: list[int], decoded: str, c: dict[str, int],
                   no_space: bool) -> None:
    """Add one text's counts to `c` (see COUNTS)."""
    info = tok.token_info
    pieces = []
    for t in ids:
        piece, partial, digits = info(t)
        pieces.append(piece)
        c["partial_tokens"] += partial
        if digits:
            c["digit_tokens"] += 1
            c["digits"] += digits
            if digits > c["digit_max"]:
                c["digit_max"] = digits
    c["strings"] += 1
    c["chars"] += len(text)
    c["tokens"] += len(ids)
    c["roundtrip_ok"] += decoded == text
    units = list((_CHAR if no_space else _WORD).finditer(text))
    c["units"] += len(units)
    raw = text.encode()
    joined = b"".join(pieces)
    shift = 0 if joined == raw else 1 if joined == b" " + raw else None
    if shift is None or not units:
        return
    ends = [e - shift for e in accumulate(map(len, pieces))]
    ascii_only = text.isascii()
    for m in units:
        s, e = m.span()
        bs, be = (s, e) if ascii_only else (len(text[:s].encode()), len(text[:e].encode()))
        i, j = bisect_right(ends, bs), bisect_left(ends, be)
        c["aligned_units"] += 1
        if j > i:
            c["split_units"] += 1
        elif ends[j] == be and not raw[max(0, ends[i - 1] if i else 0):bs].strip():
            c["single_units"] += 1


def measure(tok: Tokenizer, fp: Fingerprint, packs: list) -> None:
    """Fill in each item's counts (decoding every text once for round-trip fidelity)."""
    started = time.perf_counter()
    items = {(p.id, i.id): i for p in packs for i in p.items}
    decoded = tok.decode_batch([ids for it in fp.items for ids in (it.q_ids, it.a_ids)])
    for k, it in enumerate(fp.items):
        item = items[it.key]
        no_space = languages.unspaced(it.lang)  # fertility per character there
        c = dict.fromkeys(COUNTS, 0)
        _string_counts(tok, item.text, it.q_ids, decoded[2 * k], c, no_space)
        _string_counts(tok, item.label, it.a_ids, decoded[2 * k + 1], c, no_space)
        it.counts = c
    fp.timings["metrics_s"] = time.perf_counter() - started


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def metrics_of(counts: dict[str, int]) -> dict[str, tuple[float | None, int]]:
    """The metrics (value, n: its denominator) from summed counts."""
    c = counts
    return {
        "fertility": (_ratio(c["tokens"], c["units"]), c["units"]),
        "chars_per_token": (_ratio(c["chars"], c["tokens"]), c["tokens"]),
        "split_word_rate": (_ratio(c["split_units"], c["aligned_units"]), c["aligned_units"]),
        "single_token_retention": (_ratio(c["single_units"], c["aligned_units"]), c["aligned_units"]),
        "byte_fallback_rate": (_ratio(c["partial_tokens"], c["tokens"]), c["tokens"]),
        "roundtrip_fidelity": (_ratio(c["roundtrip_ok"], c["strings"]), c["strings"]),
        "digits_per_token": (_ratio(c["digits"], c["digit_tokens"]), c["digit_tokens"]),
        "digit_group_max": (float(c["digit_max"]) if c["digit_tokens"] else None, c["digit_tokens"]),
    }


def language_metrics(items: list[ItemPrint]) -> dict[str, dict[str, tuple[float | None, int]]]:
    """Per language: each metric's (value, n) over `items` (which must carry counts)."""
    sums: dict[str, dict[str, int]] = {}
    for it in items:
        s = sums.setdefault(it.lang, dict.fromkeys(COUNTS, 0))
        for k, v in (it.counts or {}).items():
            s[k] = max(s[k], v) if k == "digit_max" else s[k] + v
    return {lang: metrics_of(s) for lang, s in sorted(sums.items())}


# --- the baseline file ------------------------------------------------------------------------

def shipped_baseline(tokenizer: str) -> Path | None:
    """The baseline committed with the packs for a tokenizer spec
    (`packs/baselines/drift-<spec as a slug>.json`), or None. Regenerate the embedded model's
    after the packs change: `tinyqa drift --tokenizer local --write-baseline
    packs/baselines/drift-local.json`."""
    from tinyqa.pack import shipped_dir

    slug = re.sub(r"[^a-z0-9]+", "-", tokenizer.lower()).strip("-")
    path = shipped_dir() / "baselines" / f"drift-{slug}.json"
    return path if path.is_file() else None


class _BaselineItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    pack_id: str = Field(min_length=1)
    item_id: str = Field(min_length=1)
    lang: str = Field(min_length=1)
    q_ids_sha: str = Field(pattern=_SHA)
    q_n: int = Field(ge=0)
    a_ids_sha: str = Field(pattern=_SHA)
    a_n: int = Field(ge=0)
    q_tokens: list[str]
    a_tokens: list[str]
    counts: dict[Literal[COUNTS], int]  # type: ignore[valid-type]


class _Baseline(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    format: Literal[1]
    tokenizer: dict[str, str]
    identity: dict[Literal[tokenizers.PARTS], str | None]  # type: ignore[valid-type]
    packs: list[str]
    metrics: dict[str, dict[str, float | None]]
    items: list[_BaselineItem]


def load_fingerprint(path: Path) -> Fingerprint:
    """Read and check a baseline file; InputError naming the file and what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{path}: cannot read the baseline: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not a drift baseline: invalid JSON ({e})") from None
    if not isinstance(data, dict) or "format" not in data:
        raise InputError(f"{path}: not a drift baseline: no `format` field")
    if data["format"] != FORMAT:
        raise InputError(f"{path}: baseline format {data['format']!r} is not supported (this tinyqa reads {FORMAT})")
    try:
        b = _Baseline.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{path}: field {where}: {err['msg']}") from None
    seen: set[tuple[str, str]] = set()
    items = []
    for n, it in enumerate(b.items):
        if (it.pack_id, it.item_id) in seen:
            raise InputError(f"{path}: field items.{n}: duplicate item {it.pack_id}/{it.item_id}")
        seen.add((it.pack_id, it.item_id))
        items.append(ItemPrint(**it.model_dump()))
    return Fingerprint(b.tokenizer, {p: b.identity.get(p) for p in tokenizers.PARTS}, b.packs, items)


def baseline_json(fp: Fingerprint, tok: Tokenizer) -> str:
    """The baseline file's text: header fields indented, one item a line (diffs stay readable)."""
    head = {
        "format": FORMAT,
        "tokenizer": fp.tokenizer,
        "identity": fp.identity,
        "packs": fp.packs,
        "metrics": {lang: {m: (None if v is None else round(v, 6)) for m, (v, _) in ms.items()}
                    for lang, ms in language_metrics(fp.items).items()},
    }
    lines = []
    for it in fp.items:
        row = {"pack_id": it.pack_id, "item_id": it.item_id, "lang": it.lang,
               "q_ids_sha": it.q_ids_sha, "q_n": it.q_n, "a_ids_sha": it.a_ids_sha, "a_n": it.a_n,
               "q_tokens": [readable(tok.token_bytes(t)) for t in it.q_ids],
               "a_tokens": [readable(tok.token_bytes(t)) for t in it.a_ids],
               "counts": it.counts}
        lines.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2]
    return text + ',\n "items": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n"


def write_baseline(path: Path, fp: Fingerprint, tok: Tokenizer) -> Path:
    """Write the baseline atomically (a temporary name, then a rename)."""
    return write_atomic(path, baseline_json(fp, tok))


# --- comparing with a baseline -----------------------------------------------------------------

@dataclass(frozen=True)
class Limits:
    """When a comparison fails: more than `max_changed` items changed; a metric moved by more
    than `max_metric_delta` (absolute for rates, relative for values above 1: |new - old| >
    max_metric_delta * max(1, |old|)); an identity part changed (unless `fail_on_identity` is off)."""

    max_changed: int = 0
    max_metric_delta: float = 0.01
    fail_on_identity: bool = True


@dataclass
class Diff:
    changed: list[dict]
    new: list[tuple[str, str]]
    missing: list[tuple[str, str]]
    unchanged: int
    identity_changed: list[dict]
    metric_deltas: list[dict]
    failures: list[str]
    baseline_shas: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures


def compare(current: Fingerprint, baseline: Fingerprint, tok: Tokenizer, thresholds: Limits = Limits()) -> Diff:
    """Which items changed (with old and new tokens), which identity parts changed, and the
    metric deltas per language over the items both sides share; the failures the thresholds
    find."""
    old = {it.key: it for it in baseline.items}
    changed, new, shared_now, shared_old = [], [], [], []
    for it in current.items:
        b = old.get(it.key)
        if b is None:
            new.append(it.key)
            continue
        shared_now.append(it)
        shared_old.append(b)
        parts = [name for name, now, was in (("question", it.q_ids_sha, b.q_ids_sha), ("answer", it.a_ids_sha, b.a_ids_sha))
                 if now != was]
        if parts:
            changed.append({
                "pack_id": it.pack_id, "item_id": it.item_id, "lang": it.lang, "parts": parts,
                "old": {"question": b.q_tokens, "answer": b.a_tokens},
                "new": {"question": [readable(tok.token_bytes(t)) for t in it.q_ids],
                        "answer": [readable(tok.token_bytes(t)) for t in it.a_ids]},
                "old_n": b.q_n + b.a_n, "new_n": it.q_n + it.a_n,
            })
    now_keys = {it.key for it in current.items}
    missing = [k for k in old if k not in now_keys]
    identity_changed = [{"part": p, "old": baseline.identity.get(p), "new": current.identity.get(p)}
                        for p in tokenizers.PARTS if baseline.identity.get(p) != current.identity.get(p)]
    deltas = []
    m_now, m_old = language_metrics(shared_now), language_metrics(shared_old)
    for lang, ms in m_now.items():
        for metric, (value, n) in ms.items():
            was = m_old[lang][metric][0]
            if value is None and was is None:
                continue
            delta = None if value is None or was is None else value - was
            breach = delta is None or abs(delta) > thresholds.max_metric_delta * max(1.0, abs(was)) + 1e-12
            deltas.append({"lang": lang, "metric": metric, "old": was, "new": value, "delta": delta,
                           "n": n, "breach": breach})
    failures = []
    if len(changed) > thresholds.max_changed:
        failures.append(f"{len(changed)} of {len(shared_now)} items tokenize differently "
                        f"(allowed: {thresholds.max_changed})")
    if identity_changed and thresholds.fail_on_identity:
        failures.append("tokenizer identity changed: " + ", ".join(d["part"] for d in identity_changed))
    breaches = [d for d in deltas if d["breach"]]
    if breaches:
        failures.append(f"{len(breaches)} metric(s) moved beyond {thresholds.max_metric_delta:g}: " +
                        ", ".join(f"{d['metric']}[{d['lang']}]" for d in breaches[:6]) +
                        (" …" if len(breaches) > 6 else ""))
    return Diff(changed, new, missing, len(shared_now) - len(changed), identity_changed, deltas, failures,
                      {k: b.ids_sha for k, b in old.items()})


# --- a whole drift run -------------------------------------------------------------------------

def report_rows(run_id: str, spec: str, fp: Fingerprint, c: Diff | None) -> tuple[list[dict], list[dict]]:
    """The drift table's rows (one per item fingerprinted now) and the metrics table's rows
    (per language; plus the counts of changed items and identity parts when compared)."""
    changed = {(d["pack_id"], d["item_id"]) for d in c.changed} if c else set()
    old = c.baseline_shas if c else {}
    drift_rows = []
    for it in fp.items:
        was = old.get(it.key)
        drift_rows.append({
            "run_id": run_id, "tokenizer": spec, "item_id": it.item_id, "pack_id": it.pack_id,
            "lang": it.lang, "n_tokens": it.q_n + it.a_n, "ids_sha": it.ids_sha,
            "baseline_ids_sha": was, "changed": None if c is None or was is None else it.key in changed,
        })

    def row(slice_, metric, value, n):
        return {"run_id": run_id, "suite": SUITE, "pack_id": None, "slice": slice_, "metric": metric,
                "value": value, "n": n, "ci_low": None, "ci_high": None}

    metric_rows = [row(f"lang={lang}", metric, value, n)
                   for lang, ms in language_metrics(fp.items).items() for metric, (value, n) in ms.items()]
    if c is not None:
        metric_rows.append(row("all", "items_changed", float(len(c.changed)), len(c.changed) + c.unchanged))
        metric_rows.append(row("all", "identity_parts_changed", float(len(c.identity_changed)), len(tokenizers.PARTS)))
    return drift_rows, metric_rows


def run(tokenizer: str, packs: list[str] | None = None, baseline: Path | None = None,
        write_to: Path | None = None, limits: Limits = Limits(), run_id: str | None = None) -> RunResult:
    """Fingerprint and measure `tokenizer` on `packs` (default: every shipped pack), compare
    with `baseline` when given (a check: the verdict), and write a new baseline file to
    `write_to` when given. Inputs are all checked before anything is written. The result's
    details hold the tokenizer, timings and, when compared, the changes with their tokens."""
    from tinyqa import runinfo
    from tinyqa.pack import resolve_packs, shipped_ids

    started = runinfo.now()
    run_id = run_id or runinfo.new_run_id(started)
    base = load_fingerprint(baseline) if baseline else None
    pack_objs = resolve_packs(packs or shipped_ids())
    t0 = time.perf_counter()
    tok = tokenizers.load(tokenizer)
    load_s = time.perf_counter() - t0
    fp = fingerprint(tok, pack_objs)
    measure(tok, fp, pack_objs)
    fp.timings["load_s"] = load_s
    c = compare(fp, base, tok, limits) if base is not None else None
    drift_rows, metric_rows = report_rows(run_id, tok.spec, fp, c)
    result = RunResult(runinfo.run_row(run_id, started, SUITE, tok.spec, pack_ids=fp.packs),
                       metrics=metric_rows, drift=drift_rows)
    details = DriftDetails(tokenizer=fp.tokenizer, timings=fp.timings, items=len(fp.items), packs=fp.packs,
                           baseline=str(baseline) if baseline else None)
    result.details = details
    if c is not None:
        result.checks.append(Check.drift(tok.spec, c.passed, "; ".join(c.failures) or (
            f"{len(fp.items)} items fingerprinted, none changed"), [f"{d['pack_id']}/{d['item_id']}" for d in c.changed]))
        details.changed, details.new, details.missing, details.unchanged = (
            c.changed, len(c.new), len(c.missing), c.unchanged)
        details.identity_changed, details.metric_deltas, details.failures = (
            c.identity_changed, c.metric_deltas, c.failures)
    if write_to is not None:
        details.baseline_written = str(write_baseline(write_to, fp, tok))
    return result
