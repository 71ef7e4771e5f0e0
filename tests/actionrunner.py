"""Run a composite action's shell steps as a GitHub runner does, on this machine.

Each `run:` step of action.yml is written to a file and run with `bash --noprofile --norc -eo
pipefail FILE` (the runner's `shell: bash`), in the workspace, with the environment a runner
sets (GITHUB_ACTION_PATH, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_EVENT_PATH, RUNNER_TEMP ...)
plus the step's `env:`; what a step writes to $GITHUB_OUTPUT becomes `steps.ID.outputs`, and
`if:` decides whether it runs. The `uses:` steps (setup-python, cache, upload-artifact) are
JavaScript actions that need GitHub's services: they are recorded as skipped, with the outputs
the caller says they would have given.

`${{ }}` expressions are evaluated for the forms an action like ours uses: the contexts inputs,
github, steps, runner, env; == != && || ! and parentheses; string literals; always(),
success(), failure(), cancelled(). Anything else raises, so a step this runner cannot read is
never silently taken as true.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)
_TOKEN = re.compile(r"'(?:[^']|'')*'|\b(?:inputs|github|steps|runner|env)(?:\.[A-Za-z0-9_-]+)+|"
                    r"\b(?:always|success|failure|cancelled)\(\)|&&|\|\||==|!=|!|\(|\)|\s+")


@dataclass
class Step:
    id: str
    name: str
    ran: bool
    outcome: str                 # success, failure or skipped
    outputs: dict = field(default_factory=dict)
    log: str = ""


@dataclass
class Result:
    steps: list[Step]
    outputs: dict                # the action's outputs

    @property
    def failed(self) -> bool:
        return any(s.outcome == "failure" for s in self.steps)

    def step(self, id_or_name: str) -> Step:
        return next(s for s in self.steps if id_or_name in (s.id, s.name))

    @property
    def log(self) -> str:
        return "\n".join(f"--- {s.name}: {s.outcome}\n{s.log}" for s in self.steps)


def evaluate(expr: str, ctx: dict, ok: bool):
    """One expression's value (str or bool)."""
    values: list = []
    out, pos = [], 0
    for m in _TOKEN.finditer(expr):
        if m.start() != pos:
            raise ValueError(f"cannot evaluate {expr!r} at {expr[pos:]!r}")
        pos, tok = m.end(), m.group(0)
        if tok.isspace():
            continue
        if tok.startswith("'"):
            values.append(tok[1:-1].replace("''", "'"))
            out.append(f"_v[{len(values) - 1}]")
        elif tok[0].isalpha() and not tok.endswith("()"):
            node = ctx
            for part in tok.split("."):
                node = node.get(part, "") if isinstance(node, dict) else ""
            values.append(node)
            out.append(f"_v[{len(values) - 1}]")
        else:
            out.append({"&&": " and ", "||": " or ", "!": " not ", "always()": "True", "success()": "_ok",
                        "failure()": "(not _ok)", "cancelled()": "False"}.get(tok, tok))
    if pos != len(expr):
        raise ValueError(f"cannot evaluate {expr!r} at {expr[pos:]!r}")
    return eval("".join(out), {"__builtins__": {}}, {"_v": values, "_ok": ok})   # noqa: S307 (tokens checked above)


def interpolate(text: str, ctx: dict, ok: bool = True) -> str:
    def one(m):
        v = evaluate(m.group(1).strip(), ctx, ok)
        return ("true" if v else "false") if isinstance(v, bool) else str(v)
    return _EXPR.sub(one, str(text))


def _read_outputs(path: Path) -> dict:
    outputs, lines = {}, path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            outputs[key] = "\n".join(lines[i + 1:j])
            i = j + 1
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            outputs[key] = value
        i += 1
    return outputs


def run(action_dir: Path, workspace: Path, temp: Path, inputs: dict, env: dict, github: dict,
        uses_outputs: dict | None = None, timeout: float = 900) -> Result:
    """Run action.yml of `action_dir` in `workspace`; `env` is the machine's environment,
    `github` the github context (event_name, token, run_id, ...)."""
    action = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
    temp.mkdir(parents=True, exist_ok=True)
    summary = temp / "step_summary.md"
    summary.touch()
    ctx = {"github": {**github, "action_path": str(action_dir), "workspace": str(workspace)},
           "runner": {"temp": str(temp), "os": "Linux"}, "steps": {}, "env": env}
    ctx["inputs"] = {k: interpolate(inputs.get(k, spec.get("default", "")), ctx)
                     for k, spec in action.get("inputs", {}).items()}
    unknown = set(inputs) - set(ctx["inputs"])
    if unknown:
        raise ValueError(f"not inputs of the action: {sorted(unknown)}")
    base = {**env, "GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_ACTION_PATH": str(action_dir),
            "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(temp), "RUNNER_OS": "Linux",
            "GITHUB_STEP_SUMMARY": str(summary)}
    steps, ok = [], True
    for n, spec in enumerate(action["runs"]["steps"]):
        sid = spec.get("id", f"__{n}")
        name = spec.get("name") or spec.get("uses") or spec.get("run", "").splitlines()[0]
        cond = spec.get("if", "success()")
        cond = cond[3:-2] if cond.startswith("${{") else cond
        if not evaluate(cond, ctx, ok):
            steps.append(Step(sid, name, False, "skipped"))
            ctx["steps"][sid] = {"outputs": {}, "outcome": "skipped"}
            continue
        if "uses" in spec:
            outputs = (uses_outputs or {}).get(sid, {})
            steps.append(Step(sid, name, False, "skipped", outputs, f"(uses: {spec['uses']}: not run here)"))
            ctx["steps"][sid] = {"outputs": outputs, "outcome": "success"}
            continue
        script, out_file = temp / f"step-{n}.sh", temp / f"step-{n}.out"
        script.write_text(spec["run"], encoding="utf-8")
        out_file.write_text("")
        step_env = {**base, "GITHUB_OUTPUT": str(out_file),
                    **{k: interpolate(v, ctx, ok) for k, v in (spec.get("env") or {}).items()}}
        assert spec.get("shell") == "bash", f"step {name!r}: only shell: bash is run here"
        res = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace,
                             env=step_env, capture_output=True, text=True, timeout=timeout)
        outputs = _read_outputs(out_file)
        outcome = "success" if res.returncode == 0 else "failure"
        ok = ok and outcome == "success"
        steps.append(Step(sid, name, True, outcome, outputs, res.stdout + res.stderr))
        ctx["steps"][sid] = {"outputs": outputs, "outcome": outcome}
    outputs = {k: interpolate(v["value"], ctx, ok) for k, v in action.get("outputs", {}).items()}
    return Result(steps, outputs)


def runner_env(home: Path, path_first: Path) -> dict:
    """This machine's environment as a runner's: no GitHub, tinyqa or Prefect variables of the
    caller's, HOME in `home`, `path_first` first on PATH (the runner's Python)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "TINYQA_", "PREFECT_"))}
    env["HOME"] = str(home)
    env["PATH"] = f"{path_first}{os.pathsep}{env.get('PATH', '')}"
    return env
