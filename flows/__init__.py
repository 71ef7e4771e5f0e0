"""The pipeline's spine: the steps of each run as plain functions (steps.py, no Prefect) and
the Prefect flows and tasks that wrap them (the others), which deployments run.

A Prefect worker imports a deployment's flow module in a process of its own, which no
`tinyqa` command started: importing this package applies the offline defaults
(tinyqa/offline.py: LiteLLM's cost map from its wheel, analytics off) to that process, before
any flow module imports LiteLLM. (`import tinyqa` itself changes no environment variable.)
"""
from tinyqa import offline

offline.apply()
