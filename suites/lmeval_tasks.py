"""What lm-eval's tasks need, read from its task index without loading any data: for each
task asked for (groups and tags expanded to their tasks) its output type, which says how it is
scored (log-likelihood or generation), and the dataset it loads (`dataset_path`,
`dataset_name`). The dataset mirror (suites/lmeval_mirror.py) and the checks before a run use
it; lm-eval itself still builds and runs the tasks from their own definitions.

Called where lm-eval is imported (lm-eval's child process, the mirror command): `index` is
`TaskManager.task_index`, lm-eval's map from a name to its entry (a task, group or tag with
its YAML config, includes resolved).
"""
from __future__ import annotations

from dataclasses import dataclass

# Output types scored by the log-likelihood of each choice or of the whole text: they need a
# model that gives prompt log-probabilities (hf, vllm, a completions server that echoes them).
LOGLIKELIHOOD = ("multiple_choice", "loglikelihood", "loglikelihood_rolling")


@dataclass(frozen=True)
class TaskNeed:
    """One task: its output type and dataset (None where its config does not say: a task
    defined by a Python class, a dataset given only by `data_files`)."""

    task: str
    output_type: str | None
    dataset_path: str | None
    dataset_name: str | None
    data_files: bool = False          # dataset_kwargs names its files (not a Hub dataset)

    @property
    def loglikelihood(self) -> bool:
        return self.output_type in LOGLIKELIHOOD

    @property
    def dataset(self) -> str:
        """`path name` as the messages name a dataset (`allenai/ai2_arc ARC-Easy`)."""
        return f"{self.dataset_path} {self.dataset_name}" if self.dataset_name else str(self.dataset_path)


def _group_fields() -> set[str]:
    from dataclasses import fields

    from lm_eval.config.group import GroupConfig

    return {f.name for f in fields(GroupConfig)}


def needs(index: dict, names: list[str] | tuple[str, ...]) -> list[TaskNeed]:
    """The tasks behind `names` (tasks, groups, tags; unknown names are left out: the caller
    names those), each once, in order."""
    out: dict[str, TaskNeed] = {}
    group_fields = _group_fields()

    def task(name: str, cfg: dict, overrides: dict) -> None:
        cfg = {**cfg, **overrides}
        kwargs = cfg.get("dataset_kwargs") if isinstance(cfg.get("dataset_kwargs"), dict) else {}
        if "class" in cfg:          # a Python task: its dataset is in its code
            need = TaskNeed(name, cfg.get("output_type"), None, None)
        else:
            need = TaskNeed(name, cfg.get("output_type") or "generate_until", cfg.get("dataset_path"),
                            cfg.get("dataset_name"), bool(kwargs.get("data_files")))
        out.setdefault(name, need)

    def walk(name: str, overrides: dict, seen: frozenset) -> None:
        entry = index.get(name)
        if entry is None or name in seen:
            return
        seen = seen | {name}
        kind = entry.kind.name
        if kind == "TAG":
            for t in sorted(entry.tags):
                walk(t, overrides, seen)
        elif kind == "GROUP":
            group(entry.cfg or {}, overrides, seen)
        elif kind in ("TASK", "PY_TASK"):
            task(name, entry.cfg or {}, {k: v for k, v in overrides.items() if k != "task"})

    def group(cfg: dict, overrides: dict, seen: frozenset) -> None:
        inherited = {**{k: v for k, v in cfg.items() if k not in group_fields}, **overrides}
        members = cfg.get("task")
        for m in members if isinstance(members, list) else []:
            if isinstance(m, str):
                walk(m, inherited, seen)
            elif isinstance(m, dict) and "group" in m:
                if m["group"] in index:
                    walk(m["group"], {**inherited, **{k: v for k, v in m.items() if k != "group"}}, seen)
                else:      # a group defined inline
                    group(m, inherited, seen)
            elif isinstance(m, dict) and "task" in m:
                merged = {**inherited, **m}
                if m["task"] in index:
                    walk(m["task"], merged, seen)
                else:      # a task defined inline
                    task(m["task"], {}, merged)

    for n in names:
        walk(n, {}, frozenset())
    return list(out.values())
