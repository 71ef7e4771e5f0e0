"""The gate's power on the real embedded model: a clean run against the committed baseline
passes (twice), and a broken prompt template, a different model and a different tokenizer
each fail with the reason named. Each scenario is a real `tinyqa gate` command."""
import subprocess
from pathlib import Path

import pytest
from junitparser import JUnitXml

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "packs" / "baselines" / "qa-local-core_en.json"


def gate(tinyqa_bin, env, tmp_path, *extra):
    junit = tmp_path / f"junit-{len(list(tmp_path.glob('junit-*')))}.xml"
    res = subprocess.run([tinyqa_bin, "gate", "--model", "local", "--packs", "core_en", "--baseline", str(BASELINE),
                          "--reports", str(tmp_path / "reports"), "--junit", str(junit), "--no-cache", *extra],
                         capture_output=True, text=True, env=env, timeout=600)
    assert "Traceback" not in res.stderr, res.stderr
    return res, JUnitXml.fromfile(str(junit)) if junit.exists() else None


def failing(xml):
    return {(s.name, c.name) for s in xml for c in s if not c.is_passed}


def test_clean_runs_pass_twice(tinyqa_bin, cli_env, tmp_path):
    for _ in range(2):
        res, xml = gate(tinyqa_bin, cli_env, tmp_path)
        assert res.returncode == 0, res.stdout[-3000:]
        assert not failing(xml)
        assert "tokenizer local" in res.stdout and "none changed" in res.stdout


def test_broken_prompt_template_fails(tinyqa_bin, cli_env, tmp_path):
    res, xml = gate(tinyqa_bin, cli_env, tmp_path, "--template", str(ROOT / "tests" / "data" / "broken-template.toml"))
    assert res.returncode == 1, res.stdout[-3000:]
    assert ("core_en", "drop all") in failing(xml)
    assert "right→wrong" in res.stdout


def test_different_model_fails(tinyqa_bin, cli_env, tmp_path):
    from tinyqa.suites.tokenizers import gemma3_gguf

    env = dict(cli_env, TINYQA_LOCAL_GGUF=str(gemma3_gguf()))
    res, xml = gate(tinyqa_bin, env, tmp_path)
    assert res.returncode == 1, res.stdout[-3000:]
    assert ("drift", "tokenizer local") in failing(xml)          # the model's own tokenizer changed
    assert "identity changed" in res.stdout


def test_different_tokenizer_fails(tinyqa_bin, cli_env, tmp_path):
    res, xml = gate(tinyqa_bin, cli_env, tmp_path, "--tokenizer", "tiktoken:cl100k_base",
                    "--drift-baseline", str(ROOT / "packs" / "baselines" / "drift-local.json"))
    assert res.returncode == 1, res.stdout[-3000:]
    assert ("drift", "tokenizer tiktoken:cl100k_base") in failing(xml)
    assert failing(xml) == {("drift", "tokenizer tiktoken:cl100k_base")}   # QA itself did not change
