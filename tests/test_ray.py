"""`tinyqa nightly --task-runner ray://…` on a Ray cluster started as a team starts one: `ray
start --head` and a second node joining it with `ray start --address`, on 127.0.0.1 (in a
network namespace of its own, tests/ray_netns.py says why). The runs must come from tasks on
both nodes, their reports whole in the store."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from conftest import GOLD, MINI, write_pack

pytestmark = pytest.mark.slow

MODELS = ("openai/a", "openai/b")


def _netns() -> str | None:
    """Why a network namespace cannot be made here, or None when it can."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare and ip (util-linux, iproute2)"
    res = subprocess.run(["unshare", "--net", "ip", "link", "set", "lo", "up"], capture_output=True, text=True)
    return None if res.returncode == 0 else f"unshare --net: {res.stderr.strip()} (needs root or CAP_SYS_ADMIN)"


def test_nightly_on_a_two_node_ray_cluster(tmp_path, cli_env):
    pytest.importorskip("prefect_ray", reason="the `ray` extra is not installed (pip install -e '.[ray]')")
    if why := _netns():
        pytest.skip(f"a Ray cluster on loopback only: {why}")
    from tinyqa.validators.croissant import describe_pack

    work = tmp_path / "work"
    for i in range(2):
        describe_pack(write_pack(work / "packs" / f"p{i}", MINI))
    (work / "gold.json").write_text(json.dumps(GOLD))
    out = tmp_path / "result.json"
    proc = subprocess.Popen(["unshare", "--net", sys.executable, str(Path(__file__).parent / "ray_netns.py"),
                             str(work), str(out), "client"], env={**cli_env, "HOME": str(tmp_path)},
                            start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        log, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:   # past the limit: the script stops its nodes on SIGTERM
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert proc.returncode == 0 and out.is_file(), log[-4000:]
    result = json.loads(out.read_text())
    client = result["client"]
    assert client["returncode"] == 0, client["stdout"] + client["stderr"]
    assert "4 tiny QA run(s), 0 item error(s)" in client["stdout"]
    assert len(result["nodes"]) == 2 and len(client["task_nodes"]) == 4
    assert set(client["task_nodes"]) == set(result["nodes"]), result      # tasks ran on both nodes
    assert result["asked"] == 16
    reports = work / "reports-client"
    runs = ds.dataset(reports / "runs", partitioning="hive").to_table().to_pylist()
    assert sorted((r["model"], r["pack_ids"][0]) for r in runs) == sorted((m, p) for m in MODELS for p in ("p0", "p1"))
    items = ds.dataset(reports / "items", partitioning="hive").to_table()
    assert items.num_rows == 16 and all(items.column("em").to_pylist())
