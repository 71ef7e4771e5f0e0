"""The GitLab template included into a team's pipeline that has jobs and stages of its own (it
must leave them as they are), and its merge-request gate job, run by gitlab-ci-local with its shell executor
(`make test` installs gitlab-ci-local from npm): the template included from a project's
.gitlab-ci.yml, tinyqa installed by the job's own `pip install` from a fresh checkout, the gate
on the embedded model against the project's baseline, the JUnit report and the dashboard as
artifacts, and one note on the merge request through a loopback GitLab API (tests/fakeforge.py).
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fakeforge import FakeForge
from test_action import fresh_checkout, fresh_python
from tinyqa.comment import MARKER

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "glpat-test-token-never-shown"
NOTES = "/api/v4/projects/42/merge_requests/5/notes"


HOST = """\
include:
  - local: ci/tinyqa.gitlab-ci.yml
build-app:
  stage: build
  script: [echo build]
unit-tests:
  stage: test
  script: [echo test]
"""


def gitlab_ci_local() -> str | None:
    local = ROOT / ".venv" / "node" / "node_modules" / ".bin" / "gitlab-ci-local"
    return str(local) if local.exists() else shutil.which("gitlab-ci-local")


def host_project(project: Path) -> Path:
    """A team's project: its own build and test jobs (GitLab's default stages), the template included."""
    (project / "ci").mkdir(parents=True)
    shutil.copy(ROOT / "ci" / "gitlab-ci.yml", project / "ci" / "tinyqa.gitlab-ci.yml")
    (project / ".gitlab-ci.yml").write_text(HOST)
    return project


def git_commit(project: Path, branch: str) -> None:
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    for cmd in (["init", "-q", "-b", branch], ["config", "user.name", "t"], ["config", "user.email", "t@t"],
                ["remote", "add", "origin", "https://gitlab.example/acme/app.git"], ["add", "."], ["commit", "-qm", "gate"]):
        subprocess.run([*git, *cmd], cwd=project, check=True)


@pytest.mark.slow
@pytest.mark.skipif(gitlab_ci_local() is None, reason="gitlab-ci-local not found (`make test` installs it with npm)")
def test_included_into_a_pipeline_with_its_own_stages_and_jobs(tmp_path):
    """No top-level stages: or variables: in the template: the host's build-app (stage build)
    and unit-tests keep their stages, and the template's jobs come beside them."""
    project = host_project(tmp_path / "app")
    git_commit(project, "main")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home")}
    res = subprocess.run([gitlab_ci_local(), "--no-color", "--list-all"], cwd=project, env=env,
                         capture_output=True, text=True, timeout=300)
    log = res.stdout + res.stderr
    assert res.returncode == 0 and "not found" not in log, log
    jobs = {line.split()[0]: line.split()[1] for line in res.stdout.splitlines()
            if line.split() and line.split()[0] in {"build-app", "unit-tests", "tinyqa-gate", "tinyqa-nightly", "tinyqa-pages"}}
    assert jobs == {"build-app": "build", "unit-tests": "test", "tinyqa-gate": "test", "tinyqa-nightly": "test",
                    "tinyqa-pages": "deploy"}, res.stdout


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.skipif(gitlab_ci_local() is None, reason="gitlab-ci-local not found (`make test` installs it with npm)")
def test_gitlab_gate_job_in_gitlab_ci_local(tmp_path):
    checkout = fresh_checkout(tmp_path / "tinyqa")
    python_bin = fresh_python(tmp_path / "python")
    project = host_project(tmp_path / "app")
    shutil.copy(ROOT / "packs" / "baselines" / "qa-local-core_en.json", project / "tinyqa-baseline.json")
    git_commit(project, "feature")
    with FakeForge(TOKEN) as forge:
        forge.add(NOTES, "Please have a look.")
        variables = {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "5", "CI_PROJECT_ID": "42",
                     "CI_PIPELINE_ID": "900", "CI_COMMIT_SHA": "c0ffee" * 6 + "c0ff",
                     "CI_API_V4_URL": f"{forge.url}/api/v4", "GITLAB_TOKEN": TOKEN,
                     "TINYQA_SOURCE": checkout.as_uri()}
        env = {"PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path / "home"),
               **{k: v for k, v in os.environ.items() if k.startswith(("PIP_", "LANG", "LC_"))}}
        res = subprocess.run([gitlab_ci_local(), "--force-shell-executor", "--no-color",
                              "--ignore-predefined-vars", ",".join(k for k in variables if k.startswith("CI_")),
                              *[a for k, v in variables.items() for a in ("--variable", f"{k}={v}")], "tinyqa-gate"],
                             cwd=project, env=env, capture_output=True, text=True, timeout=1100)
        notes = forge.thread(NOTES)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-6000:]
    assert "tinyqa-gate" in log and "gate passed" in log
    assert TOKEN not in log
    ours = [n for n in notes if n["body"].startswith(MARKER)]
    assert len(notes) == 2 and len(ours) == 1 and "tinyqa gate: PASS" in ours[0]["body"]
    assert "c0ffee" * 6 + "c0ff" in ours[0]["body"] and ours[0]["author"]["username"] == "project_42_bot"
    artifacts = list(project.glob(".gitlab-ci-local/artifacts/tinyqa-gate/tinyqa/junit.xml")) or \
        list(project.glob("tinyqa/junit.xml"))
    assert artifacts, sorted(str(p.relative_to(project)) for p in project.rglob("*") if ".cache" not in p.parts)[:60]
    assert (artifacts[0].parent / "site" / "index.html").is_file()
