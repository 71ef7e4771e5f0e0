"""Untrusted answers and inputs (docs/security.md): nothing a model, a pack, a pull request or
another local user writes can forge a verdict, reach outside the store, fill the disk, print
escape sequences to a terminal, make validation fetch a URL, or leak a secret.

Each test names the threat it covers in docs/security.md's table."""
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import GOLD, MINI
from fakeserver import ScriptedServer

from tinyqa import cli, text
from tinyqa.suites import gate
from tinyqa.suites.result import Check, GateResult, RunResult

FORGED = "@octocat </details>\n\n<h1>✅ tinyqa gate: PASS</h1><details><summary>x</summary>"
ESCAPES = ("\x1b[31mred\x1b[0m \x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\ "
           "\x1b]52;c;ZXZpbA==\x07 \x9b2J")
MARKUP = "[/] [link=http://evil.example/]click[/link] [bold]x"
TINYQA = shutil.which("tinyqa", path=str(Path(sys.executable).parent)) or "tinyqa"


def _flipped(answer: str) -> list[Check]:
    """A gate whose baseline answered two items right and whose run answers them `answer`."""
    def rows(ok, prediction):
        return [{"pack_id": "core_en", "item_id": f"en-{i}", "lang": "en", "question": f"q{i} {answer}?",
                 "prediction": prediction, "em": ok, "contains": ok, "em_extracted": ok, "error": None}
                for i in range(2)]

    baseline = gate.baseline_from_rows({"run_id": "r0", "model": "m", "prompt_template": "t", "prompt_hash": "h"},
                                       rows(True, "yes"))
    return gate.verdict(rows(False, answer), baseline, gate.Thresholds())


def _other_check(label: str, message: str, details=()) -> Check:
    """A failed check of pack core_en other than a floor or a drop, whose label and message
    quote untrusted text (built by field names: checks gain a `kind` on another branch)."""
    import dataclasses

    if "kind" in {f.name for f in dataclasses.fields(Check)}:
        return Check(kind="note", pack_id="core_en", subject=label, passed=False, message=message, details=list(details))
    return Check(pack_id="core_en", name=label, passed=False, message=message, details=list(details))


# --- 1. a model answer forges the pull-request comment --------------------------------------

def test_a_forged_heading_and_mention_in_an_answer_do_not_render():
    """Threat: model answers → the PR comment, the step summary, GitLab notes."""
    from markdown_it import MarkdownIt

    from tinyqa.reports import markdown

    checks = [*_flipped(FORGED), _other_check(f"note {FORGED}", f"message {FORGED}")]
    result = GateResult("openai/x`y", checks, [RunResult({"run_id": "r1"})], notices=[f"notice {FORGED}"])
    doc = markdown.gate(result)
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    tokens = md.parse(doc)
    inline = [t for tok in tokens for t in ([tok] + (tok.children or []))]
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert len(headings) == 1 and headings[0].startswith("❌ tinyqa gate: FAIL"), headings
    html = [t.content for t in inline if t.type in ("html_block", "html_inline")]
    opened = sum(h.count("<details>") for h in html)
    assert opened >= 1 and sum(h.count("</details>") for h in html) == opened, html
    assert not any("<h1" in h for h in html)
    rendered = md.render(doc)
    assert "<h1" not in rendered and not re.search(r"@octocat", rendered)
    assert "@\u200boctocat" in rendered            # shown, but no mention
    assert "&lt;/details&gt;" in rendered          # the answer's tags shown as text


def test_a_long_answer_is_cut_in_the_comment():
    from tinyqa.reports import markdown

    doc = markdown.gate(GateResult("m", _flipped("y" * 100_000), [RunResult({"run_id": "r1"})]))
    assert len(doc) < 10_000 and "…" in doc


def test_junit_stays_well_formed_under_hostile_text(tmp_path):
    """Threat: model answers and questions → JUnit XML read by CI."""
    from tinyqa.reports import junit

    hostile = f"{FORGED} ]]> <![CDATA[ & \x00 {ESCAPES} \ud800"
    checks = [*_flipped(hostile), _other_check(f"c {hostile}", f"m {hostile}", [hostile])]
    path = junit.write(tmp_path / "j.xml", checks, properties={"model": hostile})
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and len(root.findall(".//failure")) >= 1
    assert b"\x1b" not in path.read_bytes() and b"\x00" not in path.read_bytes()


# --- 3. answer size -------------------------------------------------------------------------

def test_an_answer_is_capped_as_it_arrives_with_its_length_and_hash():
    """Threat: model answers of any size (max_tokens is a request, not a limit)."""
    from tinyqa.models import llm

    big = "x" * (10 * 1024 * 1024)
    with ScriptedServer(lambda q, n: big) as srv:
        t = llm.target("openai/x", srv.url)
        answer = llm.on_loop(llm.complete(t, [{"role": "user", "content": "q"}], timeout=60))
    assert answer.error is None and len(answer.text) == text.ANSWER_MAX
    assert answer.chars == len(big) and answer.sha256 == hashlib.sha256(big.encode()).hexdigest()


def _peak_rss(argv, env, cwd) -> tuple[subprocess.CompletedProcess, int]:
    """Run `argv` under a Python that reports its children's peak RSS (kB): the command, and
    every process it waited for (its Prefect API)."""
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
             "sys.stderr.write('\\nPEAK_RSS_KB=%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
             "sys.exit(r.returncode)")
    res = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, env=env, cwd=cwd,
                         timeout=600)
    peak = int(re.search(r"PEAK_RSS_KB=(\d+)", res.stderr).group(1))
    return res, peak


@pytest.mark.slow
def test_two_10mb_answers_keep_every_file_small_and_memory_flat(tmp_path, cli_env, mini_pack):
    """Two 10 MB answers: gate.md, the step summary, junit.xml, the store's files, the
    dashboard and stdout each stay under 1 MiB, and the command's peak memory within 1.5x a
    run of normal answers."""
    huge = {MINI[0]["text"], MINI[2]["text"]}
    big = "Paris " + "z" * (10 * 1024 * 1024)
    reports = tmp_path / "reports"
    common = ["--model", "openai/x", "--packs", str(mini_pack), "--reports", str(reports), "--no-cache"]
    with ScriptedServer(lambda q, n: GOLD[q]) as normal:
        first = subprocess.run([TINYQA, "run", "--api-base", normal.url, *common], capture_output=True, text=True,
                               env=cli_env, cwd=tmp_path, timeout=300)
        assert first.returncode == 0, first.stderr
        run_id = re.search(r"\(run ([^)]+)\)", first.stdout).group(1)
        base = subprocess.run([TINYQA, "baseline", "update", run_id, "--reports", str(reports), "--out",
                               str(tmp_path / "b.json")], capture_output=True, text=True, env=cli_env, timeout=120)
        assert base.returncode == 0, base.stderr
        gate_args = ["gate", *common, "--baseline", str(tmp_path / "b.json")]
        ok, ok_peak = _peak_rss([TINYQA, *gate_args, "--api-base", normal.url], cli_env, tmp_path)
        assert ok.returncode == 0, ok.stderr
    out = tmp_path / "out"
    out.mkdir()
    env = cli_env | {"GITHUB_STEP_SUMMARY": str(out / "summary.md")}
    with ScriptedServer(lambda q, n: big if q in huge else GOLD[q]) as hostile:
        res, peak = _peak_rss([TINYQA, *gate_args, "--api-base", hostile.url, "--junit", str(out / "junit.xml"),
                               "--markdown", str(out / "gate.md")], env, tmp_path)
    assert res.returncode in (0, 1), res.stderr
    site = subprocess.run([TINYQA, "report", "--reports", str(reports), "--out", str(out / "site")],
                          capture_output=True, text=True, env=cli_env, timeout=300)
    assert site.returncode == 0, site.stderr
    written = [p for p in [*out.rglob("*"), *reports.rglob("*")] if p.is_file()]
    assert {"gate.md", "junit.xml", "summary.md", "index.html"} <= {p.name for p in written}
    sizes = {str(p): p.stat().st_size for p in written}
    print(f"peak RSS: normal answers {ok_peak} kB, two 10 MB answers {peak} kB; largest file "
          f"{sorted(sizes.items(), key=lambda kv: -kv[1])[:3]}; stdout+stderr {len(res.stdout) + len(res.stderr)} B")
    assert max(sizes.values()) < 1024 * 1024, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
    assert len(res.stdout) + len(res.stderr) < 1024 * 1024 and len(site.stdout) < 1024 * 1024
    assert peak < 1.5 * ok_peak, (peak, ok_peak)
    import pyarrow.dataset as ds

    items = ds.dataset(reports / "items", partitioning="hive").to_table().to_pylist()
    capped = [r for r in items if r["prediction_chars"] == len(big)]
    assert len(capped) == 2 and all(len(r["prediction"]) == text.ANSWER_MAX for r in capped)
    assert all(r["prediction_sha256"] == hashlib.sha256(big.encode()).hexdigest() for r in capped)


# --- 4. terminal injection and a crash -----------------------------------------------------

def test_generate_rejects_items_with_control_characters():
    """Threat: generated items (written by a model) → packs, terminals."""
    from tinyqa.generators.generate import candidate_item

    good = {"text": "What is the capital of France?", "label": "Paris", "aliases": [],
            "context": "Paris is the capital of France.", "category": "geography"}
    args = ("en", "easy", ("geography",), {"source": "generated"})
    assert not isinstance(candidate_item(good, *args), str)
    for field, bad in (("text", "What is \x1b]8;;http://evil/\x1b\\the capital\x1b]8;;\x1b\\ of France?"),
                       ("text", "What is the capital of France\x9b?"), ("context", "Paris is\x07 the capital of France."),
                       ("aliases", ["Par\x1b[2Jis"])):
        assert candidate_item({**good, field: bad}, *args) == "control", (field, bad)
    assert isinstance(candidate_item({**good, "category": "geography\x1b"}, *args), str)   # not one asked for
    # Markup is text: kept as written (and printed as text wherever it is shown).
    item = candidate_item({**good, "text": "What is the capital of France [link=http://evil/]?"}, *args)
    assert not isinstance(item, str) and "[link=" in item.text


def test_validate_rejects_control_characters_in_a_pack(mini_pack):
    """Threat: pack files from a pull request."""
    folder = mini_pack
    lines = (folder / "data.jsonl").read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace("How many legs", "How many \\u001b]52;c;ZXZpbA==\\u0007legs")
    (folder / "data.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = CliRunner().invoke(cli.app, ["validate", str(folder)])
    assert res.exit_code == 1, res.output
    assert "data.jsonl:2: field text: contains the control character U+001B" in res.output
    assert "\x1b" not in res.output


def _store_with_question(root: Path, question: str) -> None:
    from tinyqa.reports import store

    at = datetime(2026, 11, 1, tzinfo=timezone.utc)
    for k in range(2):
        run_id = f"20261101T00000{k}Z-0"
        store.write(root, "items", [{"run_id": run_id, "suite": "tinyqa", "pack_id": "p", "item_id": "x-1",
                                     "lang": "en", "category": "c", "difficulty": "easy", "question": question,
                                     "gold": f"gold {MARKUP}", "prediction": "no", "em": False, "contains": False,
                                     "latency_s": 0.1, "cached": False, "attempts": 1, "error": None}],
                    run_id, "2026-11-01")
        store.write(root, "runs", [{"run_id": run_id, "started_at": at, "finished_at": at, "suite": "tinyqa",
                                    "model": "m", "prompt_template": "qa-v1", "pack_ids": ["p"],
                                    "status": "complete"}], run_id, "2026-11-01")


def test_items_prints_markup_and_escape_sequences_as_text(tmp_path):
    """Threat: questions and gold in the store (from packs) → the terminal."""
    _store_with_question(tmp_path / "r", f"Q {MARKUP} {ESCAPES}?")
    res = CliRunner().invoke(cli.app, ["items", "--reports", str(tmp_path / "r"), "--per-item"],
                             terminal_width=400)
    assert res.exit_code == 0, res.output
    assert "[/] [link=http://evil.example/]click[/link]" in res.output
    assert "\x1b" not in res.output and "\x9b" not in res.output and "\x07" not in res.output
    assert "\\x1b[31mred\\x1b[0m" in res.output


def test_the_terminal_form_shows_every_control_character():
    assert text.visible("a\x1b[0m\u202eb\x9b") == "a\\x1b[0m\\u202eb\\x9b"
    assert text.terminal("[/] \x1b") == "\\[/] \\x1b"
    assert text.control_char("ok\tline\n", "\t\n") is None and text.control_char("a\x7f") == "\x7f"


# --- 5. --resume leaves the checkpoint folder ------------------------------------------------

@pytest.mark.parametrize("run_id", ["../../outside/victim", "../victim", "a/../../../outside/victim", ".hidden"])
def test_resume_with_a_path_is_one_line_and_touches_nothing(tmp_path, run_id):
    """Threat: a run id given on the command line (a CI input) → paths."""
    reports = tmp_path / "a" / "reports"
    (reports / "_checkpoints").mkdir(parents=True)    # there after any interrupted run
    victim = tmp_path / "a" / "outside" / "victim.jsonl"
    victim.parent.mkdir()
    victim.write_text(json.dumps({"meta": {"model": "openai/evil", "api_base": "http://127.0.0.1:9/v1"}}) + "\n")
    before = victim.read_bytes(), victim.stat().st_mtime_ns
    res = subprocess.run([TINYQA, "run", "--resume", run_id, "--reports", str(reports)], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path, env=dict(os.environ, TINYQA_WORKER="0"))
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "not a run id" in res.stderr, res.stderr
    assert (victim.read_bytes(), victim.stat().st_mtime_ns) == before
    assert list(reports.rglob("*")) == [reports / "_checkpoints"]


def test_report_file_names_are_checked(tmp_path):
    from tinyqa.reports import store
    from tinyqa.reports.checkpoint import Checkpoint

    for run_id, date in (("../x", "2026-11-01"), ("a/b", "2026-11-01"), ("r1", "../../x")):
        with pytest.raises(ValueError, match="bad run id"):
            store.write(tmp_path, "runs", [], run_id, date)
    with pytest.raises(Exception, match="not a run id"):
        Checkpoint.path_for(tmp_path, "../x")
    assert list(tmp_path.iterdir()) == []


# --- 6. validate fetches what a pack names --------------------------------------------------

class _Recorder(BaseHTTPRequestHandler):
    requests: list[str] = []
    body = b""

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


def test_validate_makes_no_request_for_a_url_a_pack_names(mini_pack):
    """Threat: pack files from a pull request (croissant.json) → network requests."""
    from tinyqa.validators.validate import validate_pack

    folder = mini_pack
    data = (folder / "data.jsonl").read_bytes()
    _Recorder.requests, _Recorder.body = [], data
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/data.jsonl"
        meta = json.loads((folder / "croissant.json").read_text(encoding="utf-8"))
        remote = {**meta["distribution"][0], "@id": "remote", "name": "remote", "contentUrl": url}
        meta["distribution"].append(remote)
        for f in meta["recordSet"][0]["field"]:
            f["source"]["fileObject"] = {"@id": "remote"}
        (folder / "croissant.json").write_text(json.dumps(meta), encoding="utf-8")
        problems = validate_pack(folder)
    finally:
        httpd.shutdown()
    assert _Recorder.requests == []
    assert any("distribution[1].contentUrl" in p and "not a file of the pack" in p for p in problems), problems


def test_a_remote_jsonld_context_is_refused(tmp_path):
    from tinyqa.validators import croissant

    assert croissant.outside({"@context": "http://127.0.0.1:9/ctx.jsonld"}, tmp_path)
    for bad in ("../elsewhere/data.jsonl", "/etc/passwd", "file:///etc/passwd", "C:/x", "~/x"):
        assert croissant.outside({"distribution": [{"contentUrl": bad}]}, tmp_path), bad
    assert croissant.outside({"@context": {}, "distribution": [{"contentUrl": "data.jsonl"}]}, tmp_path) == []


# --- 7. redaction matches every encoding of a secret ----------------------------------------

SECRET_QUERY = "Q%2BSECRET%2Fzz"
SECRET = "Q+SECRET/zz"


def _echoes() -> list[str]:
    from urllib.parse import quote, quote_plus

    return [SECRET, SECRET_QUERY, "Q%2bSECRET%2fzz", quote(SECRET, safe=""), quote_plus(SECRET), quote(SECRET),
            json.dumps(SECRET)[1:-1].replace("/", "\\/"), f"http://127.0.0.1:1/v1?key={SECRET_QUERY}&x=1",
            f"http://u:{SECRET}@host/v1"]


def test_a_provider_error_is_redacted_in_every_encoding():
    """Threat: provider error text → terminal, store, Prefect's home."""
    from tinyqa.models import llm

    t = llm.Target("openai/x", f"http://127.0.0.1:1/v1?key={SECRET_QUERY}")
    for echo in _echoes():
        err = RuntimeError(f"401: bad credential {echo!r} (nested: {{'error': {{'message': 'key={echo}'}}}})")
        line = llm._error(err, t)
        assert "SECRET" not in line.upper(), (echo, line)
    assert "http://127.0.0.1:1/v1?***" in llm._error(RuntimeError(f"at {t.api_base}"), t)


def test_lmeval_errors_are_redacted():
    from pydantic import SecretStr

    from tinyqa.suites import lmeval

    settings = lmeval.Settings(model="openai/x", tasks=("arc_easy",), backend="local-chat-completions",
                               api_base=SecretStr(f"http://127.0.0.1:1/v1?key={SECRET_QUERY}"))
    for echo in _echoes():
        assert "SECRET" not in lmeval._first_line(RuntimeError(f"failed at {echo}"), settings).upper(), echo


def test_env_secrets_are_redacted_in_every_encoding():
    env = {"MY_SERVICE_PASSWD": "p@ss/word+1", "PATH": "/usr/bin"}
    for form in ("p@ss/word+1", "p%40ss%2Fword%2B1", "p%40ss/word%2B1", "p%40ss%2Fword%2B1".lower()):
        assert "word" not in text.redact(f"x {form} y", env=env), form
    assert text.redact("/usr/bin", env=env) == "/usr/bin"


# --- 8. the warm worker ---------------------------------------------------------------------

def test_the_worker_folder_must_be_the_users_own(tmp_path):
    """Threat: other local users (a shared /tmp)."""
    from tinyqa import worker

    made = worker.private_folder(tmp_path / "tinyqa-1")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    open_ = tmp_path / "open"
    open_.mkdir()
    open_.chmod(0o777)
    with pytest.raises(worker.UnsafeFolder, match="writable by others"):
        worker.private_folder(open_)
    link = tmp_path / "link"
    link.symlink_to(made)
    with pytest.raises(worker.UnsafeFolder, match="not a folder"):
        worker.private_folder(link)
    if os.getuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        with pytest.raises(worker.UnsafeFolder, match="another user"):
            worker.private_folder(theirs)


def test_a_command_runs_without_the_worker_when_its_folder_is_not_safe(tmp_path, monkeypatch, capsys):
    from tinyqa import worker

    monkeypatch.setenv("TINYQA_WORKER", "1")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(worker, "socket_path", lambda k: (_ for _ in ()).throw(worker.UnsafeFolder("tinyqa: unsafe")))
    import inspect

    more = ["tinyqa.worker_cli"] if len(inspect.signature(worker.handle).parameters) > 1 else []   # its serve module
    assert worker.handle(["run", "--model", "x"], *more) is None
    assert capsys.readouterr().err.strip() == "tinyqa: unsafe"


def test_the_worker_keeps_no_credential_variable():
    from tinyqa import worker

    env = {"PATH": "/usr/bin", "HOME": "/home/u", "PREFECT_API_URL": "http://127.0.0.1:4200/api",
           "DB_PASSWD": "x", "SMTP_PASSWORD": "x", "OPENAI_API_KEY": "x", "HF_TOKEN": "x",
           "PREFECT_API_AUTH_STRING": "admin:pass", "DATABASE_URL": "postgres://user:pw@db/x",
           "HTTPS_PROXY": "http://u:p@proxy:3128", "AWS_SECRET_ACCESS_KEY": "x", "GOOGLE_APPLICATION_CREDENTIALS": "/k"}
    assert worker.worker_env(env) == {k: env[k] for k in ("PATH", "HOME", "PREFECT_API_URL")}


@pytest.mark.slow
def test_the_workers_prefect_api_takes_only_its_credential(tmp_path, monkeypatch):
    """Threat: other local users reaching the worker's Prefect API on loopback."""
    import urllib.error
    import urllib.request
    from base64 import b64encode

    from tinyqa import prefect_api

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    server = prefect_api.server("tinyqa:s3cret-for-test").start()
    try:
        server.wait_ready(180)
        url = server.url + "/api/flows/filter"

        def post(auth=None):
            req = urllib.request.Request(url, data=b"{}", method="POST", headers={"Content-Type": "application/json"})
            if auth:
                req.add_header("Authorization", "Basic " + b64encode(auth.encode()).decode())
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code

        assert post() == 401 and post("tinyqa:wrong") == 401
        assert post("tinyqa:s3cret-for-test") == 200
    finally:
        server.stop()


# --- sound today: keep it so ----------------------------------------------------------------

SOURCES = ["tinyqa", "flows", "suites", "models", "reports", "validators", "generators"]


def test_no_pickle_eval_or_shell_in_the_source():
    root = Path(__file__).parent.parent
    banned = re.compile(r"\bpickle\b|(?<![.\w])eval\(|(?<![.\w])exec\(|shell\s*=\s*True|yaml\.load\(|"
                        r"os\.system\(|marshal\.loads")
    hits = [f"{p}:{n}: {line.strip()}" for d in SOURCES for p in sorted((root / d).rglob("*.py"))
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if banned.search(line) and not line.lstrip().startswith("#")]
    assert hits == []


def test_the_actions_inputs_reach_scripts_only_through_env():
    """Threat: PR authors' values in the action's inputs → shell scripts (script injection)."""
    import yaml

    action = yaml.safe_load((Path(__file__).parent.parent / "action.yml").read_text(encoding="utf-8"))
    for step in action["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")
