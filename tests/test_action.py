"""The GitHub Action (action.yml) end to end: its shell steps run for real, as a runner runs them
(tests/actionrunner.py), from a fresh checkout of this repository, installing tinyqa into a
fresh Python with pip, through `tinyqa gate` on the embedded model, against a loopback GitHub
API (tests/fakeforge.py).

A pull request is pushed twice: first as it should be (the gate passes), then with a prompt
template that makes the model translate instead of answer (the gate fails). One comment exists
after both runs, edited by the second, and it names the regressed pack and its flipped items.

The fresh Python sees this venv's site-packages through a .pth line, as a runner whose pip cache
holds every wheel: the action's `pip install` then builds and installs tinyqa itself from the
checkout (not an editable install) in seconds instead of minutes.
"""
import json
import shutil
import subprocess
import sys
import sysconfig
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


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_action_on_a_pull_request_pushed_twice(tmp_path):
    action_dir = fresh_checkout(tmp_path / "_actions" / "tinyqa" / "tinyqa" / "v1")
    python_bin = fresh_python(tmp_path / "hostedtoolcache" / "Python")
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
                                    uses_outputs={"upload": {"artifact-url": artifact}})

        passing = push(1)
        assert not passing.failed, passing.log[-6000:]
        assert passing.outputs["verdict"] == "pass" and passing.outputs["run-id"], passing.outputs
        after_first = [dict(c) for c in forge.thread(THREAD)]

        shutil.copy(ROOT / "tests" / "data" / "broken-template.toml", ws / "prompts" / "translate.toml")
        failing = push(2, template="prompts/translate.toml")
        comments, calls = forge.thread(THREAD), list(forge.calls)

    # what ran, and what a runner's JavaScript actions would have done instead
    assert [s.name for s in passing.steps if not s.ran] == [
        "actions/setup-python@v6", "Cache pip's wheels (llama-cpp-python builds once)",
        "Cache the answers and Prefect's home (a new entry per run, restored from the latest)",
        "Upload the reports and the dashboard"]
    assert "Successfully installed" in passing.step("Install tinyqa").log
    installed = subprocess.run([str(python_bin / "python"), "-c", "import tinyqa; print(tinyqa.__file__)"],
                               capture_output=True, text=True, cwd=tmp_path).stdout
    assert str(python_bin.parent) in installed and str(ROOT) not in installed   # not this checkout's editable install
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
