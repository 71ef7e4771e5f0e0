"""Bad input at the command line: one clear line, exit code 2, no traceback, and no process
left behind (the temporary Prefect API a command may have started is gone when it returns)."""
import json
import subprocess
import sys

import pytest

from conftest import processes_of


def tinyqa(bin_, env, *args):
    res = subprocess.run([bin_, *args], capture_output=True, text=True, env=env, timeout=120)
    assert processes_of(env) == [], f"left running after `tinyqa {' '.join(args)}`"
    return res


def assert_one_line_error(res, code, *needles):
    assert res.returncode == code, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_missing_pack(tinyqa_bin, cli_env):
    res = tinyqa(tinyqa_bin, cli_env, "run", "--model", "local", "--packs", "no_such_pack")
    assert_one_line_error(res, 2, "unknown pack 'no_such_pack'")


def test_unknown_model(tinyqa_bin, cli_env, mini_pack):
    res = tinyqa(tinyqa_bin, cli_env, "run", "--model", "no-such-provider-model", "--packs", str(mini_pack))
    assert_one_line_error(res, 2, "unknown model 'no-such-provider-model'")


def test_malformed_pack_line(tinyqa_bin, cli_env, mini_pack):
    folder = mini_pack
    with open(folder / "data.jsonl", "a") as f:
        f.write('{"text": "unterminated\n')
    res = tinyqa(tinyqa_bin, cli_env, "run", "--model", "local", "--packs", str(folder))
    assert_one_line_error(res, 2, "data.jsonl:5", "invalid JSON")


def test_unknown_template(tinyqa_bin, cli_env, mini_pack):
    res = tinyqa(tinyqa_bin, cli_env, "run", "--model", "local", "--packs", str(mini_pack), "--template", "nope")
    assert_one_line_error(res, 2, "no template 'nope'")


def test_a_missing_key_is_named_before_anything_starts(tinyqa_bin, cli_env):
    """Said at once: neither LiteLLM nor Prefect is imported (the import log shows), no server
    starts; `tinyqa run --model openai/gpt-4o-mini` without OPENAI_API_KEY."""
    env = {k: v for k, v in cli_env.items() if k != "OPENAI_API_KEY"} | {"PYTHONPROFILEIMPORTTIME": "1"}
    res = subprocess.run([tinyqa_bin, "run", "--model", "openai/gpt-4o-mini"], capture_output=True, text=True,
                         env=env, timeout=120)
    imported = {line.split("|")[-1].strip() for line in res.stderr.splitlines() if line.startswith("import time:")}
    assert "litellm" not in imported and "prefect" not in imported and "tinyqa.cli" in imported
    res.stderr = "\n".join(line for line in res.stderr.splitlines() if not line.startswith("import time:"))
    assert_one_line_error(res, 2, "--model openai/gpt-4o-mini: no credentials in the environment: set OPENAI_API_KEY")
    for model, var in (("anthropic/claude-3-5-haiku-20241022", "ANTHROPIC_API_KEY"),
                       ("gemini/gemini-2.0-flash", "GEMINI_API_KEY or GOOGLE_API_KEY")):
        env = {k: v for k, v in cli_env.items() if not k.startswith(("ANTHROPIC_", "GEMINI_", "GOOGLE_"))}
        assert_one_line_error(tinyqa(tinyqa_bin, env, "gate", "--model", model), 2, f"set {var}")


def test_a_provider_that_refuses_every_request_stops_the_run_once(tinyqa_bin, cli_env, tmp_path):
    """A bad key (401 for every request): said once, exit 3, after a few requests rather than
    every item's retries; no run is written and no checkpoint is left."""
    from fakeserver import Fault, ScriptedServer

    body = b'{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}'
    with ScriptedServer(lambda q, n: Fault(401, body=body)) as srv:
        res = tinyqa(tinyqa_bin, cli_env, "run", "--model", "openai/x", "--api-base", srv.url, "--packs", "core_en",
                     "--reports", str(tmp_path / "r"))
    assert_one_line_error(res, 3, "refused every request", "AuthenticationError", "not sent")
    from tinyqa.suites.qa import REFUSALS

    # The first wave in flight (16), and the requests the first refusals made room for before
    # the last one needed came back: never 52 items × retries.
    assert sum(srv.asked.values()) <= 16 + REFUSALS - 1
    assert not (tmp_path / "r" / "runs").exists() and not list((tmp_path / "r").rglob("*.jsonl"))


def test_usage_error_exits_2(tinyqa_bin, cli_env):
    assert tinyqa(tinyqa_bin, cli_env, "run").returncode == 2


def test_validate_reports_problems_and_never_writes(tinyqa_bin, cli_env, mini_pack):
    assert tinyqa(tinyqa_bin, cli_env, "validate", str(mini_pack)).returncode == 0
    data = mini_pack / "data.jsonl"
    raw = data.read_bytes().replace(b"A spider has 8 legs.", b"A spider has 8 legs!")
    data.write_bytes(raw)
    res = tinyqa(tinyqa_bin, cli_env, "validate", str(mini_pack))
    assert res.returncode == 1 and "data.jsonl:2: field sha256" in res.stdout
    assert data.read_bytes() == raw


def test_validate_catches_stale_croissant(tinyqa_bin, cli_env, mini_pack):
    meta = json.loads((mini_pack / "croissant.json").read_text())
    meta["distribution"][0]["sha256"] = "0" * 64
    (mini_pack / "croissant.json").write_text(json.dumps(meta))
    res = tinyqa(tinyqa_bin, cli_env, "validate", str(mini_pack))
    assert res.returncode == 1 and "does not match data.jsonl" in res.stdout


@pytest.mark.parametrize("cmd", [[], ["run"], ["smoke"], ["validate"], ["describe"], ["packs"]])
def test_every_command_has_help(tinyqa_bin, cli_env, cmd):
    res = tinyqa(tinyqa_bin, cli_env, *cmd, "--help")
    assert res.returncode == 0 and "Usage" in res.stdout


def test_a_run_without_a_prefect_api_imports_no_prefect_and_writes_its_reports(tinyqa_bin, cli_env, mini_pack,
                                                                               tmp_path):
    """No Prefect API configured: the run is in process (no Prefect imported, no server, no
    Prefect database), its reports written."""
    from pathlib import Path

    import pyarrow.dataset as ds

    from conftest import GOLD
    from fakeserver import ScriptedServer

    env = cli_env | {"TINYQA_PROFILE": "1", "PREFECT_HOME": str(tmp_path / "prefect")}
    with ScriptedServer(lambda q, n: GOLD[q]) as srv:
        res = tinyqa(tinyqa_bin, env, "run", "--model", "openai/x", "--api-base", srv.url, "--packs", str(mini_pack),
                     "--reports", str(tmp_path / "r"))
    assert res.returncode == 0, res.stderr
    assert "tinyqa profile: imported: prefect no, litellm yes" in res.stderr
    assert ds.dataset(tmp_path / "r" / "runs", partitioning="hive").count_rows() == 1
    assert not (Path(env["PREFECT_HOME"]) / "prefect.db").exists()
