"""tinyqa/comment.py against a loopback server that speaks the comment endpoints of the GitHub
REST API and of the GitLab API (tests/fakeforge.py): one comment per pull request, created by
the first run and edited by every later one, found among many others across pages; the token
sent only where it belongs; a pull request from a fork (read-only token) is a warning, never a
failure. Each run is the script as the action runs it: `python tinyqa/comment.py`."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fakeforge import FakeForge
from tinyqa.comment import MARKER

pytestmark = pytest.mark.slow   # each test starts the script as a subprocess
ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tinyqa" / "comment.py"
TOKEN = "ghs_secret0123456789"
PR_THREAD = "/repos/acme/app/issues/7/comments"
MR_THREAD = "/api/v4/projects/42/merge_requests/5/notes"


def github_env(forge: FakeForge, tmp_path: Path, sha: str = "a" * 40, **extra) -> dict:
    event = tmp_path / f"event-{sha}.json"
    event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": sha}}}))
    return {"PATH": "/usr/bin:/bin", "GITHUB_ACTIONS": "true", "GITHUB_API_URL": forge.url,
            "GITHUB_REPOSITORY": "acme/app", "GITHUB_EVENT_PATH": str(event), "GITHUB_TOKEN": TOKEN,
            "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "99", **extra}


def post(env: dict, body: Path, *args) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, str(SCRIPT), str(body), *args], env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert TOKEN not in res.stdout + res.stderr
    return res


def verdict(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(f"{MARKER}\n## {text}\n", encoding="utf-8")
    return path


def test_github_first_run_creates_the_comment_later_runs_edit_it(tmp_path):
    with FakeForge(TOKEN) as forge:
        for i in range(150):   # a busy pull request: the comment list runs over two pages
            forge.add(PR_THREAD, f"review remark {i}")
        env = github_env(forge, tmp_path)
        assert "created" in post(env, verdict(tmp_path, "a.md", "❌ FAIL core_en"), "--link", "https://x/art/1").stdout
        assert "updated" in post(env, verdict(tmp_path, "b.md", "✅ PASS")).stdout
        assert "updated" in post(env, verdict(tmp_path, "c.md", "❌ FAIL core_fr")).stdout
        ours = [c for c in forge.thread(PR_THREAD) if c["body"].startswith(MARKER)]
        writes = [c for c in forge.calls if c[0] != "GET"]
    assert len(ours) == 1 and len(forge.thread(PR_THREAD)) == 151
    assert "FAIL core_fr" in ours[0]["body"] and "https://github.com/acme/app/actions/runs/99" in ours[0]["body"]
    assert writes == [("POST", PR_THREAD), ("PATCH", f"/repos/acme/app/issues/comments/{ours[0]['id']}"),
                      ("PATCH", f"/repos/acme/app/issues/comments/{ours[0]['id']}")]
    # two pages a run, and the first run reads them again after creating (did another run create one too?)
    assert len([c for c in forge.calls if c == ("GET", PR_THREAD)]) == 3 * 2 + 2


def test_one_comment_per_key_and_another_authors_marker_left_alone(tmp_path):
    """A matrix's two entries keep a comment each; a comment by someone else that starts with the
    marker (a quote, a copy) is never edited."""
    with FakeForge(TOKEN) as forge:
        forge.add(PR_THREAD, f"{MARKER}\nI copied your comment", user={"login": "mallory"})
        for model in ("local", "openai/gpt-4o-mini", "local"):
            post(github_env(forge, tmp_path, GITHUB_RUN_ID="99"), verdict(tmp_path, "v.md", f"PASS {model}"),
                 "--key", f"{model} core_en")
        thread = forge.thread(PR_THREAD)
    assert thread[0]["body"] == f"{MARKER}\nI copied your comment"
    ours = thread[1:]
    assert len(ours) == 2 and all(c["user"]["login"] == "github-actions[bot]" for c in ours)
    assert "PASS local" in ours[0]["body"] and "`local core_en`" in ours[0]["body"]
    assert "PASS openai/gpt-4o-mini" in ours[1]["body"] and "`openai/gpt-4o-mini core_en`" in ours[1]["body"]


def test_the_newest_run_wins_and_the_comment_names_its_commit(tmp_path):
    """An older run (a smaller run id, or an earlier attempt) that ends last leaves the newer
    verdict as it is; a token that may read /user (a personal token) is recognised by its login."""
    with FakeForge(TOKEN, github_user="release-bot") as forge:
        new = post(github_env(forge, tmp_path, sha="b" * 40, GITHUB_RUN_ID="101", GITHUB_RUN_ATTEMPT="1"),
                   verdict(tmp_path, "new.md", "PASS new"))
        old = post(github_env(forge, tmp_path, sha="a" * 40, GITHUB_RUN_ID="100", GITHUB_RUN_ATTEMPT="2"),
                   verdict(tmp_path, "old.md", "FAIL old"))
        (comment,) = forge.thread(PR_THREAD)
        assert "created" in new.stdout and "newer run's verdict: left as it is" in old.stdout
        assert "PASS new" in comment["body"] and f"judged commit {'b' * 40}" in comment["body"]
        assert comment["user"]["login"] == "release-bot"
        again = post(github_env(forge, tmp_path, sha="b" * 40, GITHUB_RUN_ID="101", GITHUB_RUN_ATTEMPT="2"),
                     verdict(tmp_path, "again.md", "FAIL re-run"))
        (comment,) = forge.thread(PR_THREAD)
    assert "updated" in again.stdout and "FAIL re-run" in comment["body"]


def test_two_first_runs_at_once_leave_one_comment_with_the_newer_verdict(tmp_path):
    """Both listed before either created: the one that finds the other's comment moves the newer
    verdict into the older comment and deletes its own."""
    from tinyqa import comment

    with FakeForge(TOKEN) as forge:
        env = github_env(forge, tmp_path, sha="b" * 40, GITHUB_RUN_ID="101")
        target = comment.github(env)
        older = comment.Run("local core_en", "a" * 40, (100, 1))
        # the older run created its comment between the newer run's list and its create
        forge.add(PR_THREAD, comment.compose(tmp_path / "none.md", None, env, older), user={"login": "github-actions[bot]"})
        newer = comment.Run("local core_en", "b" * 40, (101, 1))
        created, _ = comment._call("POST", target.comments_url, target.headers,
                                   {"body": comment.compose(verdict(tmp_path, "n.md", "PASS newer"), None, env, newer)})
        found = comment.ours(target, "github-actions[bot]", "local core_en")
        assert [c["id"] for c in found][-1] == created["id"] and len(found) == 2
        # the next post finds both: the oldest comment stays, with the newest verdict
        action, cid = comment.upsert(target, comment.compose(verdict(tmp_path, "n.md", "PASS newer"), None, env, newer),
                                     newer, env)
        thread = forge.thread(PR_THREAD)
    assert action == "updated" and len(thread) == 1 and thread[0]["id"] == cid
    assert "PASS newer" in thread[0]["body"] and "b" * 40 in thread[0]["body"]


def test_github_pull_request_number_from_the_ref_and_a_missing_verdict(tmp_path):
    with FakeForge(TOKEN) as forge:
        env = github_env(forge, tmp_path, GITHUB_EVENT_PATH="", GITHUB_REF="refs/pull/7/merge")
        post(env, tmp_path / "missing.md")
        (comment,) = forge.thread(PR_THREAD)
    assert comment["body"].startswith(MARKER) and "no verdict" in comment["body"]


def test_a_fork_or_no_token_is_a_warning_not_a_failure(tmp_path):
    with FakeForge(TOKEN, read_only=True) as forge:
        res = post(github_env(forge, tmp_path), verdict(tmp_path, "a.md", "x"))
        assert "::warning::could not comment on pull request #7: HTTP 403" in res.stderr
        res = post(github_env(forge, tmp_path, GITHUB_TOKEN=""), verdict(tmp_path, "a.md", "x"))
        assert "no token in GITHUB_TOKEN" in res.stderr
        assert not forge.thread(PR_THREAD)


def test_not_a_pull_request_posts_nothing(tmp_path):
    with FakeForge(TOKEN) as forge:
        res = post(github_env(forge, tmp_path, GITHUB_EVENT_PATH="", GITHUB_REF="refs/heads/main"),
                   verdict(tmp_path, "a.md", "x"))
        assert "not a pull or merge request" in res.stdout and not forge.calls


def test_gitlab_merge_request_note_created_then_edited(tmp_path):
    with FakeForge(TOKEN) as forge:
        forge.add(MR_THREAD, "added 1 commit", system=True)
        for i in range(120):
            forge.add(MR_THREAD, f"thread {i}")
        env = {"PATH": "/usr/bin:/bin", "GITLAB_CI": "true", "CI_API_V4_URL": f"{forge.url}/api/v4",
               "CI_PROJECT_ID": "42", "CI_MERGE_REQUEST_IID": "5", "GITLAB_TOKEN": TOKEN,
               "CI_JOB_URL": "https://gitlab.example/acme/app/-/jobs/3"}
        post(env, verdict(tmp_path, "a.md", "❌ FAIL"))
        post(env, verdict(tmp_path, "b.md", "✅ PASS"), "--link", "https://gitlab.example/art")
        ours = [c for c in forge.thread(MR_THREAD) if c["body"].startswith(MARKER)]
        writes = [c for c in forge.calls if c[0] != "GET"]
    assert len(ours) == 1 and "PASS" in ours[0]["body"] and "[reports and dashboard](https://gitlab.example/art)" in ours[0]["body"]
    assert writes == [("POST", MR_THREAD), ("PUT", f"{MR_THREAD}/{ours[0]['id']}")]


def _chromium():
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="chromium not found (`make test` installs Debian's chromium)")
def test_the_comment_rendered_and_photographed(tmp_path):
    """ci/comment_screenshot.py (which made docs/gate-comment.png): the comment's Markdown as
    GitHub renders it (a table, the folded items), photographed by headless Chromium."""
    from PIL import Image

    sys.path.insert(0, str(ROOT / "ci"))
    import comment_screenshot
    from test_gate import T, base, rows
    from tinyqa.reports import markdown
    from tinyqa.suites import gate
    from tinyqa.suites.result import GateResult, RunResult

    checks = gate.verdict(rows([False] * 10 + [True] * 20 + [False] * 22), base([True] * 30 + [False] * 22), T)
    md = tmp_path / "gate.md"
    md.write_text(markdown.gate(GateResult("local", checks, [RunResult({"run_id": "r1"})])), encoding="utf-8")
    page = comment_screenshot.page(md.read_text(encoding="utf-8"), open_first=True)
    assert "<table>" in page and "<details open>" in page and "<strong>core_en</strong>" in page
    assert "&lt;details" not in page          # the comment's HTML is HTML, as on GitHub
    png = tmp_path / "comment.png"
    subprocess.run([sys.executable, str(ROOT / "ci" / "comment_screenshot.py"), str(md), str(png), "--open-first"],
                   check=True, capture_output=True, timeout=180)
    img = Image.open(png).convert("RGB")
    assert img.width == 1180 and 300 < img.height < 4000          # cut below the comment
    # text and a table, not a blank page, whatever fonts are installed (no colour-emoji font on a
    # fresh machine: the emoji are then glyphs of another font, or boxes)
    gray = img.convert("L")
    dark = sum(n for level, n in enumerate(gray.histogram()) if level < 128)
    assert dark > 0.005 * img.width * img.height                   # lines of text
    assert len(img.getcolors(maxcolors=1 << 20)) > 20             # anti-aliased text, borders, headers
