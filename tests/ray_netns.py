"""`tinyqa nightly` on a two-node Ray cluster, all on 127.0.0.1 inside a network namespace of
its own: `unshare --net python tests/ray_netns.py WORK RESULT.json [RUNNER ...]`.

Ray gives a node that joins a cluster the machine's own address instead of 127.0.0.1 (only a
machine with no other address keeps loopback), so the cluster, the scripted model server and
the command run where loopback is the only address. For each RUNNER (`client`: ray://HOST:PORT
through the head's client server; `driver`: `--task-runner ray` with RAY_ADDRESS, the head's
GCS address), WORK/tinyqa.toml names the server, `tinyqa nightly` runs in WORK on the packs
WORK/packs/* with the store WORK/reports-RUNNER, and RESULT.json gets its exit code, output
and the Ray node each tiny-qa task ran on (Ray's state API)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from clusters import BIN, _quiet, ray_cluster  # noqa: E402
from fakeserver import ScriptedServer  # noqa: E402

MODELS = ("openai/a", "openai/b")


def main(work: Path, out: Path, runners: list[str]) -> None:
    # Stopped from outside (the test's time limit): unwind, so that the nodes are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    gold = json.loads((work / "gold.json").read_text())
    packs = ",".join(sorted(str(p.relative_to(work)) for p in (work / "packs").iterdir()))
    result = {}
    with ScriptedServer(lambda q, n: gold.get(q, "?"), latency=0.3) as srv, \
            ray_cluster(work / "cluster", dict(os.environ)) as (gcs, client, dashboard):
        (work / "tinyqa.toml").write_text("".join(f'[models."{m}"]\napi_base = "{srv.url}"\n' for m in MODELS))
        from ray.util.state import list_nodes, list_tasks

        result["nodes"] = [n.node_id for n in _quiet(list_nodes, dashboard)]
        seen: set[str] = set()
        for runner in runners:
            spec, env = (client, dict(os.environ)) if runner == "client" else ("ray", dict(os.environ, RAY_ADDRESS=gcs))
            t0 = time.monotonic()
            res = subprocess.run([str(BIN / "tinyqa"), "nightly", "--task-runner", spec,
                                  "--models", ",".join(MODELS), "--packs", packs, "--reports", f"reports-{runner}",
                                  "--site", f"site-{runner}"], cwd=work, env=env, capture_output=True, text=True,
                                 timeout=400)
            wall = time.monotonic() - t0
            tasks, deadline = [], time.monotonic() + 30   # task events reach the state API within seconds
            while time.monotonic() < deadline:
                tasks = [t for t in _quiet(list_tasks, dashboard, filters=[("name", "=", "tiny-qa")], detail=True)
                         if t.state == "FINISHED" and t.task_id not in seen]
                if res.returncode != 0 or len(tasks) >= len(MODELS) * len(packs.split(",")):
                    break
                time.sleep(0.5)
            seen.update(t.task_id for t in tasks)
            result[runner] = {"returncode": res.returncode, "stdout": res.stdout, "stderr": res.stderr[-4000:],
                              "wall_s": wall, "task_nodes": [t.node_id for t in tasks]}
        result["asked"] = sum(srv.asked.values())
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:] or ["client"])
