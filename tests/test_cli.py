"""Bad input at the command line: one clear line, exit code 2, no traceback."""
import json
import subprocess

import pytest



def tinyqa(bin_, env, *args):
    return subprocess.run([bin_, *args], capture_output=True, text=True, env=env, timeout=120)


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
