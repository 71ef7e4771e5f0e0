"""Which Prefect task runner fans the nightly runs out: a setting, not code.

`thread` (default: threads in this process) · `dask` (a local Dask cluster) ·
`dask://HOST:PORT` or `tcp://HOST:PORT` (an existing Dask scheduler) · `ray` (a Ray started
for the run, or the cluster `$RAY_ADDRESS` names: `HOST:6379`, the head's GCS address, joins
it as a driver; `auto`, the cluster running on this machine) · `ray://HOST:PORT` (an existing
Ray cluster through its client server, port 10001 by default). Also read from
$TINYQA_TASK_RUNNER. docs/scale.md runs each on a cluster.
"""
from __future__ import annotations

import os

from tinyqa.errors import InputError


def task_runner(spec: str | None = None):
    spec = spec or os.environ.get("TINYQA_TASK_RUNNER") or "thread"
    if spec == "thread":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=4)
    if spec == "dask" or spec.startswith(("dask://", "tcp://")):
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            raise InputError("--task-runner dask: install the `dask` extra (pip install 'tinyqa[dask]')") from None
        if spec == "dask":
            return DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True})
        return DaskTaskRunner(address="tcp://" + spec.split("://", 1)[1])
    if spec == "ray" or spec.startswith("ray://"):
        try:
            from prefect_ray import RayTaskRunner
        except ImportError:
            raise InputError("--task-runner ray: install the `ray` extra (pip install 'tinyqa[ray]')") from None
        # Workers' logs go to Prefect's API and the cluster's log files, as on Dask; not
        # streamed to this terminal, whose Prefect logs are at WARNING unless -v.
        return RayTaskRunner(address=None if spec == "ray" else spec, init_kwargs={"log_to_driver": False})
    raise InputError(f"--task-runner: {spec!r} is not thread, dask, dask://HOST:PORT, ray or ray://HOST:PORT")
