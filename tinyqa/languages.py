"""What tinyqa knows about languages, in one table: scoring and drift read it.

A language is a BCP-47 tag; only its primary subtag counts here (`pt-BR` is `pt`).
"""
from __future__ import annotations

# Written without spaces between words: a gold answer may appear anywhere in a prediction,
# token F1 counts characters, and drift's fertility is per character.
UNSPACED = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "yue", "wuu", "lzh"})
# Attach suffixes or particles to the answer word ("İstanbul'da", "서울입니다"): an answer
# must start a word but may be followed by more.
SUFFIXING = frozenset({"ko", "tr", "az", "fi", "hu", "et"})
# Articles dropped before comparing (when a word follows them in the same clause, and never
# a capital letter inside a sentence: "Vitamin A", "the answer is A"): "Le Nil" is "Nil".
ARTICLES = {
    "en": frozenset({"a", "an", "the"}),
    "fr": frozenset({"le", "la", "les", "l", "un", "une"}),
    "de": frozenset({"der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "einer", "eines"}),
    "es": frozenset({"el", "la", "los", "las", "un", "una", "unos", "unas"}),
    "pt": frozenset({"o", "a", "os", "as", "um", "uma"}),
}


# English names, for prompts and messages.
LANG_NAMES = {
    "ar": "Arabic", "bg": "Bulgarian", "cs": "Czech", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "fa": "Persian", "fi": "Finnish",
    "fr": "French", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian",
    "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch", "no": "Norwegian",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sv": "Swedish",
    "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese",
    "zh": "Chinese",
}


def language_name(lang: str) -> str:
    """`French` for `fr` (and `fr-CA`); the code itself for a language not listed."""
    return LANG_NAMES.get(base(lang), lang)


def base(lang: str) -> str:
    """The primary language subtag, lower-cased: `pt-BR` -> `pt`."""
    return lang.split("-")[0].lower()


def unspaced(lang: str) -> bool:
    return base(lang) in UNSPACED
