"""The GitHub Action (action.yml) end to end: its shell steps run for real, as a runner runs them
(tests/actionrunner.py), from a fresh checkout of this repository, installing tinyqa into a
fresh Python with pip, through `tinyqa gate` on the embedded model, against a loopback GitHub
API (tests/fakeforge.py).

A pull request is pushed twice: first as it should be (the gate passes), then with a prompt
template that makes the model translate instead of answer (the gate fails). One comment exists
after both runs, edited by the second, and it names the regressed pack and its flipped items.

The action installs tinyqa into a virtual environment of its own, made by setup-python's Python
(`python-path`, here `hosted_python`): that venv sees this venv's site-packages through a .pth
line, as a runner whose pip cache holds every wheel: the action's `pip install` then builds and
installs tinyqa itself from the checkout (not an editable install) in seconds instead of minutes.

A second test runs the action twice at once for one pull request (two pushes) and once more for
a second model of a matrix: one comment per matrix entry, the newest push's verdict in it with
its commit, and an artifact name per entry.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

import pytest
from junitparser import JUnitXml

import actionrunner
from fakeforge import FakeForge
from tinyqa.comment import MARKER

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "ghs_test_token_never_shown"
THREAD = "/repos/acme/app/issues/12/comments"


def test_expressions_an_action_uses():
    ctx = {"inputs": {"comment": "true", "model": "local"}, "steps": {"gate": {"outputs": {"exit-code": "1"}}}}
    ev = actionrunner.evaluate
    assert ev("always() && inputs.comment == 'true'", ctx, ok=False) is True
    assert ev("inputs.comment == 'true' && steps.gate.outputs.exit-code != ''", ctx, ok=True) is True
    assert ev("success() && steps.missing.outputs.x != ''", ctx, ok=True) is False
    assert ev("!(inputs.model == 'local') || failure()", ctx, ok=False) is True
    with pytest.raises(ValueError):
        ev("contains(inputs.model, 'l')", ctx, ok=True)
    assert actionrunner.interpolate("${{ inputs.model }}-${{ steps.gate.outputs.exit-code }}", ctx) == "local-1"


def fresh_checkout(dest: Path) -> Path:
    """The repository's files as `actions/checkout` lays them out (tracked and new, not ignored)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for f in filter(None, files):
        if (ROOT / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
    return dest


def fresh_python(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(dest)], check=True, timeout=120)
    site = next((dest / "lib").glob("python3*/site-packages"))
    (site / "warm-pip-cache.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return dest / "bin"


def hosted_python(dest: Path) -> Path:
    """setup-python's `python-path`: a fresh Python whose `-m venv` makes environments that see
    this venv's site-packages (a warm pip cache), as fresh_python does for itself."""
    python = fresh_python(dest / "base") / "python"
    wrapper = dest / "python"
    wrapper.write_text(f"""#!/bin/bash
if [ "$1" = -m ] && [ "$2" = venv ]; then
  "{python}" "$@" || exit
  for site in "${{@: -1}}"/lib/python3*/site-packages; do echo '{sysconfig.get_paths()["purelib"]}' > "$site/warm-pip-cache.pth"; done
  exit 0
fi
exec "{python}" "$@"
""")
    wrapper.chmod(0o755)
    return wrapper


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_action_on_a_pull_request_pushed_twice(tmp_path):
    action_dir = fresh_checkout(tmp_path / "_actions" / "tinyqa" / "tinyqa" / "v1")
    python_bin = fresh_python(tmp_path / "caller")             # the caller's job's Python
    hosted = hosted_python(tmp_path / "hostedtoolcache" / "Python")
    home = tmp_path / "home"
    ws = tmp_path / "work" / "app"          # the repository under review
    (ws / "prompts").mkdir(parents=True)
    shutil.copy(ROOT / "packs" / "baselines" / "qa-local-core_en.json", ws / "tinyqa-baseline.json")
    (ws / "tinyqa.toml").write_text("[gate]\nmin_contains = 0.3\n")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "pull_request": {"number": 12}}))

    with FakeForge(TOKEN) as forge:
        forge.add(THREAD, "Looks good to me, once the gate agrees.")
        github = {"event_name": "pull_request", "token": TOKEN, "run_id": "4242", "run_attempt": "1"}
        env = {**actionrunner.runner_env(home, python_bin), "GITHUB_API_URL": forge.url, "GITHUB_REPOSITORY": "acme/app",
               "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event), "GITHUB_SERVER_URL": "https://github.com",
               "GITHUB_RUN_ID": "4242", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_REF": "refs/pull/12/merge"}
        artifact = "https://github.com/acme/app/actions/runs/4242/artifacts/77"
        inputs = {"model": "local", "packs": "core_en", "baseline": "tinyqa-baseline.json", "config": "tinyqa.toml"}

        def push(n: int, **more) -> actionrunner.Result:
            return actionrunner.run(action_dir, ws, tmp_path / f"runner-temp-{n}", {**inputs, **more}, env, github,
                                    uses_outputs={"upload": {"artifact-url": artifact},
                                                  "python": {"python-path": str(hosted)}})

        passing = push(1)
        assert not passing.failed, passing.log[-6000:]
        assert passing.outputs["verdict"] == "pass" and passing.outputs["run-id"], passing.outputs
        assert passing.outputs["artifact-name"] == "tinyqa-gate-local-core_en"
        after_first = [dict(c) for c in forge.thread(THREAD)]

        shutil.copy(ROOT / "tests" / "data" / "broken-template.toml", ws / "prompts" / "translate.toml")
        failing = push(2, template="prompts/translate.toml")
        comments, calls = forge.thread(THREAD), list(forge.calls)

    # what ran, and what a runner's JavaScript actions would have done instead
    assert [s.name.split("@")[0] for s in passing.steps if not s.ran] == [
        "actions/setup-python", "Cache pip's wheels (llama-cpp-python builds once)",
        "Cache the answers and Prefect's home (a new entry per run, restored from the latest)",
        "Upload the reports and the dashboard"]
    assert "Successfully installed" in passing.step("Install tinyqa").log
    venv = Path(passing.step("prepare").outputs["venv"])
    installed = subprocess.run([str(venv / "bin" / "python"), "-c", "import tinyqa; print(tinyqa.__file__)"],
                               capture_output=True, text=True, cwd=tmp_path).stdout
    assert str(venv) in installed and str(ROOT) not in installed   # not this checkout's editable install
    caller = subprocess.run([str(python_bin / "python"), "-m", "pip", "list"], capture_output=True, text=True).stdout
    assert "tinyqa" not in caller and "prefect" not in caller      # the caller's Python is as it was
    report = Path(passing.outputs["report-path"])
    assert {"gate.md", "junit.xml", "site", "store"} <= {p.name for p in report.iterdir()}
    assert (report / "site" / "index.html").stat().st_size > 10_000
    assert MARKER in (tmp_path / "runner-temp-1" / "step_summary.md").read_text()

    # the first push: one comment, created, passing
    ours = [c for c in after_first if c["body"].startswith(MARKER)]
    assert len(ours) == 1 and "tinyqa gate: PASS" in ours[0]["body"]

    # the second push fails the job, and edits that comment
    assert failing.failed and failing.outputs["verdict"] == "fail"
    assert failing.step("Verdict").outcome == "failure" and "::error title=tinyqa gate::fail (exit 1)" in failing.log
    assert failing.step("tinyqa gate").outcome == "success"      # the verdict step fails the job, after the comment
    mine = [c for c in comments if c["body"].startswith(MARKER)]
    assert len(comments) == 2 and len(mine) == 1 and mine[0]["id"] == ours[0]["id"]
    assert [c for c in calls if c[0] != "GET"] == [("POST", THREAD), ("PATCH", f"/repos/acme/app/issues/comments/{ours[0]['id']}")]
    assert mine[0]["user"]["login"] == "github-actions[bot]"
    body = mine[0]["body"]
    assert "tinyqa gate: FAIL" in body and "pack(s) failed: **core_en**" in body
    assert f"[reports and dashboard]({artifact})" in body and "actions/runs/4242" in body
    junit = JUnitXml.fromfile(str(Path(failing.outputs["report-path"]) / "junit.xml"))
    (drop,) = [c for s in junit for c in s if c.name == "drop all"]
    flipped = [line.split()[1] for line in drop.result[0].text.splitlines() if line.startswith("right→wrong")]
    assert len(flipped) >= 6
    folded = body.split("<details><summary>core_en · drop all:")[1].split("</details>")[0]
    for item_id in flipped:
        assert f"right→wrong {item_id} " in folded
    assert TOKEN not in passing.log + failing.log
    (tmp_path / "comment.md").write_text(body)   # kept for a look: pytest --basetemp


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_two_pushes_at_once_and_a_matrix_of_two_models(tmp_path, mini_pack):
    """Pushes a (run 100) and b (run 101) of one pull request gated at the same time, and a second
    model of the matrix in run 101 (two hosted models on a scripted loopback server): one comment
    per model, the first model's with b's verdict and b's commit whichever run ended last, and each
    entry's artifact under its own name."""
    from conftest import GOLD
    from fakeserver import ScriptedServer

    # each job on a runner of its own: its own copy of the action (a build folder each)
    action_dirs = {n: fresh_checkout(tmp_path / f"runner-{n}" / "_actions" / "tinyqa" / "tinyqa" / "v1") for n in "abx"}
    hosted = hosted_python(tmp_path / "hostedtoolcache" / "Python")
    ws = tmp_path / "work" / "app"
    shutil.copytree(mini_pack, ws / "packs" / "mini")
    sha = {"100": "a" * 40, "101": "b" * 40}
    results: dict[str, actionrunner.Result] = {}

    with FakeForge(TOKEN) as forge, ScriptedServer(lambda q, n: GOLD[q]) as srv:
        def job(name: str, run_id: str, model: str) -> None:
            event = tmp_path / f"event-{name}.json"
            event.write_text(json.dumps({"pull_request": {"number": 12, "head": {"sha": sha[run_id], "repo": {
                "full_name": "acme/app"}}}}))
            env = {**actionrunner.runner_env(tmp_path / f"home-{name}", Path(sys.executable).parent),
                   "GITHUB_API_URL": forge.url, "GITHUB_REPOSITORY": "acme/app", "GITHUB_EVENT_NAME": "pull_request",
                   "GITHUB_EVENT_PATH": str(event), "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": run_id,
                   "GITHUB_RUN_ATTEMPT": "1", "GITHUB_REF": "refs/pull/12/merge", "OPENAI_API_KEY": "sk-test-000"}
            github = {"event_name": "pull_request", "token": TOKEN, "run_id": run_id, "run_attempt": "1",
                      "repository": "acme/app", "event": json.loads(event.read_text())}
            inputs = {"model": model, "packs": "packs/mini", "api-base": srv.url}
            results[name] = actionrunner.run(action_dirs[name], ws, tmp_path / f"runner-temp-{name}", inputs, env, github,
                                             uses_outputs={"python": {"python-path": str(hosted)}})

        threads = [threading.Thread(target=job, args=("a", "100", "openai/a")),
                   threading.Thread(target=job, args=("b", "101", "openai/a")),
                   threading.Thread(target=job, args=("x", "101", "openai/b"))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        # the older run ending last once more: it leaves the newer verdict as it is
        again = subprocess.run([str(hosted), str(action_dirs["a"] / "tinyqa" / "comment.py"),
                                str(Path(results["a"].outputs["report-path"]) / "gate.md"), "--key", "openai/a packs/mini"],
                               env={**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_API_URL": forge.url,
                                    "GITHUB_REPOSITORY": "acme/app", "GITHUB_TOKEN": TOKEN, "GITHUB_RUN_ID": "100",
                                    "GITHUB_RUN_ATTEMPT": "1", "GITHUB_EVENT_PATH": str(tmp_path / "event-a.json")},
                               capture_output=True, text=True, timeout=60)
        thread = forge.thread(THREAD)

    for name in "abx":
        assert results[name].outputs["verdict"] == "pass", results[name].log[-4000:]
    assert "newer run's verdict: left as it is" in again.stdout, again.stdout + again.stderr
    ours = [c for c in thread if c["body"].startswith(MARKER)]
    assert len(thread) == len(ours) == 2, [c["body"][:300] for c in thread]
    (first,) = [c for c in ours if "`openai/a packs/mini`" in c["body"]]
    (second,) = [c for c in ours if "`openai/b packs/mini`" in c["body"]]
    assert f"judged commit {'b' * 40}" in first["body"] and "actions/runs/101" in first["body"]
    assert f"judged commit {'b' * 40}" in second["body"]
    names = {n: results[n].outputs["artifact-name"] for n in "abx"}
    assert names == {"a": "tinyqa-gate-openai-a-packs-mini", "b": "tinyqa-gate-openai-a-packs-mini",
                     "x": "tinyqa-gate-openai-b-packs-mini"}
    for n in "abx":    # each entry's upload step is reached (a runner would run it), with its own name
        assert "not run here" in results[n].step("upload").log
        assert list(Path(results[n].outputs["report-path"]).glob("gate.md"))
    assert TOKEN not in "".join(r.log for r in results.values())
