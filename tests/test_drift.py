"""The tokenizer-drift suite with real tokenizers only: the embedded model's GGUF, Gemma 3's
GGUF, tiktoken's cl100k_base and o200k_base, and byte-level BPE tokenizer.json files trained
here on the pack texts, then edited (an added token, a changed normaliser)."""
import json
import subprocess
from pathlib import Path

import pyarrow.compute as pc
import pytest

from tinyqa.errors import InputError
from tinyqa.pack import resolve_packs, shipped_ids
from tinyqa.reports import store
from tinyqa.suites import drift, tokenizers

SHIPPED = drift.shipped_baseline("local")
REGENERATE = "tinyqa drift --tokenizer local --write-baseline packs/baselines/drift-local.json"


def tinyqa(bin_, env, *args):
    return subprocess.run([bin_, *args], capture_output=True, text=True, env=env, timeout=120)


def one_line_error(res, code, *needles):
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.fixture(scope="module")
def packs():
    return resolve_packs(shipped_ids())


@pytest.fixture(scope="module")
def toks():
    """Each real tokenizer loaded once."""
    cache = {}

    def get(spec):
        if spec not in cache:
            cache[spec] = tokenizers.load(spec)
        return cache[spec]

    return get


@pytest.fixture(scope="session")
def gemma_gguf():
    return tokenizers.gemma3_gguf()  # assembled once under $TINYQA_CACHE_DIR (default ~/.cache/tinyqa)


@pytest.fixture(scope="module")
def bpe_json(tmp_path_factory, packs):
    """A byte-level BPE tokenizer.json trained on the shipped packs' texts."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    texts = [s for p in packs for i in p.items for s in (i.text, i.label)]
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=1500, show_progress=False,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    path = tmp_path_factory.mktemp("bpe") / "tokenizer.json"
    tok.save(str(path))
    return path


def changed_by_encoding(tok_a, tok_b, packs) -> set[tuple[str, str]]:
    """The items whose question or answer ids differ between two tokenizers, found directly."""
    items = [(p.id, i) for p in packs for i in p.items]
    texts = [s for _, i in items for s in (i.text, i.label)]
    a, b = tok_a.encode_batch(texts), tok_b.encode_batch(texts)
    return {(pid, i.id) for k, (pid, i) in enumerate(items) if a[2 * k:2 * k + 2] != b[2 * k:2 * k + 2]}


def run_against(tok_spec, baseline_fp_tok, packs, toks, **kw):
    """Fingerprint `baseline_fp_tok` as the baseline (in memory) and compare `tok_spec` with it."""
    base_tok = toks(baseline_fp_tok) if isinstance(baseline_fp_tok, str) else baseline_fp_tok
    base = drift.fingerprint(base_tok, packs)
    drift.measure(base_tok, base, packs)
    tok = toks(tok_spec) if isinstance(tok_spec, str) else tok_spec
    now = drift.fingerprint(tok, packs)
    drift.measure(tok, now, packs)
    return drift.compare(now, base, tok, drift.Limits(**kw))


# --- the committed baseline ---------------------------------------------------------------------

def test_shipped_baseline_is_valid_and_covers_the_packs(packs):
    assert SHIPPED is not None, f"regenerate it: {REGENERATE}"
    base = drift.load_fingerprint(SHIPPED)
    assert base.tokenizer["spec"] == "local"
    keys = {it.key for it in base.items}
    shipped = {(p.id, i.id) for p in packs for i in p.items}
    # Packs added after the baseline are `new` (not drift); report if most of them are missing.
    assert len(keys & shipped) >= 0.5 * len(shipped), f"the baseline is stale: {REGENERATE}"


def test_local_against_its_baseline_twice_via_cli(tinyqa_bin, cli_env, tmp_path):
    reports = tmp_path / "reports"
    for _ in range(2):
        res = tinyqa(tinyqa_bin, cli_env, "drift", "--tokenizer", "local", "--baseline", str(SHIPPED),
                     "--reports", str(reports))
        assert res.returncode == 0, res.stdout + res.stderr
        assert f"no drift against {SHIPPED}" in res.stdout
        assert " 0 changed" in res.stdout and "FAIL" not in res.stderr
    runs = store.read(reports, "runs").to_pylist()
    assert [r["suite"] for r in runs] == ["drift", "drift"] and {r["status"] for r in runs} == {"complete"}
    run_id = runs[0]["run_id"]
    rows = store.read(reports, "drift", pc.field("run_id") == run_id).to_pylist()
    assert len(rows) == sum(len(p.items) for p in resolve_packs(shipped_ids()))
    assert not any(r["changed"] for r in rows)
    assert all(r["ids_sha"] == r["baseline_ids_sha"] for r in rows if r["baseline_ids_sha"])
    metrics = store.read(reports, "metrics", pc.field("run_id") == run_id).to_pylist()
    assert {m["suite"] for m in metrics} == {"drift"}
    got = {(m["slice"], m["metric"]): m["value"] for m in metrics}
    assert got[("all", "items_changed")] == 0 and got[("all", "identity_parts_changed")] == 0
    assert got[("lang=en", "roundtrip_fidelity")] == 1.0 and got[("lang=en", "fertility")] > 1


# --- another tokenizer, or an edited one, is flagged on exactly the items it affects ------------

def test_gemma_against_local_baseline_names_the_changed_items(tinyqa_bin, cli_env, gemma_gguf, packs, toks, tmp_path):
    res = tinyqa(tinyqa_bin, cli_env, "drift", "--tokenizer", str(gemma_gguf), "--baseline", str(SHIPPED),
                 "--show", "100000", "--reports", str(tmp_path / "r"))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "FAIL" in res.stderr and "tokenizer identity changed: " in res.stderr
    named = {tuple(line.split()[1].split("/")) for line in res.stdout.splitlines() if line.startswith("changed ")}
    base_keys = {it.key for it in drift.load_fingerprint(SHIPPED).items}
    expected = changed_by_encoding(toks("local"), toks(str(gemma_gguf)), packs) & base_keys
    assert named == expected and len(expected) > 100
    # old and new tokens are shown readably
    assert any("[Tokyo]" in line and "[To][kyo]" in line for line in res.stdout.splitlines())


def test_cl100k_against_o200k_and_against_itself(packs, toks):
    c = run_against("tiktoken:o200k_base", "tiktoken:cl100k_base", packs, toks)
    expected = changed_by_encoding(toks("tiktoken:cl100k_base"), toks("tiktoken:o200k_base"), packs)
    assert {(d["pack_id"], d["item_id"]) for d in c.changed} == expected
    assert expected  # different vocabularies: ids differ even where the pieces agree
    assert {d["part"] for d in c.identity_changed} == {"vocab", "special_tokens", "pre_tokenizer"}
    assert not c.passed
    same = run_against("tiktoken:cl100k_base", "tiktoken:cl100k_base", packs, toks)
    assert same.passed and not same.changed and not same.identity_changed


def test_gemma_against_its_own_fingerprint(packs, toks, gemma_gguf):
    c = run_against(str(gemma_gguf), str(gemma_gguf), packs, toks)
    assert c.passed and c.unchanged == sum(len(p.items) for p in packs)


def _edited(src: Path, dst: Path, edit) -> Path:
    data = json.loads(src.read_text(encoding="utf-8"))
    edit(data)
    dst.mkdir()
    (dst / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return dst


def test_added_token_flags_exactly_the_items_containing_it(bpe_json, packs, toks, tmp_path):
    def add_paris(data):
        next_id = max(data["model"]["vocab"].values()) + 1
        data["added_tokens"].append({"id": next_id, "content": "Paris", "single_word": False, "lstrip": False,
                                     "rstrip": False, "normalized": False, "special": False})

    edited = _edited(bpe_json, tmp_path / "added", add_paris)
    c = run_against(str(edited), str(bpe_json), packs, toks)
    expected = {(p.id, i.id) for p in packs for i in p.items if "Paris" in i.text or "Paris" in i.label}
    assert expected and {(d["pack_id"], d["item_id"]) for d in c.changed} == expected
    assert [d["part"] for d in c.identity_changed] == ["added_tokens"]
    assert all("Paris" in d["new"]["question"] + d["new"]["answer"] for d in c.changed)


def test_changed_normaliser_flags_exactly_the_items_it_rewrites(bpe_json, packs, toks, tmp_path):
    from tokenizers import normalizers

    edited = _edited(bpe_json, tmp_path / "nfkc", lambda d: d.update(normalizer={"type": "NFKC"}))
    c = run_against(str(edited), str(bpe_json), packs, toks)
    nfkc = normalizers.NFKC()
    expected = {(p.id, i.id) for p in packs for i in p.items
                if nfkc.normalize_str(i.text) != i.text or nfkc.normalize_str(i.label) != i.label}
    assert 0 < len(expected) < sum(len(p.items) for p in packs)
    assert {(d["pack_id"], d["item_id"]) for d in c.changed} == expected
    assert [d["part"] for d in c.identity_changed] == ["normalizer"]
    # NFKC rewrites full-width punctuation: round-trip fidelity drops where it does
    breached = {(d["lang"], d["metric"]) for d in c.metric_deltas if d["breach"]}
    assert ("ja", "roundtrip_fidelity") in breached


# --- baselines: new items, invalid files ----------------------------------------------------------

def test_items_absent_from_the_baseline_are_new_not_drift(tmp_path):
    path = tmp_path / "en.json"
    drift.run("tiktoken:cl100k_base", ["core_en"], write_to=path)
    res = drift.run("tiktoken:cl100k_base", ["core_en", "core_de"], baseline=path)
    n_de = len(resolve_packs("core_de")[0].items)
    assert res.passed and res.details["new"] == n_de and not res.details["changed"]
    fewer = drift.run("tiktoken:cl100k_base", ["stress_tokenizer"], baseline=path)
    assert fewer.passed and fewer.details["unchanged"] == 0 and fewer.details["missing"] == 52


@pytest.mark.parametrize("content, needle", [
    ("{not json", "invalid JSON"),
    ('{"items": []}', "no `format` field"),
    ('{"format": 9}', "baseline format 9 is not supported"),
])
def test_invalid_baseline_is_an_input_error(tmp_path, content, needle):
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(InputError, match=needle) as e:
        drift.load_fingerprint(path)
    assert str(path) in str(e.value)


def test_invalid_baseline_item_via_cli(tinyqa_bin, cli_env, tmp_path):
    data = json.loads(SHIPPED.read_text(encoding="utf-8"))
    data["items"][3]["q_n"] = "seven"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    res = tinyqa(tinyqa_bin, cli_env, "drift", "--tokenizer", "local", "--baseline", str(path),
                 "--reports", str(tmp_path / "r"))
    one_line_error(res, 2, str(path), "items.3.q_n")
    assert not (tmp_path / "r").exists()  # nothing written


# --- tokenizer sources -------------------------------------------------------------------------

@pytest.mark.parametrize("spec, needle", [
    ("tiktoken:r50k_base", "cannot be loaded offline"),
    ("no-such-org/no-such-model", "cannot be loaded offline"),
    ("./missing/tokenizer.json", "no such file"),
])
def test_unloadable_tokenizer_is_an_input_error(spec, needle):
    with pytest.raises(InputError, match=needle):
        tokenizers.load(spec)


def test_unloadable_tokenizer_via_cli(tinyqa_bin, cli_env):
    res = tinyqa(tinyqa_bin, cli_env, "drift", "--tokenizer", "tiktoken:r50k_base")
    one_line_error(res, 2, "r50k_base", "cannot be loaded offline")


def test_not_a_gguf_file(tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"not a gguf at all")
    with pytest.raises(InputError, match="not a GGUF file"):
        tokenizers.load(str(bad))


def test_model_strings_resolve_offline():
    assert tokenizers.for_model("local") == "local"
    assert tokenizers.for_model("openai/gpt-4o-mini") == "tiktoken:o200k_base"
    assert tokenizers.for_model("gpt-4") == "tiktoken:cl100k_base"
    assert tokenizers.for_model("anthropic/claude-3-5-haiku") is None
    tok = tokenizers.load("openai/gpt-4o-mini")
    assert tok.kind == "tiktoken" and tok.name == "o200k_base"


def test_model_name_from_the_local_hugging_face_cache(bpe_json, tmp_path, monkeypatch):
    snap = tmp_path / "hub" / "models--tinyqa--bpe-test" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "tokenizer.json").write_bytes(bpe_json.read_bytes())
    (snap / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    (tmp_path / "hub" / "models--tinyqa--bpe-test" / "refs").mkdir()
    (tmp_path / "hub" / "models--tinyqa--bpe-test" / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    tok = tokenizers.load("tinyqa/bpe-test")
    assert tok.kind == "hf" and tok.identity["chat_template"] is not None
    assert tokenizers.for_model("hosted_vllm/tinyqa/bpe-test") == "tinyqa/bpe-test"


def test_gguf_identity_parts(toks, gemma_gguf):
    local, gemma = toks("local").identity, toks(str(gemma_gguf)).identity
    assert set(local) == set(gemma) == set(tokenizers.PARTS)
    assert local["merges"] and local["scores"] is None      # SmolLM2: byte-level BPE
    assert gemma["scores"] and gemma["merges"] is None      # Gemma 3: SentencePiece
    assert local["vocab"] != gemma["vocab"] and local["chat_template"]


# --- metrics --------------------------------------------------------------------------------------

def test_metrics_tell_the_tokenizers_apart(packs, toks, gemma_gguf):
    def metrics(spec):
        tok = toks(spec)
        fp = drift.fingerprint(tok, packs)
        drift.measure(tok, fp, packs)
        return {lang: {m: v for m, (v, _) in ms.items()} for lang, ms in drift.language_metrics(fp.items).items()}

    smol, gemma, cl100k = metrics("local"), metrics(str(gemma_gguf)), metrics("tiktoken:cl100k_base")
    for m in (smol, gemma, cl100k):
        assert all(ms["roundtrip_fidelity"] == 1.0 for ms in m.values())
    # digits: SmolLM2 and Gemma split numbers into single digits, cl100k groups up to three
    assert smol["en"]["digit_group_max"] == 1 and gemma["en"]["digit_group_max"] == 1
    assert cl100k["en"]["digit_group_max"] == 3 and cl100k["en"]["digits_per_token"] > 1.5
    # a 49k English-heavy byte-level vocabulary against Gemma's 262k multilingual one
    assert smol["zh"]["byte_fallback_rate"] > 0.5 > gemma["zh"]["byte_fallback_rate"]
    assert smol["ru"]["fertility"] > 2 * gemma["ru"]["fertility"]
    assert gemma["zh"]["fertility"] < 1  # tokens per character where words have no spaces
    for m in (smol, gemma, cl100k):
        en = m["en"]
        assert 0 < en["split_word_rate"] < 0.5 < en["single_token_retention"] <= 1 - en["split_word_rate"] + 1e-9


def test_word_alignment_on_known_tokens(toks, mini_pack):
    tok = toks("tiktoken:cl100k_base")
    [pack] = resolve_packs([str(mini_pack)])
    fp = drift.fingerprint(tok, [pack])
    drift.measure(tok, fp, [pack])
    labels = {i.id: i.label for i in pack.items}
    spider = next(it for it in fp.items if labels[it.item_id] == "8")
    # "How many legs does a spider have?" + "8": 8 words, each one cl100k token of its own
    assert spider.counts["units"] == 8 and spider.counts["single_units"] == 8 and spider.counts["split_units"] == 0


def test_drift_task_writes_its_run_and_its_verdict(tmp_path):
    from tinyqa.flows.drift import tokenizer_drift

    result = tokenizer_drift.fn("local", baseline=str(SHIPPED), reports=str(tmp_path / "r"))
    (check,) = result.checks
    assert check.passed and check.details == [] and result.details["changed"] == []
    (run,) = store.read(tmp_path / "r", "runs").to_pylist()
    assert (run["run_id"], run["suite"], run["status"]) == (result.run_id, "drift", "complete")
