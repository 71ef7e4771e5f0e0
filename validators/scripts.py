"""Which writing system a text is in, and which ones a language is written in."""
from __future__ import annotations

import unicodedata
from collections import Counter

from tinyqa.languages import base

# The scripts each language's letters may come from (digits, punctuation and symbols are
# script-neutral; Latin is always allowed a minority share for names, symbols and units).
LANG_SCRIPTS = {
    "ar": {"ARABIC"}, "fa": {"ARABIC"}, "ur": {"ARABIC"}, "he": {"HEBREW"},
    "zh": {"CJK"}, "ja": {"CJK", "HIRAGANA", "KATAKANA"}, "ko": {"HANGUL", "CJK"},
    "ru": {"CYRILLIC"}, "uk": {"CYRILLIC"}, "bg": {"CYRILLIC"}, "sr": {"CYRILLIC", "LATIN"},
    "el": {"GREEK"}, "hi": {"DEVANAGARI"}, "th": {"THAI"},
}
_PREFIXES = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "LATIN", "CYRILLIC", "ARABIC", "GREEK",
             "HEBREW", "DEVANAGARI", "THAI")


def script_of(ch: str) -> str | None:
    """The script of a letter (by its Unicode name), or None for digits, marks, punctuation."""
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    if name.startswith(("FULLWIDTH LATIN", "HALFWIDTH KATAKANA")):
        return "LATIN" if "LATIN" in name else "KATAKANA"
    return next((p for p in _PREFIXES if name.startswith(p)), "OTHER")


def scripts(text: str) -> Counter[str]:
    return Counter(s for s in map(script_of, text) if s)


def in_script(text: str, lang: str, min_share: float = 0.6) -> bool:
    """At least `min_share` of the letters of `text` belong to `lang`'s scripts (Latin for
    languages not listed). A text without letters (a number) passes."""
    counts = scripts(text)
    total = sum(counts.values())
    if not total:
        return True
    allowed = LANG_SCRIPTS.get(base(lang), {"LATIN"})
    return sum(counts[s] for s in allowed) / total >= min_share
