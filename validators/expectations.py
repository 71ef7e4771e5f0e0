"""The Great Expectations suite for a pack (ephemeral context, pandas batch).

Each expectation runs over a frame with one row per item; checks GE has no built-in for
(label contained in context, text in the language's script and in the language itself, an
inflected alias where the question asks for one, the normalised question) are precomputed
columns that an expectation then constrains.
"""
from __future__ import annotations

import functools
import logging
import re

from tinyqa.pack import Pack
from tinyqa.suites.scoring import normalize
from tinyqa.validators.inflection import missing_inflection
from tinyqa.validators.langid import describe, other_language
from tinyqa.validators.scripts import in_script

BOUNDS = {"text": (3, 500), "label": (1, 100), "context": (5, 1000)}
# A label in Latin letters is fine in any language when it is a symbol or acronym (Au, H2O, WWW).
SYMBOL = re.compile(r"[A-Za-z0-9]{1,5}")
# What a failing precomputed column means, in words (filled in from the item's row).
MEANING = {
    "in_script": "text, label or context is not written in the script of the item's lang",
    "in_language": "text and context read as {read_as}, not as the item's lang {lang}",
    "inflected_alias": "the question word «{asked}» asks for an inflected answer: list that form "
                       "among the aliases (packs/README.md, inflected answers)",
    "label_in_context": "the label is not verbatim in the context",
    "question_key": "the same question (after normalisation) appears twice",
}


def _row(i, n: int) -> dict:
    read_as = other_language(i.text, i.context, i.lang)
    asked = missing_inflection(i.text, i.label, list(i.aliases), i.lang)
    return {
        "line": n, "id": i.id, "text": i.text, "label": i.label, "context": i.context,
        "difficulty": i.tags.difficulty, "lang": i.lang, "sha256": i.sha256,
        "question_key": f"{i.lang}:{normalize(i.text, i.lang)}",
        "label_in_context": i.label in i.context,
        # Stress items (tagged with a hazard) mix scripts on purpose.
        "in_script": "hazard" in i.tags.model_dump() or (
            in_script(i.text, i.lang) and in_script(i.context, i.lang)
            and (in_script(i.label, i.lang) or SYMBOL.fullmatch(i.label) is not None)),
        # Languages that share a script: the question and context read by an identifier.
        "in_language": read_as is None,
        "read_as": describe(read_as) if read_as else "",
        "inflected_alias": asked is None,
        "asked": asked or "",
    }


def _frame(pack: Pack):
    import pandas as pd

    return pd.DataFrame([_row(i, n) for n, i in enumerate(pack.items, 1)])


def _suite(gxe, langs: list[str]) -> list:
    return [
        gxe.ExpectColumnValuesToNotBeNull(column="id"),
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToBeUnique(column="question_key"),
        gxe.ExpectColumnValuesToBeInSet(column="difficulty", value_set=["easy", "medium", "hard"]),
        gxe.ExpectColumnValuesToBeInSet(column="lang", value_set=langs),
        gxe.ExpectColumnValuesToBeInSet(column="label_in_context", value_set=[True]),
        gxe.ExpectColumnValuesToBeInSet(column="in_script", value_set=[True]),
        gxe.ExpectColumnValuesToBeInSet(column="in_language", value_set=[True]),
        gxe.ExpectColumnValuesToBeInSet(column="inflected_alias", value_set=[True]),
        gxe.ExpectColumnValuesToMatchRegex(column="sha256", regex=r"^[0-9a-f]{64}$"),
        *[gxe.ExpectColumnValueLengthsToBeBetween(column=c, min_value=lo, max_value=hi)
          for c, (lo, hi) in BOUNDS.items()],
    ]


@functools.cache
def _source():
    """One ephemeral GE context and pandas data source per process."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)   # GE sets some children to INFO
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx.data_sources.add_pandas("tinyqa")


def check(pack: Pack, declared_langs: list[str] | None = None) -> list[str]:
    """Run the suite; one line per failing item and expectation."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    df = _frame(pack)
    batch = (_source().add_dataframe_asset(f"{pack.id}-{id(df)}")
             .add_batch_definition_whole_dataframe("items").get_batch({"dataframe": df}))
    suite = gx.ExpectationSuite(name=f"tinyqa-{pack.id}", expectations=_suite(gxe, declared_langs or pack.langs))
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    problems = []
    data = pack.path / "data.jsonl"
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        column = cfg.kwargs.get("column")
        for idx in r.result.get("unexpected_index_list") or []:
            row = df.iloc[idx["index"] if isinstance(idx, dict) else idx]
            what = (MEANING[column].format(**row) if column in MEANING
                    else f"fails {cfg.type} (value {str(row[column])[:80]!r})")
            problems.append(f"{data}:{row['line']}: item {row['id']}: field {column}: {what}")
    return problems
