"""A model's checks next to the code's: tinyqa in a team's own pytest suite.

    pytest examples/test_model.py --tinyqa-model openai/my-model --tinyqa-api-base http://127.0.0.1:8000/v1

The session asks the model every item of the packs below once (one gate, however many tests
read it) and writes the run to ./reports (--tinyqa-reports). Against a baseline (--tinyqa-baseline
FILE, or else the latest passing run of the same model on the same packs in the reports) a
significant drop fails `test_no_regression`, naming the pack and the flipped items. An endpoint
that is down, or items that fail beyond the retry budget, make the tests errors, not failures.
"""
import pytest

PACKS = ["core_en", "core_fr"]


@pytest.mark.tinyqa(packs=PACKS)
def test_answers_contain_the_gold_answer(tinyqa_pack):
    """One test per pack: most answers contain the gold answer (the 95% interval is in the
    failure message)."""
    assert tinyqa_pack.contains >= 0.6


@pytest.mark.tinyqa(packs=PACKS)
def test_no_regression(tinyqa_pack):
    """One test per pack: no significant drop against the baseline, and the gate's floors met."""
    assert not tinyqa_pack.regressions()


@pytest.mark.tinyqa(packs=PACKS)
def test_french_answers_are_exact_once_unwrapped(tinyqa_gate):
    """A pack of the session's gate by name: the answer inside "Answer: …" wrappers is exact."""
    assert tinyqa_gate.pack("core_fr").em_extracted >= 0.5


@pytest.mark.tinyqa(packs=PACKS)
def test_tokenizer_did_not_drift(tinyqa_gate):
    """Skipped, with the gate's reason, unless a tokenizer is known (--tinyqa-tokenizer)."""
    assert tinyqa_gate.drift.changed == 0
