"""Inflected answers: the part of the alias rule (packs/README.md) that can be checked.

In Russian the question word shows the case the answer takes ("Каких братьев…?" asks for
"Кирилла и Мефодия", not the nominative "Кирилл и Мефодий"), and a declinable answer changes
its endings with it. When the question word is in an oblique case and the label has a word that
declines, an alias must give the inflected form. Other languages' answers inflect too (German
adjectives, Turkish stems), but their questions do not show it reliably: there the rule is the
authors' to apply. The scorer's own rules (docs/scoring.md) already take Turkish suffixes,
Korean particles and Arabic harakat.
"""
from __future__ import annotations

import re

from tinyqa.languages import base
from tinyqa.suites.scoring import normalize

# Interrogatives in an oblique case (genitive, dative, accusative of animates and feminines,
# instrumental, prepositional), read where a question word stands: first, or after a
# preposition ("В каком городе…?"). Elsewhere "чем" is "than" and "которого" a relative.
OBLIQUE_RU = frozenset(
    "кого кому кем ком чего чему чем каких каким какими какого какому каком какую "
    "чьего чьему чьим чьём чью чьих".split())
# A Russian word that declines: it ends in a consonant, а, я, й or ь (indeclinable loanwords
# end in о, е, и, у, ю, э: Сочи, Токио; these are not checked).
_DECLINES = re.compile(r"[а-яё]*[бвгджзклмнпрстфхцчшщаяйь]")


def _stems_match(a: str, b: str) -> bool:
    """Two words that differ only in their endings (at most two letters each)."""
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    return k >= max(1, min(len(a), len(b)) - 2)


def _inflected(form: str, of: str) -> bool:
    """`form` is `of` with other word endings (same words, same order, one ending changed)."""
    a, b = form.split(), of.split()
    return len(a) == len(b) and a != b and all(_stems_match(x, y) for x, y in zip(a, b))


def missing_inflection(text: str, label: str, aliases: list[str], lang: str) -> str | None:
    """The oblique question word when the item needs an inflected alias and lists none."""
    if base(lang) != "ru":
        return None
    asked = next((w for w in normalize(text, "ru").split()[:2] if w in OBLIQUE_RU), None)
    words = normalize(label, "ru").split()
    if asked is None or not any(_DECLINES.fullmatch(w) and w != "и" for w in words):
        return None
    forms = [normalize(a, "ru") for a in [label, *aliases]]
    if any(_inflected(f, g) for f in forms[1:] for g in forms):
        return None
    return asked
