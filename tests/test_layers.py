"""The package's shape (docs/architecture.md): no import cycle between tinyqa's modules, no
module importing a layer above its own, and importing tinyqa or its pytest plugin changes no
environment variable. Read from the source with ast: every import counts, at the top of a
module or inside a function."""
import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"tinyqa": "tinyqa", "tinyqa.flows": "flows", "tinyqa.generators": "generators",
           "tinyqa.validators": "validators", "tinyqa.suites": "suites", "tinyqa.models": "models",
           "tinyqa.reports": "reports"}
CORE = {"tinyqa", "tinyqa.errors", "tinyqa.settings", "tinyqa.files", "tinyqa.languages", "tinyqa.pack",
        "tinyqa.config", "tinyqa.runinfo", "tinyqa.phases", "tinyqa.servers", "tinyqa.child", "tinyqa.offline",
        "tinyqa.orchestration", "tinyqa.prefect_api", "tinyqa.export", "tinyqa.comment", "tinyqa.worker",
        "tinyqa.text"}
# Low to high: a module may import its own layer and the layers below it.
LAYERS = ["core", "models", "suites", "validators", "generators", "reports", "flows", "api", "front ends"]


def layer(module: str) -> str:
    if module in CORE:
        return "core"
    for prefix in ("models", "suites", "validators", "generators", "reports", "flows"):
        if module.startswith(f"tinyqa.{prefix}"):
            return prefix
    if module in ("tinyqa.api", "tinyqa.startup"):
        return "api"
    if module.startswith(("tinyqa.cli", "tinyqa.pytest_")) or module == "tinyqa.worker_cli":
        return "front ends"
    raise AssertionError(f"{module}: in no layer: add it to CORE or to a layer in tests/test_layers.py "
                         f"and docs/architecture.md")


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in FOLDERS.items():
        for f in sorted((ROOT / folder).rglob("*.py")):
            parts = [p for p in f.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            found[".".join([package, *parts])] = f
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()

    def owner(name: str) -> str:
        while name not in mods:
            name = name.rsplit(".", 1)[0]
        return name

    out = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("tinyqa")}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("tinyqa"):
                deps |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods else node.module
                         for a in node.names}
        out[name] = {owner(d) for d in deps} - {name}
    return out


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_no_module_imports_a_layer_above_its_own():
    upward = [f"{m} ({layer(m)}) imports {d} ({layer(d)})" for m, deps in graph().items() for d in sorted(deps)
              if LAYERS.index(layer(d)) > LAYERS.index(layer(m))]
    assert upward == []


def test_the_worker_and_the_flows_know_no_front_end():
    g = graph()
    assert not {d for d in g["tinyqa.worker"] if layer(d) != "core"}
    assert not any(d.startswith("tinyqa.cli") for m, deps in g.items() if m.startswith("tinyqa.flows") for d in deps)


def test_the_steps_and_the_operations_module_import_no_prefect():
    for name in ("flows/steps.py", "tinyqa/api.py", "tinyqa/orchestration.py"):
        tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
        assert not [n for n in names if n.split(".")[0] == "prefect"], name


def test_importing_tinyqa_or_its_plugin_changes_no_environment_variable():
    code = ("import json, os, sys; before = dict(os.environ)\n"
            "import tinyqa, tinyqa.pytest_plugin, tinyqa.api, tinyqa.cli\n"
            "after = dict(os.environ)\n"
            "print(json.dumps({'changed': sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k)),"
            " 'prefect': 'prefect' in sys.modules, 'litellm': 'litellm' in sys.modules}))")
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("LITELLM_LOCAL_MODEL_COST_MAP", "TIKTOKEN_CACHE_DIR", "GX_ANALYTICS_ENABLED",
                        "PREFECT_SERVER_ANALYTICS_ENABLED")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.splitlines()[-1]) == {"changed": [], "prefect": False, "litellm": False}
