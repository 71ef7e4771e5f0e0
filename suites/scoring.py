"""Scorers for tiny QA: each a small function that says exactly what it matches, and the
registry (`SCORERS`) that every other part reads: the items table's score columns, the
metrics and how they aggregate, compare, the gate and the dashboard.

All scorers compare a prediction with every accepted answer (label and aliases) after
`normalize`, and take the best.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz

from tinyqa.languages import ARTICLES, SUFFIXING, UNSPACED
from tinyqa.languages import base as _base



# Arabic: short vowels and other harakat, and the tatweel, are optional in writing; the alef
# with hamza or madda is often written as a bare alef.
_ARABIC_OPTIONAL = {chr(c) for c in range(0x064B, 0x0660)} | {"\u0670", "\u0640"}
_ARABIC_ALEF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا"})


def _char(c: str) -> str:
    if unicodedata.category(c).startswith("P"):
        return " "
    d = unicodedata.decimal(c, None)
    return str(d) if d is not None else c


def normalize(text: str, lang: str = "en", case: bool = False) -> str:
    """NFKC, full case folding (Turkish İ/ı aware), every script's punctuation turned into
    spaces, Unicode decimal digits as ASCII digits (٤ and ４ are 4), whitespace collapsed,
    English articles dropped; in Arabic, harakat and tatweel dropped and hamza/madda alefs
    read as a bare alef. With `case`, letter case is kept (items tagged `match: case`, whose
    answer is a spelling: "İSTANBUL", "ς")."""
    lang = _base(lang)
    s = unicodedata.normalize("NFKC", text)
    if not case:
        if lang in {"tr", "az"}:
            s = s.replace("I", "ı").replace("İ", "i")
        s = s.casefold().replace("i\u0307", "i")
    if lang == "ar":
        s = "".join(c for c in s if c not in _ARABIC_OPTIONAL).translate(_ARABIC_ALEF)
    s = "".join(_char(c) for c in s)
    words = s.split()
    drop = ARTICLES.get(lang, frozenset())
    return " ".join(w for w in words if w not in drop)


def exact_match(prediction: str, answers: list[str], lang: str, case: bool = False) -> bool:
    """The normalised prediction equals a normalised answer."""
    p = normalize(prediction, lang, case)
    return any(p == normalize(a, lang, case) for a in answers)


def _contains_one(p: str, a: str, lang: str) -> bool:
    if not a:
        return False
    if lang in UNSPACED:
        # Still never read "14" as containing "4".
        pattern = rf"(?<!\d){re.escape(a)}(?!\d)"
    elif lang in SUFFIXING:
        pattern = rf"(?<!\w){re.escape(a)}(?!\d)"
    else:
        pattern = rf"(?<!\w){re.escape(a)}(?!\w)"
    return re.search(pattern, p) is not None


def contains(prediction: str, answers: list[str], lang: str, case: bool = False) -> bool:
    """A normalised answer appears in the normalised prediction: as a whole word in spaced
    scripts, as a word start in suffixing languages (tr, ko), anywhere in unspaced scripts
    (zh, ja, th); digits never match inside a longer number."""
    lang = _base(lang)
    p = normalize(prediction, lang, case)
    return any(_contains_one(p, normalize(a, lang, case), lang) for a in answers)


def lev_ratio(prediction: str, answers: list[str], lang: str, case: bool = False) -> float:
    """Best normalised Levenshtein similarity (rapidfuzz ratio, 0..1) against any answer."""
    p = normalize(prediction, lang, case)
    return max(fuzz.ratio(p, normalize(a, lang, case)) / 100.0 for a in answers)


_WRAPPERS = re.compile(
    r"^\s*(?:(?:final\s+)?answer\s*[:：]|the\s+(?:correct\s+)?answer\s+is\s*:?|it\s+is|it's)\s*",
    re.IGNORECASE,
)
_QUOTES = "\"'“”‘’«»「」『』„‚*`"


def extract_answer(prediction: str) -> str:
    """The answer inside common wrappers: the first non-empty line, without a leading
    "Answer:" / "The answer is", surrounding quotes or markdown emphasis, and a trailing period."""
    line = next((ln for ln in prediction.strip().splitlines() if ln.strip()), "")
    line = _WRAPPERS.sub("", line).strip()
    line = line.rstrip(".。!！").strip().strip(_QUOTES).strip()
    return line


def token_f1(prediction: str, answers: list[str], lang: str, case: bool = False) -> float:
    """Best bag-of-words F1 between normalised prediction and any answer (characters are
    the tokens in unspaced scripts)."""
    def toks(s: str) -> list[str]:
        n = normalize(s, lang, case)
        return [c for c in n if not c.isspace()] if _base(lang) in UNSPACED else n.split()

    def f1(p: list[str], g: list[str]) -> float:
        common = sum(min(p.count(t), g.count(t)) for t in set(g))
        if not common:
            return 0.0
        precision, recall = common / len(p), common / len(g)
        return 2 * precision * recall / (precision + recall)

    p = toks(prediction)
    return max(f1(p, toks(a)) for a in answers)


# --- the registry ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Scorer:
    """One score column of the items table. `kind` says how it aggregates into metrics:
    `proportion` (a bool per item: the share right, with a 95% Wilson interval; a gate and
    compare metric) or `mean` (a float per item). `on` is what it reads: the prediction, or
    the answer `extract_answer` finds in it. `label` is how reports show it."""

    name: str
    fn: Callable[[str, list[str], str, bool], bool | float]
    kind: Literal["proportion", "mean"]
    label: str
    on: Literal["prediction", "extracted"] = "prediction"


SCORERS: tuple[Scorer, ...] = (
    Scorer("em", exact_match, "proportion", "exact match"),
    Scorer("contains", contains, "proportion", "contains the answer"),
    Scorer("lev_ratio", lev_ratio, "mean", "Levenshtein ratio"),
    Scorer("em_extracted", exact_match, "proportion", "exact match (extracted)", on="extracted"),
    Scorer("f1", token_f1, "mean", "token F1"),
)
PROPORTIONS = tuple(s.name for s in SCORERS if s.kind == "proportion")
MEANS = tuple(s.name for s in SCORERS if s.kind == "mean")
LABELS = {s.name: s.label for s in SCORERS}


def score(prediction: str | None, answers: list[str], lang: str, case: bool = False) -> dict:
    """Every scorer's column for one prediction, plus `extracted`; all None when there is no
    prediction (an errored item is never scored, so never counted as wrong)."""
    if prediction is None:
        return {"extracted": None, **{s.name: None for s in SCORERS}}
    extracted = extract_answer(prediction)
    read = {"prediction": prediction, "extracted": extracted}
    return {"extracted": extracted, **{s.name: s.fn(read[s.on], answers, lang, case) for s in SCORERS}}
