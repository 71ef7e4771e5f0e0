"""The pack generator against a scripted OpenAI-compatible server (and, marked slow, the
embedded model): exact counts, every kind of bad candidate rejected and counted, broken
replies retried, byte-identical regeneration, nothing invalid ever written."""
import asyncio
import json
import re
import subprocess
import threading

import pytest

from conftest import MINI, write_pack
from fakeserver import Fault, ScriptedServer


def item(text, label, context, category, aliases=()):
    return {"text": text, "label": label, "aliases": list(aliases), "context": context, "category": category}


# Written for these tests; none repeats a question of the shipped core packs (the exemplars).
BANK = {
    "fr": {
        "science": [
            item("Quel gaz les plantes absorbent-elles pour la photosynthèse ?", "dioxyde de carbone",
                 "Pour la photosynthèse, les plantes absorbent le dioxyde de carbone de l'air.", "science"),
            item("Combien de planètes compte le système solaire ?", "8",
                 "Le système solaire compte 8 planètes.", "science", ["huit"]),
            item("Quel organe pompe le sang dans le corps humain ?", "cœur",
                 "Le cœur pompe le sang dans tout le corps humain.", "science", ["le cœur"]),
            item("Quelle planète est surnommée la planète rouge ?", "Mars",
                 "Mars est surnommée la planète rouge.", "science"),
        ],
        "history": [
            item("Qui fut sacré empereur des Français en 1804 ?", "Napoléon Bonaparte",
                 "En 1804, Napoléon Bonaparte fut sacré empereur des Français.", "history", ["Napoléon"]),
            item("Quelle reine de France fut guillotinée en 1793 ?", "Marie-Antoinette",
                 "Marie-Antoinette fut guillotinée à Paris en 1793.", "history"),
            item("Quel navigateur atteignit l'Amérique en 1492 ?", "Christophe Colomb",
                 "En 1492, Christophe Colomb atteignit l'Amérique.", "history", ["Colomb"]),
            item("En quelle année Charles de Gaulle lança-t-il l'appel du 18 Juin ?", "1940",
                 "Charles de Gaulle lança l'appel du 18 Juin en 1940.", "history"),
        ],
    },
    "de": {
        "science": [
            item("Welches Gas atmen Menschen zum Leben ein?", "Sauerstoff",
                 "Menschen atmen Sauerstoff ein, um zu leben.", "science"),
            item("Wie viele Beine hat ein Insekt?", "6", "Ein Insekt hat 6 Beine.", "science", ["sechs"]),
            item("Welcher Planet ist der Sonne am nächsten?", "Merkur",
                 "Merkur ist der Planet, der der Sonne am nächsten ist.", "science"),
            item("Welches chemische Symbol hat Gold?", "Au", "Gold hat das chemische Symbol Au.", "science"),
        ],
        "history": [
            item("In welchem Jahr endete der Zweite Weltkrieg in Europa?", "1945",
                 "Der Zweite Weltkrieg endete in Europa im Jahr 1945.", "history"),
            item("Welcher Kanzler gilt als Gründer des Deutschen Kaiserreichs von 1871?", "Otto von Bismarck",
                 "Otto von Bismarck gilt als Gründer des Deutschen Kaiserreichs von 1871.", "history", ["Bismarck"]),
            item("Wer erfand um 1450 den Buchdruck mit beweglichen Lettern?", "Johannes Gutenberg",
                 "Johannes Gutenberg erfand um 1450 den Buchdruck mit beweglichen Lettern.", "history", ["Gutenberg"]),
            item("Welches Jahr gilt als Jahr der deutschen Wiedervereinigung?", "1990",
                 "Die deutsche Wiedervereinigung fand im Jahr 1990 statt.", "history"),
        ],
    },
}


def parse_request(message: str) -> tuple[str, dict[str, int], list[str]]:
    """The language, the items wanted per category and the questions not to repeat."""
    lang = re.search(r"^Language: (\S+)", message, re.M).group(1)
    wanted = {c: int(k) for c, k in re.findall(r"(\w+): (\d+)", re.search(r"^Write .*$", message, re.M).group(0))}
    avoid = re.findall(r"^- (.*)$", message, re.M)
    return lang, wanted, avoid


def good_items(message: str) -> list[dict]:
    """What a good model answers: the next bank items it has not written yet."""
    lang, wanted, avoid = parse_request(message)
    out = []
    for cat, k in wanted.items():
        out += [i for i in BANK[lang][cat] if i["text"] not in avoid][:k]
    return out


def good(message: str, attempt: int) -> str:
    return json.dumps({"items": good_items(message)}, ensure_ascii=False)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYQA_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def run_generation(url, *, languages="fr,de", n=8, use_cache=False, **kw):
    from tinyqa.generators import generate as gen
    from tinyqa.models.llm import target

    from tinyqa.models.cache import ResponseCache

    spec = gen.make_spec(languages, "science,history", n, "openai/scripted", api_base=url, **kw)
    t = target("openai/scripted", url)
    cache = ResponseCache() if use_cache else None
    return asyncio.run(gen.generate(spec, t, gen.gathering(t, lambda r: gen.ask_one(t, r, cache))))


def files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_exact_counts_valid_pack_and_byte_identical_regeneration(tmp_path, cache_dir):
    from tinyqa.generators import generate as gen
    from tinyqa.pack import load_pack
    from tinyqa.validators.validate import validate_pack

    folders = []
    for slow in ("fr", "de"):   # in each round, the other language is answered first
        other_answered = threading.Semaphore(0)

        def reply(message, attempt, slow=slow, other_answered=other_answered):
            if parse_request(message)[0] == slow:
                assert other_answered.acquire(timeout=60)
                return good(message, attempt)
            try:
                return good(message, attempt)
            finally:
                other_answered.release()

        with ScriptedServer(reply) as srv:
            outcome = run_generation(srv.url, batch_size=1, seed=7, published="2026-11-23")
        folders.append(gen.write_pack(outcome, tmp_path / slow / "gen_pack"))
        bodies = [r["body"] for r in srv.requests]
    assert outcome.complete and outcome.usage.calls == 8        # batch size 1: one item a request
    assert files(folders[0]) == files(folders[1])               # byte-identical, whatever answered first
    assert validate_pack(folders[0]) == []
    pack = load_pack(folders[0])
    counts = {}
    for i in pack.items:
        counts[(i.lang, i.tags.category)] = counts.get((i.lang, i.tags.category), 0) + 1
        assert i.tags.difficulty == "medium" and i.provenance.source == "generated"
        assert i.provenance.model == "openai/scripted" and len(i.provenance.prompt_hash) == 64
    assert counts == {("fr", "science"): 2, ("fr", "history"): 2, ("de", "science"): 2, ("de", "history"): 2}
    assert [i.lang for i in pack.items] == ["fr"] * 4 + ["de"] * 4
    # Sampling parameters: the run's seed gives each (language, batch) its own sampling seed.
    seeds = {b["seed"] for b in bodies}
    assert len(seeds) == 8 and all(b["temperature"] == 0.7 and b["max_tokens"] > 48 for b in bodies)
    assert all("response_format" not in b for b in bodies)     # unmapped model: lenient parsing
    system = bodies[0]["messages"][0]["content"]
    assert "label" in system and "ONE sentence" in system and "Examples" in system
    readme = (folders[0] / "README.md").read_text()
    assert "seed: 7" in readme and "8 requests" in readme and "openai/scripted" in readme
    meta = json.loads((folders[0] / "croissant.json").read_text())
    assert meta["datePublished"].startswith("2026-11-23") and sorted(meta["inLanguage"]) == ["de", "fr"]


def test_every_kind_of_bad_candidate_is_rejected_and_counted(tmp_path, cache_dir):
    from tinyqa.generators import generate as gen
    from tinyqa.validators.validate import validate_pack

    from tinyqa.generators.prompts import exemplars
    from tinyqa.validators.croissant import describe_pack

    avoided = describe_pack(write_pack(tmp_path / "old_fr", [MINI[3]])).path   # capitale de l'Italie
    shown = exemplars("fr", ["science", "history"], seed=0)[0]                 # what the prompt shows
    motto = "Liberté, Égalité, Fraternité, et bien plus encore pour tous les citoyens"   # 70 characters
    valid = BANK["fr"]["science"][0]
    bad = [
        valid,
        item("Quelle est la capitale du Portugal ?", "Lisbonne",
             "Le Portugal a pour capitale Porto.", "history"),                              # label not in context
        item("Кто написал роман «Война и мир»?", "Лев Толстой",
             "Роман «Война и мир» написал Лев Толстой.", "history"),                        # wrong script
        item("Who was crowned Emperor of the French in 1804?", "Napoleon",
             "In 1804, Napoleon was crowned Emperor of the French.", "history"),            # wrong language
        {**valid, "text": "QUEL gaz les plantes absorbent-elles, pour la photosynthèse?"},   # duplicate
        {**valid, "label": 42},                                                             # schema
        item("Quel est le plus haut sommet d'Afrique ?", "Kilimandjaro",
             "Le Kilimandjaro est le plus haut sommet d'Afrique.", "geography"),            # category
        item(MINI[3]["text"], "Rome", "Rome est la capitale de l'Italie.", "history"),      # avoided pack
        item("Quelle est la devise de la République française ?", motto,
             f"La devise est {motto}.", "history"),                                         # length
        "not an object",                                                                    # schema
        item("La capitale de la Belgique est Bruxelles.", "Bruxelles",
             "Bruxelles est la capitale de la Belgique.", "history"),                       # not a question
        item(shown.text, shown.label, shown.context, shown.tags.category),                # exemplar copied
    ]

    def reply(message, attempt):
        lang, wanted, avoid = parse_request(message)
        if not avoid:   # the first request: every kind of bad candidate, one valid item
            return json.dumps({"items": bad}, ensure_ascii=False)
        return good(message, attempt)

    with ScriptedServer(reply) as srv:
        outcome = run_generation(srv.url, languages="fr", n=4, avoid=str(avoided))
    assert shown.text in srv.requests[0]["body"]["messages"][0]["content"]
    state = outcome.states[0]
    assert dict(state.rejected) == {"label_not_in_context": 1, "script": 1, "language": 1, "duplicate": 1, "schema": 2,
                                    "category": 1, "avoided": 1, "length": 1, "exemplar": 1,
                                    "not_a_question": 1}
    assert outcome.complete and outcome.usage.calls == 2
    texts = [i.text for i in outcome.items]
    assert texts.count(valid["text"]) == 1 and not any("Portugal" in t or "Война" in t or "Emperor" in t
                                                        for t in texts)
    folder = gen.write_pack(outcome, tmp_path / "gen_fr")
    assert validate_pack(folder) == []
    readme = (folder / "README.md").read_text()
    assert "label_not_in_context" in readme and "exemplar" in readme


def test_an_english_item_offered_for_a_french_pack_is_rejected(tmp_path, cache_dir):
    """The issue's case: `--languages fr --categories geography --n 1` against a server that
    offers an English item first. Same script, so only language identification tells."""
    from tinyqa.generators import generate as gen
    from tinyqa.models.llm import target
    from tinyqa.pack import load_pack
    from tinyqa.validators.validate import validate_pack

    english = item("What is the capital of Canada?", "Ottawa", "Ottawa is the capital of Canada.", "geography")
    french = item("Quelle est la capitale du Canada ?", "Ottawa", "Ottawa est la capitale du Canada.", "geography")

    def reply(message, attempt):
        return json.dumps({"items": [english] if attempt == 1 else [french]}, ensure_ascii=False)

    with ScriptedServer(reply) as srv:
        spec = gen.make_spec("fr", "geography", 1, "openai/scripted", api_base=srv.url)
        t = target("openai/scripted", srv.url)
        outcome = asyncio.run(gen.generate(spec, t, gen.gathering(t, lambda r: gen.ask_one(t, r, None))))
    assert dict(outcome.states[0].rejected) == {"language": 1}
    assert outcome.complete and outcome.usage.calls == 2
    folder = gen.write_pack(outcome, tmp_path / "gen_fr")
    assert validate_pack(folder) == []
    assert [i.text for i in load_pack(folder).items] == [french["text"]]
    assert "| lang | language |\n|---|---|\n| fr | 1 |" in (folder / "README.md").read_text()   # rejections table


def test_broken_replies_are_retried_and_repairs_named(tmp_path, cache_dir):
    replies = {
        1: '{"items": [{"text": "Quel gaz les plantes',                         # cut off, nothing complete
        2: "Je suis désolé, je ne peux pas vous aider avec cette demande.",     # a refusal
        3: Fault(400),                                                         # a provider error
    }

    def reply(message, attempt):
        lang, wanted, avoid = parse_request(message)
        if lang == "de":
            return good(message, attempt)
        if attempt in replies:
            return replies[attempt]
        body = json.dumps({"questions": good_items(message)}, ensure_ascii=False)
        return f"Voici les questions :\n```json\n{body}\n```\nBonne chance !"

    with ScriptedServer(reply) as srv:
        outcome = run_generation(srv.url)
    fr, de = outcome.states
    assert dict(fr.replies) == {"broken_json": 1, "refusal": 1, "api_error": 1, "repaired": 1}
    assert dict(fr.repairs) == {"code fence removed": 1, "text around the code fence ignored": 1,
                                "wrapping object 'questions' unwrapped": 1}
    assert dict(de.replies) == {"read": 1} and outcome.complete and len(outcome.items) == 8
    assert outcome.usage.calls == 5 and "BadRequestError" in fr.errors[0]


def test_shortfall_is_reported_and_a_partial_pack_still_valid(tmp_path, cache_dir):
    from tinyqa.generators import generate as gen
    from tinyqa.validators.validate import validate_pack

    def reply(message, attempt):
        lang, wanted, avoid = parse_request(message)
        if lang == "de":
            return "I cannot help with that."
        items = good_items(message)
        return json.dumps({"items": items[:1]}, ensure_ascii=False)   # one item a reply

    with ScriptedServer(reply) as srv:
        outcome = run_generation(srv.url, max_calls=5)
    s = outcome.summary()
    assert not outcome.complete and outcome.usage.calls == 5
    assert s["missing"] == {"fr": {"history": 1}, "de": {"science": 2, "history": 2}}
    assert "call budget spent (5 of 5 requests)" in gen.missing_line(s)
    assert s["kept"] == {"fr": 3, "de": 0} and s["replies"]["de"] == {"refusal": 2}
    # What --allow-partial writes: the valid items, the shortfall in the data card.
    folder = gen.write_pack(outcome, tmp_path / "partial")
    assert validate_pack(folder) == [] and len((folder / "data.jsonl").read_text().splitlines()) == 3
    assert "## Missing (a partial pack)" in (folder / "README.md").read_text()


def test_token_budget_stops_the_top_up(cache_dir):
    with ScriptedServer(lambda m, a: "No.") as srv:      # 13 tokens a reply (fakeserver usage)
        outcome = run_generation(srv.url, max_tokens=30)
    assert outcome.usage.calls == 4 and outcome.usage.tokens == 52
    assert outcome.stopped == "token budget spent (52 of 30 tokens)" and outcome.items == []


def test_out_is_replaced_only_with_force_and_keeps_its_date(tmp_path, cache_dir):
    import dataclasses

    from tinyqa.errors import InputError
    from tinyqa.generators import generate as gen

    with ScriptedServer(good) as srv:
        outcome = run_generation(srv.url, languages="de", n=2, published="2020-01-02")
    folder = gen.write_pack(outcome, tmp_path / "gen_de")
    before = files(folder)
    again = dataclasses.replace(outcome, spec=dataclasses.replace(outcome.spec, published=None))
    with pytest.raises(InputError, match="exists and is not empty"):
        gen.write_pack(again, folder)
    gen.write_pack(again, folder, force=True)
    assert files(folder) == before                    # datePublished kept from the earlier file
    assert [p.name for p in tmp_path.iterdir()] == ["gen_de"]   # no temporary sibling left


def test_endpoint_failing_every_request_is_an_infrastructure_error(cache_dir):
    from tinyqa.errors import InfraError

    with ScriptedServer(lambda m, a: Fault(400)) as srv:
        with pytest.raises(InfraError, match="every request of the first round failed beyond its retries"):
            run_generation(srv.url)
        assert len(srv.requests) == 2


@pytest.mark.parametrize(("reply", "candidates", "repairs", "problem"), [
    ('{"items": [{"text": "a"}]}', [{"text": "a"}], (), None),
    ('[{"text": "a"}]', [{"text": "a"}], (), None),
    ('```json\n{"items": []}\n```', [], ("code fence removed",), None),
    ('Sure! {"items": [{"text": "a"}]} Hope this helps.', [{"text": "a"}],
     ("text before the JSON ignored", "text after the JSON ignored"), None),
    ('{"data": [{"text": "a"}]}', [{"text": "a"}], ("wrapping object 'data' unwrapped",), None),
    ('{"text": "q", "label": "l"}', [{"text": "q", "label": "l"}], ("single item wrapped in a list",), None),
    ('{"items": [{"text": "a"}, {"text": "b"', [{"text": "a"}], ("cut-off JSON: complete items kept",), None),
    ("I'm sorry, I can't help with that.", None, (), "refusal"),
    ("", None, (), "refusal"),
    ('{"items": [{"text": ', None, (), "broken_json"),
    ('{"a": 1, "b": 2}', None, (), "no_items"),
])
def test_lenient_reading(reply, candidates, repairs, problem):
    from tinyqa.generators.prompts import read_items

    r = read_items(reply)
    assert (r.candidates, r.repairs, r.problem) == (candidates, repairs, problem)


def test_structured_output_where_supported_and_cache_key_holds_params(cache_dir):
    import asyncio

    from tinyqa.generators import prompts
    from tinyqa.models import llm

    assert prompts.structured_mode("openai/gpt-4o-mini", local=False) == "json_schema"
    assert prompts.structured_mode("openai/scripted", local=False) == "none"
    assert prompts.structured_mode("openai/anything", local=True) == "grammar"
    rf = prompts.response_format("json_schema", ["science"], 3)
    assert rf["json_schema"]["strict"] and rf["json_schema"]["schema"]["required"] == ["items"]
    assert prompts.response_format("grammar", ["science"], 3)["schema"]["properties"]["items"]["maxItems"] == 3

    cache = llm.ResponseCache()
    msgs = [{"role": "user", "content": "q"}]
    with ScriptedServer(lambda m, a: f"answer {a}") as srv:
        t = llm.target("openai/scripted", srv.url)
        run = lambda **kw: asyncio.run(llm.complete(t, msgs, cache=cache, **kw))  # noqa: E731
        first = run(params={"seed": 1, "max_tokens": 500}, response_format={"type": "json_object"})
        again = run(params={"seed": 1, "max_tokens": 500}, response_format={"type": "json_object"})
        other = run(params={"seed": 2, "max_tokens": 500}, response_format={"type": "json_object"})
        plain = run()
    assert (first.text, again.cached, other.text, plain.text) == ("answer 1", True, "answer 2", "answer 3")
    body = srv.requests[0]["body"]
    assert body["response_format"] == {"type": "json_object"} and body["max_tokens"] == 500
    assert srv.requests[-1]["body"]["max_tokens"] == 48 and "response_format" not in srv.requests[-1]["body"]


@pytest.mark.parametrize(("args", "needle"), [
    (["--languages", "fr,english!", "--n", "4"], "--languages: 'english!' is not a language code"),
    (["--languages", "fr", "--n", "0"], "--n: 0 items asked"),
    (["--languages", "fr", "--n", "4", "--out", "packs/Bad Name"], "--out: pack id 'Bad Name'"),
    (["--languages", "fr", "--n", "4", "--avoid", "no_such_pack"], "--avoid: unknown pack 'no_such_pack'"),
    (["--languages", "fr", "--n", "4", "--out", "FULL"], "exists and is not empty (--force replaces it)"),
])
def test_cli_rejects_bad_input_in_one_line_before_any_flow(args, needle, tmp_path, monkeypatch, capsys):
    import sys

    from tinyqa import cli

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    args = [str(tmp_path / "full") if a == "FULL" else a for a in args]
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "p")]
    argv = ["tinyqa", "generate", "--categories", "science", "--model", "openai/x",
            "--api-base", "http://127.0.0.1:9/v1"]
    monkeypatch.setattr(sys, "argv", argv + args)
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("tinyqa: error: ") and needle in err, err
    assert not (tmp_path / "p").exists() and (tmp_path / "full" / "x").read_text() == "x"


@pytest.mark.slow
def test_flow_and_cli_write_print_or_refuse(prefect_harness, tmp_path, cache_dir):
    from typer.testing import CliRunner

    from tinyqa.cli import app
    from pydantic import SecretStr

    from tinyqa.errors import InfraError
    from tinyqa.flows.generate import generate_pack
    from tinyqa.generators import generate as gen
    from tinyqa.validators.validate import validate_pack

    with ScriptedServer(good) as srv:
        spec = gen.make_spec(["fr", "de"], ["science", "history"], 8, "openai/scripted", api_base=srv.url,
                             published="2026-11-23")
        result = asyncio.run(generate_pack(spec, api_base=SecretStr(srv.url), out=str(tmp_path / "flow" / "gen_pack")))
        assert result["complete"] and result["written"] and validate_pack(tmp_path / "flow" / "gen_pack") == []
        base = ["generate", "--languages", "fr,de", "--categories", "science,history", "--n", "8",
                "--model", "openai/scripted", "--api-base", srv.url, "--date", "2026-11-23"]
        res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "cli" / "gen_pack")])
        assert res.exit_code == 0, res.output
        assert "fr: 4/4 items" in res.output and "usage: " in res.output
        # Same seed, same replies (from the cache this time): the same bytes.
        assert files(tmp_path / "cli" / "gen_pack") == files(tmp_path / "flow" / "gen_pack")
        res = CliRunner().invoke(app, [*base, "--str-output"])
        assert res.exit_code == 0 and res.stdout == (tmp_path / "flow" / "gen_pack" / "data.jsonl").read_text()
    with ScriptedServer(lambda m, a: "No." if "Language: de" in m else good(m, a)) as srv:
        res = CliRunner().invoke(app, ["generate", "--languages", "fr,de", "--categories", "science", "--n", "4",
                                       "--model", "openai/scripted", "--api-base", srv.url, "--max-calls", "4",
                                       "--out", str(tmp_path / "short_pack"), "--no-cache"])
    assert res.exit_code == 1 and "could not obtain de: 2 missing (science 2)" in res.stderr
    assert not (tmp_path / "short_pack").exists()
    with ScriptedServer(lambda m, a: Fault(400)) as srv:   # the endpoint refuses every request: exit 3
        res = CliRunner().invoke(app, ["generate", "--languages", "fr", "--categories", "science", "--n", "2",
                                       "--model", "openai/scripted", "--api-base", srv.url,
                                       "--out", str(tmp_path / "down_pack")])
    assert isinstance(res.exception, InfraError) and not (tmp_path / "down_pack").exists()


@pytest.mark.slow
def test_embedded_model_yields_a_valid_pack_or_says_what_is_missing(tinyqa_bin, cli_env, tmp_path):
    from tinyqa.validators.validate import validate_pack

    out = tmp_path / "local_pack"
    res = subprocess.run([tinyqa_bin, "generate", "--languages", "en", "--categories", "geography",
                          "--n", "4", "--model", "local", "--max-calls", "2", "--batch-size", "2",
                          "--out", str(out)],
                         capture_output=True, text=True, env=cli_env, timeout=240)
    assert "Traceback" not in res.stderr
    assert "usage: 2 requests" in res.stdout and "structured output: grammar" in res.stdout
    if res.returncode == 0:
        assert validate_pack(out) == []
    else:
        assert res.returncode == 1 and "could not obtain en:" in res.stderr, res.stderr
        assert not out.exists()
