"""The shipped CI templates and prefect.yaml parse and call commands that exist."""
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "ci").rglob("*.yml"))


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_template_calls_real_commands(path, tinyqa_bin, cli_env):
    text = path.read_text()
    assert yaml.safe_load(text)
    commands = set(re.findall(r"^\s*(?:- )?tinyqa ([a-z]+)", text, re.MULTILINE))
    assert commands or "nightly(" in text
    for cmd in commands:
        res = subprocess.run([tinyqa_bin, cmd, "--help"], capture_output=True, text=True, env=cli_env)
        assert res.returncode == 0, (path.name, cmd, res.stderr[-300:])
    for baseline in re.findall(r"packs/baselines/\S+\.json", text):
        assert (ROOT / baseline).is_file(), baseline


def test_prefect_yaml_entrypoints_exist():
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    names = {d["name"] for d in doc["deployments"]}
    assert {"nightly", "gate", "lmeval"} <= names
    assert next(d for d in doc["deployments"] if d["name"] == "lmeval")["work_pool"]["name"] == "gpu"
    assert next(d for d in doc["deployments"] if d["name"] == "nightly")["schedules"][0]["cron"]
    for d in doc["deployments"]:
        file, func = d["entrypoint"].split(":")
        assert f"def {func}(" in (ROOT / file).read_text(), d["entrypoint"]
