"""Post the gate's verdict on the pull request (GitHub) or merge request (GitLab) as one comment,
updated on every push instead of adding another.

    python -m tinyqa.comment gate.md [--link URL] [--key KEY]   # or: python PATH/TO/tinyqa/comment.py ...

Which comment is ours: its body starts with the marker (MARKER, which reports/markdown.py puts
first), its second line records the job's key (`--key`: one comment per matrix entry, e.g. the
model and the packs), and it was written by the token's own user (GET /user; for GitHub's
Actions token, which may not read /user, the github-actions[bot] account, or
$TINYQA_COMMENT_AUTHOR): another user's comment that quotes the marker is left alone. That second
line also records the commit judged and the run that judged it; a run older than the one that
wrote the comment (GitHub: run id then attempt; GitLab: pipeline id then job id) leaves it as it
is, so an older run that ends last never overwrites a newer verdict. Two first runs that both
created a comment keep the older comment, with the newer verdict, and delete the other.

GitHub Actions: the API at $GITHUB_API_URL, the repository $GITHUB_REPOSITORY, the pull request
from the event ($GITHUB_EVENT_PATH) or $GITHUB_REF, the token $GITHUB_TOKEN (the workflow needs
`permissions: pull-requests: write`). GitLab CI: $CI_API_V4_URL, $CI_PROJECT_ID,
$CI_MERGE_REQUEST_IID and a token with the api scope in $GITLAB_TOKEN. The token is sent in a
header and nowhere else: never printed, never written.

Standard library only and no tinyqa import, so that the action runs it from its checkout even
where installing tinyqa failed (the body then says the gate gave no verdict). A comment that
cannot be posted (a pull request from a fork, whose token may not write; no token; a protected
variable not given to this pipeline) is a warning, never a failed gate: exit 0 either way.
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
META = "<!-- tinyqa-gate-run "      # the second line: {"key", "sha", "order", "at"} as JSON, then " -->"
MAX_BODY = 65_000   # GitHub refuses comments over 65,536 characters
TIMEOUT_S = 30
ACTIONS_BOT = "github-actions[bot]"


@dataclass
class Target:
    """Where the comment goes: the list (and create) URL, how one comment's URL is made, headers."""

    comments_url: str
    comment_url: str          # with {id}
    update_method: str
    headers: dict             # the token's among them
    what: str                 # "pull request #12" / "merge request !7"
    token_var: str            # the environment variable the token comes from
    user_url: str = ""        # the token's own user
    forge: str = "github"


@dataclass
class Run:
    """What judged: the job's key, the commit, the run's order (larger is newer) and its start."""

    key: str = ""
    sha: str = ""
    order: tuple = (0, 0)
    at: str = ""

    def line(self) -> str:
        meta = json.dumps({"key": self.key, "sha": self.sha, "order": list(self.order), "at": self.at},
                          ensure_ascii=True).replace(">", "\\u003e").replace("<", "\\u003c")
        return f"{META}{meta} -->"


def _int(v) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def _event(env: dict) -> dict:
    if env.get("GITHUB_EVENT_PATH") and Path(env["GITHUB_EVENT_PATH"]).is_file():
        return json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
    return {}


def this_run(env: dict, key: str = "") -> Run:
    if env.get("GITHUB_ACTIONS") == "true":
        sha = ((_event(env).get("pull_request") or {}).get("head") or {}).get("sha") or env.get("GITHUB_SHA", "")
        order = (_int(env.get("GITHUB_RUN_ID")), _int(env.get("GITHUB_RUN_ATTEMPT")))
    else:
        sha = env.get("CI_COMMIT_SHA", "")
        order = (_int(env.get("CI_PIPELINE_ID")), _int(env.get("CI_JOB_ID")))
    at = env.get("CI_JOB_STARTED_AT") or env.get("TINYQA_RUN_STARTED_AT", "")
    return Run(key, sha, order, at)


def recorded(body: str) -> Run | None:
    """The run a comment records on its second line; None for a comment without one."""
    lines = body.split("\n", 2)
    if len(lines) < 2 or not lines[1].startswith(META) or not lines[1].endswith(" -->"):
        return None
    try:
        meta = json.loads(lines[1][len(META):-4])
        return Run(str(meta.get("key", "")), str(meta.get("sha", "")),
                   tuple(_int(x) for x in meta.get("order", [])) or (0, 0), str(meta.get("at", "")))
    except (ValueError, AttributeError, TypeError):
        return None


def github(env: dict) -> Target | None:
    number = (_event(env).get("pull_request") or {}).get("number")
    if number is None and (m := re.fullmatch(r"refs/pull/(\d+)/(merge|head)", env.get("GITHUB_REF", ""))):
        number = int(m.group(1))
    if number is None:
        return None
    api, repo = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/"), env["GITHUB_REPOSITORY"]
    return Target(f"{api}/repos/{repo}/issues/{number}/comments", f"{api}/repos/{repo}/issues/comments/{{id}}",
                  "PATCH", {"Authorization": f"Bearer {env.get('GITHUB_TOKEN', '')}",
                            "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
                  f"pull request #{number}", "GITHUB_TOKEN", f"{api}/user", "github")


def gitlab(env: dict) -> Target | None:
    iid = env.get("CI_MERGE_REQUEST_IID")
    if not iid:
        return None
    api, project = env["CI_API_V4_URL"].rstrip("/"), urllib.parse.quote(env["CI_PROJECT_ID"], safe="")
    notes = f"{api}/projects/{project}/merge_requests/{iid}/notes"
    return Target(notes, notes + "/{id}", "PUT", {"PRIVATE-TOKEN": env.get("GITLAB_TOKEN", "")},
                  f"merge request !{iid}", "GITLAB_TOKEN", f"{api}/user", "gitlab")


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


def author_of(c: dict, forge: str) -> str:
    who = c.get("author" if forge == "gitlab" else "user") or {}
    return str(who.get("id") if forge == "gitlab" else who.get("login", ""))


def whoami(t: Target, env: dict) -> str:
    """The token's own user (GitLab: its id; GitHub: its login). GitHub's Actions token may not
    read /user: it writes as github-actions[bot]."""
    if env.get("TINYQA_COMMENT_AUTHOR"):
        return env["TINYQA_COMMENT_AUTHOR"]
    try:
        me, _ = _call("GET", t.user_url, t.headers)
        return str(me.get("id") if t.forge == "gitlab" else me.get("login", ""))
    except urllib.error.HTTPError as e:
        if t.forge == "github" and e.code in (401, 403, 404):
            return ACTIONS_BOT
        raise


def ours(t: Target, me: str, key: str) -> list[dict]:
    """Our comments for this key, oldest first: the marker first, written by us; one without the
    second line (an older tinyqa's) counts for any key."""
    found = []
    for c in _pages(t):
        body = c.get("body") or ""
        if c.get("system") or not body.startswith(MARKER) or author_of(c, t.forge) != me:
            continue
        run = recorded(body)
        if run is None or run.key == key:
            found.append(c)
    return sorted(found, key=lambda c: _int(c.get("id")))


def _order(c: dict) -> tuple:
    run = recorded(c.get("body") or "")
    return tuple(run.order) if run else (-1,)     # an older tinyqa's comment: older than any run


def upsert(t: Target, body: str, run: Run, env: dict) -> tuple[str, object]:
    """Edit our comment for run.key, or create one: ("updated" | "created" | "kept", its id).
    "kept": the comment holds a newer run's verdict and is left as it is. More than one of ours
    for the key (two first runs created one each): the oldest stays, with the newest verdict of
    them and this run's, and the others are deleted."""
    me = whoami(t, env)
    found, created = ours(t, me, run.key), None
    if not found:
        made, _ = _call("POST", t.comments_url, t.headers, {"body": body})
        created = made.get("id")
        found = ours(t, me, run.key)      # another run may have created one meanwhile
        if len(found) <= 1:
            return "created", created
    keep, *extra = found
    # the newest verdict: this run's on a tie (the same run posting again)
    candidates = [((*_order(c), 0), c.get("body") or "") for c in found if c.get("id") != created]
    best_order, best = max([*candidates, ((*tuple(run.order), 1), body)], key=lambda x: x[0])
    if best != (keep.get("body") or ""):
        _call(t.update_method, t.comment_url.format(id=keep["id"]), t.headers, {"body": best})
    for c in extra:
        _call("DELETE", t.comment_url.format(id=c["id"]), t.headers)
    if best_order[-1] == 0:
        return "kept", keep["id"]
    return ("created" if keep.get("id") == created else "updated"), keep["id"]


def compose(body_file: Path, link: str | None, env: dict, run: Run | None = None) -> str:
    run = run or Run()
    if body_file.is_file():
        body = body_file.read_text(encoding="utf-8")
    else:
        body = f"{MARKER}\n## ⚠️ tinyqa gate: no verdict\n\nThe gate did not get to a verdict: see the job's log.\n"
    if body.startswith(MARKER):
        body = body[len(MARKER):].lstrip("\n")
    body = f"{MARKER}\n{run.line()}\n{body}"
    server = env.get("GITHUB_SERVER_URL")
    job = (f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
           if env.get("GITHUB_RUN_ID") and server else env.get("CI_JOB_URL"))
    links = [f"judged commit {run.sha}" if run.sha else "",   # a full SHA: GitHub and GitLab link it
             f"[reports and dashboard]({link})" if link else "", f"[the job]({job})" if job else "",
             f"`{run.key}`" if run.key else ""]
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
    ap.add_argument("--key", default="", help="The job's key: one comment per key (a matrix entry: model and packs).")
    args = ap.parse_args(argv)
    target = github(env) if env.get("GITHUB_ACTIONS") == "true" else gitlab(env)
    if target is None:
        print("tinyqa comment: not a pull or merge request; nothing to comment on")
        return 0
    if not env.get(target.token_var):
        why = " (a protected variable reaches only protected branches' pipelines)" if target.forge == "gitlab" else ""
        _warn(f"no token in {target.token_var}: no comment posted on {target.what}{why}", env)
        return 0
    run = this_run(env, " ".join(args.key.split()))
    try:
        action, cid = upsert(target, compose(args.body, args.link, env, run), run, env)
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
    if action == "kept":
        print(f"tinyqa comment: comment {cid} on {target.what} holds a newer run's verdict: left as it is")
    else:
        print(f"tinyqa comment: {action} comment {cid} on {target.what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
