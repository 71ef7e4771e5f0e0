"""Post the gate's verdict on the pull request (GitHub) or merge request (GitLab) as one comment,
updated on every push instead of adding another: the comment is found by the marker its body
starts with (MARKER, which reports/markdown.py puts first), then edited, or created when there
is none.

    python -m tinyqa.comment gate.md [--link URL]     # or: python PATH/TO/tinyqa/comment.py ...

GitHub Actions: the API at $GITHUB_API_URL, the repository $GITHUB_REPOSITORY, the pull request
from the event ($GITHUB_EVENT_PATH) or $GITHUB_REF, the token $GITHUB_TOKEN (the workflow needs
`permissions: pull-requests: write`). GitLab CI: $CI_API_V4_URL, $CI_PROJECT_ID,
$CI_MERGE_REQUEST_IID and a token with the api scope in $GITLAB_TOKEN. The token is sent in a
header and nowhere else: never printed, never written.

Standard library only and no tinyqa import, so that the action runs it from its checkout even
where installing tinyqa failed (the body then says the gate gave no verdict). A comment that cannot be posted (a pull request from a fork, whose
token may not write; no token) is a warning, never a failed gate: exit 0 either way.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MARKER = "<!-- tinyqa-gate -->"
MAX_BODY = 65_000   # GitHub refuses comments over 65,536 characters
TIMEOUT_S = 30


@dataclass
class Target:
    """Where the comment goes: the list (and create) URL, how one comment's URL is made, headers."""

    comments_url: str
    comment_url: str          # with {id}
    update_method: str
    headers: dict             # the token's among them
    what: str                 # "pull request #12" / "merge request !7"
    token_var: str            # the environment variable the token comes from


def github(env: dict) -> Target | None:
    number = None
    if env.get("GITHUB_EVENT_PATH") and Path(env["GITHUB_EVENT_PATH"]).is_file():
        event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
        number = (event.get("pull_request") or {}).get("number")
    if number is None and (m := re.fullmatch(r"refs/pull/(\d+)/(merge|head)", env.get("GITHUB_REF", ""))):
        number = int(m.group(1))
    if number is None:
        return None
    api, repo = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/"), env["GITHUB_REPOSITORY"]
    return Target(f"{api}/repos/{repo}/issues/{number}/comments", f"{api}/repos/{repo}/issues/comments/{{id}}",
                  "PATCH", {"Authorization": f"Bearer {env.get('GITHUB_TOKEN', '')}",
                            "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
                  f"pull request #{number}", "GITHUB_TOKEN")


def gitlab(env: dict) -> Target | None:
    iid = env.get("CI_MERGE_REQUEST_IID")
    if not iid:
        return None
    api, project = env["CI_API_V4_URL"].rstrip("/"), urllib.parse.quote(env["CI_PROJECT_ID"], safe="")
    notes = f"{api}/projects/{project}/merge_requests/{iid}/notes"
    return Target(notes, notes + "/{id}", "PUT", {"PRIVATE-TOKEN": env.get("GITLAB_TOKEN", "")},
                  f"merge request !{iid}", "GITLAB_TOKEN")


def _call(method: str, url: str, headers: dict, payload: dict | None = None) -> tuple[object, dict]:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        **headers, "User-Agent": "tinyqa-comment", **({"Content-Type": "application/json"} if data else {})})
    with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
        return json.loads(resp.read() or b"null"), dict(resp.headers)


def _pages(t: Target):
    """Every existing comment, page by page (GitHub's Link rel="next", GitLab's X-Next-Page)."""
    url = f"{t.comments_url}?per_page=100"
    while url:
        items, headers = _call("GET", url, t.headers)
        yield from items
        nxt = re.search(r'<([^>]+)>;\s*rel="next"', headers.get("Link", "") or headers.get("link", ""))
        page = headers.get("X-Next-Page") or headers.get("x-next-page")
        url = nxt.group(1) if nxt else (f"{t.comments_url}?per_page=100&page={page}" if page else None)


def upsert(t: Target, body: str) -> tuple[str, object]:
    """Edit the comment that carries the marker, or create one: ("updated" | "created", its id)."""
    mine = next((c for c in _pages(t) if not c.get("system") and (c.get("body") or "").startswith(MARKER)), None)
    if mine is not None:
        _call(t.update_method, t.comment_url.format(id=mine["id"]), t.headers, {"body": body})
        return "updated", mine["id"]
    created, _ = _call("POST", t.comments_url, t.headers, {"body": body})
    return "created", created.get("id")


def compose(body_file: Path, link: str | None, env: dict) -> str:
    if body_file.is_file():
        body = body_file.read_text(encoding="utf-8")
    else:
        body = f"{MARKER}\n## ⚠️ tinyqa gate: no verdict\n\nThe gate did not get to a verdict: see the job's log.\n"
    if not body.startswith(MARKER):
        body = f"{MARKER}\n{body}"
    run = (f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
           if env.get("GITHUB_RUN_ID") and env.get("GITHUB_SERVER_URL") else env.get("CI_JOB_URL"))
    links = [f"[reports and dashboard]({link})" if link else "", f"[the job]({run})" if run else ""]
    if any(links):
        body = body.rstrip("\n") + "\n\n" + " · ".join(x for x in links if x) + "\n"
    if len(body) > MAX_BODY:
        body = body[:MAX_BODY] + "\n\n… (cut: the whole verdict is in the reports)\n"
    return body


def _warn(text: str, env: dict) -> None:
    print(f"::warning::{text}" if env.get("GITHUB_ACTIONS") == "true" else f"tinyqa comment: {text}", file=sys.stderr)


def main(argv: list[str] | None = None, env: dict | None = None) -> int:
    env = dict(os.environ) if env is None else env
    ap = argparse.ArgumentParser(description="Post or update the tinyqa gate comment on a pull/merge request.")
    ap.add_argument("body", type=Path, help="The verdict as Markdown (tinyqa gate --markdown FILE).")
    ap.add_argument("--link", help="Where the reports and the dashboard are (an artifact's URL).")
    args = ap.parse_args(argv)
    target = github(env) if env.get("GITHUB_ACTIONS") == "true" else gitlab(env)
    if target is None:
        print("tinyqa comment: not a pull or merge request; nothing to comment on")
        return 0
    if not env.get(target.token_var):
        _warn(f"no token in {target.token_var}: no comment posted on {target.what}", env)
        return 0
    try:
        action, cid = upsert(target, compose(args.body, args.link, env))
    except urllib.error.HTTPError as e:
        try:
            why = json.loads(e.read() or b"{}").get("message", "")
        except ValueError:
            why = ""
        _warn(f"could not comment on {target.what}: HTTP {e.code} {why}".rstrip()
              + (" (a pull request from a fork gets a read-only token)" if e.code in (403, 404) else ""), env)
        return 0
    except (urllib.error.URLError, OSError, ValueError) as e:
        _warn(f"could not comment on {target.what}: {getattr(e, 'reason', e)}", env)
        return 0
    print(f"tinyqa comment: {action} comment {cid} on {target.what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
