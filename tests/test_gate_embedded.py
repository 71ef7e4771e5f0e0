"""The gate's power on the real embedded model: a clean run against the committed baseline
passes, and a broken prompt template, a different model and a different tokenizer each fail
with the reason named. Each scenario is a real `tinyqa gate` command. They share one response
cache (answers are keyed by the GGUF's hash and the prompt): the clean run fills it, and the
swapped tokenizer, which changes no answer, reads its answers from it."""
import subprocess
from pathlib import Path

import pytest
from junitparser import JUnitXml

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "packs" / "baselines" / "qa-local-core_en.json"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("answers")


def gate(tinyqa_bin, env, tmp_path, cache, *extra):
    junit = tmp_path / f"junit-{len(list(tmp_path.glob('junit-*')))}.xml"
    env = dict(env, TINYQA_CACHE_DIR=str(cache))
    res = subprocess.run([tinyqa_bin, "gate", "--model", "local", "--packs", "core_en", "--baseline", str(BASELINE),
                          "--reports", str(tmp_path / "reports"), "--junit", str(junit), *extra],
                         capture_output=True, text=True, env=env, timeout=600)
    assert "Traceback" not in res.stderr, res.stderr
    return res, JUnitXml.fromfile(str(junit)) if junit.exists() else None


def failing(xml):
    return {(s.name, c.name) for s in xml for c in s if not c.is_passed}


def test_clean_run_passes(tinyqa_bin, cli_env, tmp_path, cache):
    res, xml = gate(tinyqa_bin, cli_env, tmp_path, cache)
    assert res.returncode == 0, res.stdout[-3000:]
    assert not failing(xml)
    assert "tokenizer local" in res.stdout and "none changed" in res.stdout


def test_broken_prompt_template_fails(tinyqa_bin, cli_env, tmp_path, cache):
    res, xml = gate(tinyqa_bin, cli_env, tmp_path, cache, "--template", str(ROOT / "tests" / "data" / "broken-template.toml"))
    assert res.returncode == 1, res.stdout[-3000:]
    assert ("core_en", "drop all") in failing(xml)
    assert "right→wrong" in res.stdout


def test_different_model_fails(tinyqa_bin, cli_env, tmp_path, cache):
    from tinyqa.suites.tokenizers import gemma3_gguf

    env = dict(cli_env, TINYQA_LOCAL_GGUF=str(gemma3_gguf()))
    res, xml = gate(tinyqa_bin, env, tmp_path, cache)
    assert res.returncode == 1, res.stdout[-3000:]
    assert ("drift", "tokenizer local") in failing(xml)          # the model's own tokenizer changed
    assert "identity changed" in res.stdout


def test_different_tokenizer_fails(tinyqa_bin, cli_env, tmp_path, cache):
    res, xml = gate(tinyqa_bin, cli_env, tmp_path, cache, "--tokenizer", "tiktoken:cl100k_base",
                    "--drift-baseline", str(ROOT / "packs" / "baselines" / "drift-local.json"))
    assert res.returncode == 1, res.stdout[-3000:]
    assert ("drift", "tokenizer tiktoken:cl100k_base") in failing(xml)
    assert failing(xml) == {("drift", "tokenizer tiktoken:cl100k_base")}   # QA itself did not change
