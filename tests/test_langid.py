"""Language identification of items (validators/langid.py): no false alarm on any shipped item,
and an English, Spanish or Italian item declared French is caught, by validate and generate."""
import pytest

from tinyqa.pack import load_pack, shipped_dir, shipped_ids
from tinyqa.validators.langid import CANDIDATES, MARGIN, identifier, other_language, verdict

# Written for these tests: each pair is a question and its context, in the language named.
WRONG_IN_FRENCH = {
    "en": ("What is the capital of Canada?", "Ottawa is the capital of Canada."),
    "es": ("¿Cuál es la capital de Canadá?", "La capital de Canadá es Ottawa."),
    "it": ("Qual è la capitale del Canada?", "La capitale del Canada è Ottawa."),
}
FRENCH = ("Quelle est la capitale du Canada ?", "Ottawa est la capitale du Canada.")


def test_every_shipped_item_reads_as_its_language():
    alarms = [(i.id, other_language(i.text, i.context, i.lang))
              for pid in shipped_ids() for i in load_pack(shipped_dir() / pid).items]
    assert len(alarms) == 616
    assert [a for a in alarms if a[1]] == []


@pytest.mark.parametrize("written_in", sorted(WRONG_IN_FRENCH))
def test_an_item_in_another_latin_language_is_caught_in_a_french_pack(written_in):
    text, context = WRONG_IN_FRENCH[written_in]
    assert other_language(text, context, "fr") == written_in
    assert other_language(text, context, written_in) is None
    assert other_language(*FRENCH, "fr") is None


def test_verdict_needs_the_margin_and_a_known_language():
    probs = dict.fromkeys(CANDIDATES, 0.0)
    assert verdict({**probs, "fr": 0.3, "en": 0.7}, "fr") is None                # ahead by 0.4 < 0.5
    assert verdict({**probs, "fr": 0.2, "en": 0.8}, "fr") == "en"
    assert verdict({**probs, "fr": 0.2, "en": 0.8}, "fr-CA") == "en"
    assert verdict({**probs, "en": 1.0}, "eu") is None                            # Basque: not checked
    assert other_language("Zein da Kanadako hiriburua?", "Ottawa da Kanadako hiriburua.", "eu") is None
    assert MARGIN == 0.5


def test_probabilities_cover_the_candidates():
    probs = identifier().probabilities("Welcher Fluss fließt durch Wien?\nDie Donau fließt durch Wien.")
    assert set(probs) == set(CANDIDATES) and abs(sum(probs.values()) - 1) < 1e-6
    assert max(probs, key=probs.get) == "de"

