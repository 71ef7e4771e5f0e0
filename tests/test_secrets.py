"""Secrets never reach a report, a log, a cache key, a Prefect artifact or an export.

`tinyqa run` goes twice through the qa-run flow against a loopback server: once with a
recognisable fake key in OPENAI_API_KEY, once with another in the api_base URL's userinfo.
The server refuses one item, echoing the credential it received in its error message, as some
providers do (the items table records error messages). Then every file
written (reports, response cache, Prefect's home with its database and artifacts, exports,
HOME and TMPDIR of the runs) and everything printed is scanned for the keys.
"""
import base64
import json
import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from conftest import GOLD, MINI, write_pack
from fakeserver import Fault, ScriptedServer

# The tests that use `world` are slow: two `tinyqa run`s, each starting Prefect's ephemeral API.
slow = pytest.mark.slow

KEY_ENV = f"sk-tinyqa-FAKE-ENV-{secrets.token_hex(8)}"
KEY_URL = f"sk-tinyqa-FAKE-URL-{secrets.token_hex(8)}"
USER = "tinyqa-user"
# A key in the api_base's query, URL-encoded (`+` and `/` in it): the provider refuses every
# request, echoing it raw, decoded and re-encoded; the token alone is in every encoding.
QUERY_TOKEN = f"SECRETQ{secrets.token_hex(8)}"
QUERY_KEY = f"Q+{QUERY_TOKEN}/zz"
ECHOED = "Who wrote Hamlet?"   # the item whose request the server refuses, echoing its credential


def needles() -> dict[str, bytes]:
    """Every form a key could be written in: as is, and inside an HTTP Basic credential."""
    return {"env key": KEY_ENV.encode(), "url key": KEY_URL.encode(),
            "url userinfo (base64)": base64.b64encode(f"{USER}:{KEY_URL}".encode()),
            "env key prefix": KEY_ENV[:-8].encode(), "url key prefix": KEY_URL[:-8].encode(),
            "url query key (any encoding)": QUERY_TOKEN.encode()}


def scan(root: Path) -> list[str]:
    """`path: needle` for each file under `root` that holds one of the needles."""
    return [f"{p}: {name}" for p in sorted(root.rglob("*")) if p.is_file()
            for name, needle in needles().items() if needle in p.read_bytes()]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Both runs and the exports done; everything they wrote lies under `root`."""
    from tinyqa.validators.croissant import describe_pack

    root = tmp_path_factory.mktemp("secrets")
    pack = describe_pack(write_pack(root / "packs" / "mini", MINI)).path
    for d in ("work", "home", "tmp"):
        (root / d).mkdir()
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    env.update(TINYQA_CACHE_DIR=str(root / "cache"), PREFECT_HOME=str(root / "prefect"),
               HOME=str(root / "home"), TMPDIR=str(root / "tmp"),
               PREFECT_SERVER_ANALYTICS_ENABLED="false",
               # A cold PREFECT_HOME migrates its database first: slow on a busy machine.
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")

    def answer(q, n):
        if q != ECHOED:
            return GOLD[q]
        (request,) = [r for r in srv.requests if r["body"]["messages"][-1]["content"] == q][-1:]
        auth = next((v for k, v in request["headers"].items() if k.lower() == "authorization"), "")
        kind, _, credential = auth.partition(" ")
        if kind == "Basic":
            credential = base64.b64decode(credential).decode()
        msg = f"Incorrect API key provided: {credential}. You can find your API key at ..."
        return Fault(401, body=json.dumps({"error": {"message": msg, "type": "invalid_request_error"}}).encode())

    def run(*args, extra_env=None):
        return subprocess.run(["tinyqa", *args], cwd=root / "work", env={**env, **(extra_env or {})},
                              capture_output=True, text=True, timeout=300)

    with ScriptedServer(answer) as srv:
        # On Prefect (its temporary API): what Prefect records is scanned too.
        common = ["--model", "openai/x", "--packs", str(pack), "--reports", str(root / "reports"), "--prefect"]
        by_env = run("run", "--api-base", srv.url, *common, extra_env={"OPENAI_API_KEY": KEY_ENV})
        with_userinfo = srv.url.replace("http://", f"http://{USER}:{KEY_URL}@")
        by_url = run("run", "--api-base", with_userinfo, *common)
    from urllib.parse import quote, quote_plus

    def refuse(q, n):   # echoes the key as providers do: as sent, decoded, re-encoded, in a URL
        msg = (f"invalid key {quote(QUERY_KEY, safe='')} ({QUERY_KEY}, {quote_plus(QUERY_KEY)}) "
               f"for {srv_q.url}?key={quote(QUERY_KEY, safe='')}")
        return Fault(401, body=json.dumps({"error": {"message": msg, "type": "invalid_request_error"}}).encode())

    with ScriptedServer(refuse) as srv_q:
        by_query = run("run", "--api-base", f"{srv_q.url}?key={quote(QUERY_KEY, safe='')}", "--model", "openai/x",
                       "--packs", str(pack), "--reports", str(root / "reports-query"))
    exports = [run("export", str(pack), "--format", fmt, "--out", str(root / "exports" / fmt),
                   extra_env={"OPENAI_API_KEY": KEY_ENV})
               for fmt in ("csv", "promptfoo", "langsmith")]
    return {"root": root, "url": srv.url, "requests": srv.requests, "runs": [by_env, by_url], "exports": exports,
            "by_query": by_query}


@slow
def test_the_runs_used_the_keys_and_recorded_the_refusal(world):
    by_env, by_url = world["runs"]
    # One item refused (401, not retried): exit 3. With userinfo in the URL LiteLLM's client
    # cannot connect at all (every item errors: exit 3); a CLI that refuses credentials in
    # --api-base would exit 2.
    assert by_env.returncode == 3, by_env.stderr
    assert by_url.returncode in (2, 3), by_url.stderr
    assert all(r.returncode == 0 for r in world["exports"]), [r.stderr for r in world["exports"]]
    auth = [v for r in world["requests"] for k, v in r["headers"].items() if k.lower() == "authorization"]
    assert f"Bearer {KEY_ENV}" in auth          # the key went where it belongs: to the provider
    items = ds.dataset(world["root"] / "reports" / "items", partitioning="hive").to_table().to_pylist()
    refused = [r for r in items if r["question"] == ECHOED and r["error"].startswith("AuthenticationError")]
    assert len(refused) == 1 and refused[0]["attempts"] == 1
    # Recorded, with the echoed key masked.
    assert "Incorrect API key provided: ***." in refused[0]["error"], refused[0]["error"]


@slow
def test_a_key_in_the_api_base_query_is_redacted_in_every_encoding(world):
    """The provider refused every request of the third run, echoing the query's key: the run
    stops (exit 3) saying why, with the key masked; no file (reports, cache, Prefect's
    database with its state messages and events) and no output holds it (the scan above)."""
    res = world["by_query"]
    assert res.returncode == 3 and "refused every request" in res.stderr, res.stderr
    assert "invalid key ***" in res.stderr and QUERY_TOKEN not in res.stdout + res.stderr
    assert [hit for hit in scan(world["root"]) if "query" in hit] == []


@slow
def test_runs_table_records_api_base_without_credentials(world):
    runs = ds.dataset(world["root"] / "reports" / "runs", partitioning="hive").to_table().to_pylist()
    assert len(runs) == (2 if world["runs"][1].returncode == 3 else 1)
    assert {r["api_base"] for r in runs} == {world["url"]}


@slow
def test_no_report_cache_export_or_output_holds_a_key(world):
    root = world["root"]
    assert list((root / "cache").rglob("*.json")), "the response cache was not written"
    assert list((root / "exports").rglob("*.*")), "no export was written"
    leaks = [hit for hit in scan(root) if not hit.startswith(str(root / "prefect"))]
    assert leaks == []
    for r in [*world["runs"], world["by_query"], *world["exports"]]:
        for name, needle in needles().items():
            assert needle.decode() not in r.stdout + r.stderr, name


def _artifacts(root: Path) -> int:
    with sqlite3.connect(root / "prefect" / "prefect.db") as db:
        return db.execute("select count(*) from artifact").fetchone()[0]


@slow
def test_prefect_database_and_artifacts_hold_no_env_key(world):
    root = world["root"]
    assert _artifacts(root) >= 4, "the runs' artifacts are not in the scanned database"
    assert [hit for hit in scan(root / "prefect") if "env key" in hit] == []


@slow
def test_prefect_database_holds_no_url_credentials(world):
    # Flows take api_base as a SecretStr: Prefect records `**********`.
    assert [hit for hit in scan(world["root"] / "prefect") if "url" in hit] == []
    with sqlite3.connect(world["root"] / "prefect" / "prefect.db") as db:
        params = [json.loads(p) for (p,) in db.execute("select parameters from flow_run")]
    assert params and all(p["api_base"] == "**********" for p in params), params


def test_cache_key_never_holds_credentials():
    from tinyqa.models.cache import key
    from tinyqa.models.llm import target

    plain = target("openai/x", "http://127.0.0.1:8000/v1")
    secret = target("openai/x", f"http://{USER}:{KEY_URL}@127.0.0.1:8000/v1?api_key={KEY_URL}")
    assert secret.identity == plain.identity and KEY_URL not in json.dumps(secret.identity)
    assert key(secret.identity, [], {}) == key(plain.identity, [], {})
