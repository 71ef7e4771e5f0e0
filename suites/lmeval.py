"""Full lm-evaluation-harness suites, reported in tinyqa's store.

`run(settings)` runs lm-eval's `simple_evaluate` on `settings.tasks` with one model backend and
returns a RunResult: the runs row, the metrics rows and the items rows (`flows/lmeval.py`
writes them), with lm-eval's version, the cross-check and timings in its details:

- backends: `local-chat-completions` and `local-completions` against any OpenAI-compatible
  endpoint (`--model local` serves the embedded model and points lm-eval at it), `hf` and
  `vllm` (`pretrained=` a local folder, a GGUF file or `local`, the embedded model's GGUF, or
  a Hub id with `allow_hub`): `hf` on a GPU when the worker has one, else on the CPU;
- tasks: any lm-eval task or group (`mmlu`, `arc_easy`, `gsm8k`, ...) and tinyqa packs as
  lm-eval tasks: `tinyqa_<pack_id>` (`-` made `_`) or a pack folder path. Those packs are
  exported by `tinyqa.export` (format `lm-eval`) into a temporary folder under
  $TINYQA_CACHE_DIR and registered through lm-eval's include path; lm-eval's own task index
  (about 20 s to build) is loaded only when another task is asked for;
- isolated: lm-eval runs in a child process of its own (spawned), so that its settings never
  touch the caller's process, where other runs may go on (the nightly): there the Hub is
  offline (HF_HUB_OFFLINE, HF_DATASETS_OFFLINE, TRANSFORMERS_OFFLINE) unless `allow_hub`, and
  its logs and progress bars are quiet unless `verbose`. A dataset or model missing from the
  local caches is an InputError that names it;
- datasets from a mirror (`datasets`, suites/lmeval_mirror.py): lm-eval's standard tasks read
  their data from a local folder, their definitions unchanged; what the mirror lacks is named
  before the model loads. Log-likelihood tasks (multiple choice) on a backend that cannot score
  them are refused with the reason (`loglikelihood_problem`).

lm-eval is imported only in that child: it costs seconds to import and the rest of tinyqa
must not pay for it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import shutil
import string
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tinyqa import child, languages, runinfo
from tinyqa.errors import InfraError, InputError
from tinyqa.export import lm_eval_task as task_name
from tinyqa.pack import Pack, resolve_packs, shipped_ids
from tinyqa.settings import cache_dir
from tinyqa.suites import scoring
from tinyqa.suites.lmeval_tasks import TaskNeed
from tinyqa.suites.result import LmevalDetails, RunResult
from tinyqa.suites.stats import wilson
from tinyqa.text import clip, redact

SUITE = "lmeval"
LOCAL = "local"
API_BACKENDS = ("local-chat-completions", "local-completions")
DEFAULT_BACKEND = API_BACKENDS[0]   # the one default: the command's, the nightly's, Settings'

GPU_BACKENDS = ("hf", "vllm")
BACKENDS = API_BACKENDS + GPU_BACKENDS
OPENAI_BASE = "https://api.openai.com/v1"
TASK_PREFIX = "tinyqa_"
# Model arguments the GPU backends get unless `model_args` says otherwise (hf's device: see
# build_call).
GPU_DEFAULTS: dict[str, dict[str, object]] = {
    "hf": {"dtype": "auto"},
    "vllm": {"dtype": "auto", "tensor_parallel_size": 1, "gpu_memory_utilization": 0.9},
}
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
_QUIET_VARS = ("TQDM_DISABLE", "HF_DATASETS_DISABLE_PROGRESS_BARS", "HF_HUB_DISABLE_PROGRESS_BARS")
CHILD_LOG = "lmeval-last-run.log"   # what lm-eval's process printed (without --verbose), under $TINYQA_CACHE_DIR/logs
_QUESTION_KEYS = ("question", "query", "prompt", "problem", "input", "sentence", "ctx", "text")


class Settings(BaseModel):
    """One lm-eval run (the lm-eval flow's one parameter besides the store). `model` is `local`
    (the embedded model), a model name the endpoint at `api_base` serves (a LiteLLM-style
    `openai/NAME` is sent as `NAME`; `openai/NAME` without `api_base` goes to api.openai.com),
    or for `hf`/`vllm` a local model folder, a GGUF file or `local` (the embedded model's GGUF;
    a Hub id with `allow_hub`). `device` is hf's (default: cuda when the worker has a GPU, else
    cpu). `datasets` is a dataset mirror folder (suites/lmeval_mirror.py). `model_args` are
    lm-eval model arguments that extend or override the ones tinyqa builds
    (`max_model_len=4096`, `dtype=bfloat16`, `tokenizer=/models/x`, ...). `api_base` is a
    secret: Prefect records it as `**********` (a base URL can hold credentials)."""

    model_config = ConfigDict(frozen=True)

    model: str
    tasks: tuple[str, ...]
    backend: str = DEFAULT_BACKEND
    api_base: SecretStr | None = None
    limit: float | None = None                 # docs per task (a fraction below 1)
    batch_size: int | str | None = None        # default: 1 on API backends, "auto" on GPU
    num_fewshot: int | None = None             # default: each task's own
    seed: int = 1234
    chat_template: bool | None = None          # default: on for chat completions only
    concurrency: int | None = None             # requests in flight (default 1 local, 8 else)
    allow_hub: bool = False
    datasets: str | None = None                # a dataset mirror folder
    device: str | None = None                  # hf: cuda, cuda:1, cpu, ... (default: cuda if any)
    model_args: dict[str, object] = Field(default_factory=dict)
    verbose: bool = False                      # lm-eval's logs and progress bars

    @property
    def chat(self) -> bool:
        return self.backend == "local-chat-completions" if self.chat_template is None else self.chat_template

    @property
    def base_url(self) -> str | None:
        return self.api_base.get_secret_value() if self.api_base else None


# --- checking the inputs (before anything starts) ----------------------------------------

def split_tasks(tasks: list[str] | tuple[str, ...]) -> tuple[dict[str, Pack], list[str]]:
    """The tinyqa packs among `tasks` (by task name: `tinyqa_<pack_id>` of a shipped pack, or
    a pack folder path, anything with a `/`) and the other lm-eval task names, in order."""
    shipped = {task_name(pid): pid for pid in shipped_ids()}
    packs: dict[str, Pack] = {}
    others: list[str] = []
    for t in tasks:
        t = t.strip()
        if not t:
            continue
        if "/" in t or os.sep in t:
            (pack,) = resolve_packs([t])
            packs[task_name(pack.id)] = pack
        elif t.startswith(TASK_PREFIX):
            if t not in shipped:
                raise InputError(f"--tasks: {t!r} is not a shipped tinyqa pack (tinyqa tasks: "
                                 f"{', '.join(sorted(shipped))}; or give a pack folder path)")
            (pack,) = resolve_packs([shipped[t]])
            packs[t] = pack
        elif t not in others:
            others.append(t)
    if not packs and not others:
        raise InputError("--tasks: give at least one lm-eval task or tinyqa pack (tinyqa_core_en, ...)")
    return packs, others


def check(settings: Settings) -> tuple[dict[str, Pack], list[str]]:
    """Everything the user can fix, checked without lm-eval or a model: backend, endpoint,
    chat template, the tinyqa packs and (offline) the local model. Returns split_tasks()."""
    if settings.backend not in BACKENDS:
        raise InputError(f"--backend: {settings.backend!r} is not one of {', '.join(BACKENDS)}")
    if settings.backend == "local-chat-completions" and settings.chat_template is False:
        raise InputError("--no-chat-template: local-chat-completions sends chat messages; "
                         "lm-eval needs the chat template applied (use local-completions for plain prompts)")
    if (settings.backend == "local-completions" and settings.chat_template
            and "tokenizer" not in settings.model_args):
        raise InputError("--chat-template with local-completions needs the model's tokenizer: "
                         "--model-args tokenizer=/path/to/tokenizer-folder")
    if settings.backend in API_BACKENDS and settings.model != LOCAL:
        api_base(settings)
    if settings.limit is not None and settings.limit <= 0:
        raise InputError(f"--limit: {settings.limit} is not positive")
    if settings.device is not None and settings.backend != "hf":
        raise InputError(f"--device is hf's (--backend {settings.backend} places the model itself)")
    gguf = gguf_file(settings)   # an embedded model that is not installed is named here
    if settings.backend in GPU_BACKENDS and not settings.allow_hub and gguf is None:
        check_model_offline(str(settings.model_args.get("pretrained", settings.model)))
    if settings.model == LOCAL and settings.backend in API_BACKENDS:
        from tinyqa.models import local

        local.gguf_path()
    if settings.datasets is not None:
        root = Path(settings.datasets).expanduser()
        if not root.is_dir():
            raise InputError(f"--datasets {settings.datasets}: no such folder (a dataset mirror: "
                             "`tinyqa lmeval mirror --tasks … --out DIR` builds one)")
    return split_tasks(settings.tasks)


def gguf_file(settings: Settings) -> Path | None:
    """The GGUF file an `hf`/`vllm` run loads: the embedded model's for `local`, or the `.gguf`
    path given; None for a model folder or Hub id. A missing file is an InputError."""
    if settings.backend not in GPU_BACKENDS:
        return None
    if settings.model == LOCAL:
        from tinyqa.models import local

        return local.gguf_path()
    if settings.model.lower().endswith(".gguf"):
        path = Path(settings.model).expanduser()
        if not path.is_file():
            raise InputError(f"--model {settings.model}: no such GGUF file")
        return path.resolve()
    return None


def check_model_offline(pretrained: str) -> None:
    """A model for `hf`/`vllm` must be a local folder, or a Hub id already in the Hugging Face
    cache, when the Hub is not allowed; else an InputError naming it."""
    if Path(pretrained).expanduser().is_dir():
        return
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = isinstance(try_to_load_from_cache(pretrained, "config.json"), str)
    except Exception:   # not a valid repo id either
        cached = False
    if not cached:
        raise InputError(f"--model {pretrained}: not a local model folder and not in the Hugging Face "
                         "cache (offline: pass --allow-hub to download it, or a folder path)")


def api_base(settings: Settings) -> str:
    """The endpoint's base URL (`.../v1`) for an API backend: `settings.api_base`, or OpenAI's
    for an `openai/NAME` model without one."""
    if settings.base_url:
        if urlsplit(settings.base_url).scheme not in ("http", "https"):
            raise InputError(f"--api-base: {runinfo.public_url(settings.base_url)!r} is not an http(s) URL")
        return settings.base_url
    if settings.model.startswith("openai/"):
        return OPENAI_BASE
    raise InputError(f"--model {settings.model}: backend {settings.backend} needs --api-base URL "
                     "(an OpenAI-compatible server), or use --model local")


def endpoint(base: str, backend: str) -> str:
    """lm-eval's `base_url` is the full endpoint: `<base>/chat/completions` or `<base>/completions`."""
    base = base.rstrip("/")
    for tail in ("/chat/completions", "/completions"):
        if base.endswith(tail):
            base = base[: -len(tail)]
            break
    return base + ("/chat/completions" if backend == "local-chat-completions" else "/completions")


def parse_batch_size(text: str | None) -> int | str | None:
    """`--batch-size`: a positive number, `auto` or `auto:N` (lm-eval's forms)."""
    if text is None:
        return None
    if text.isdigit() and int(text) > 0:
        return int(text)
    if re.fullmatch(r"auto(:\d+)?", text):
        return text
    raise InputError(f"--batch-size: {text!r} is not a positive number, auto or auto:N")


def parse_limit(value: float | None) -> int | float | None:
    """`--limit`: a whole number of docs per task, or a fraction of each task below 1."""
    if value is None or 0 < value < 1:
        return value
    if value >= 1 and value == int(value):
        return int(value)
    raise InputError(f"--limit: {value} is neither a whole number of docs nor a fraction below 1")


def parse_model_args(text: str | None) -> dict[str, object]:
    """`--model-args k=v,k=v` as lm-eval parses it (numbers and booleans typed)."""
    if not text:
        return {}
    if any("=" not in part for part in text.split(",") if part):
        raise InputError(f"--model-args: {text!r} is not of the form key=value,key=value")
    from lm_eval.utils import simple_parse_args_string

    return simple_parse_args_string(text)


# --- the lm-eval call ----------------------------------------------------------------------

def build_call(settings: Settings, base_url: str | None = None, device: str | None = None) -> dict:
    """The keyword arguments of `lm_eval.simple_evaluate` for `settings` (all but
    `task_manager`): `model` (the backend), `model_args` (a dict), `tasks` (task names) and
    the run settings. `base_url` is the endpoint's base for API backends (default:
    api_base(settings)). `device` is where hf runs when `settings.device` does not say
    (default cuda; lm-eval's child passes cpu on a machine without a GPU): batches are sized
    automatically on a GPU, one at a time on a CPU. Nothing is imported or started."""
    if settings.backend in API_BACKENDS:
        base = base_url or api_base(settings)
        name = settings.model
        if name == LOCAL:
            from tinyqa.models.local import MODEL_NAME

            name = MODEL_NAME
        elif name.startswith("openai/"):
            name = name.split("/", 1)[1]
        concurrency = settings.concurrency or (1 if settings.model == LOCAL else 8)
        model_args: dict[str, object] = {"model": name, "base_url": endpoint(base, settings.backend),
                                         "num_concurrent": concurrency, "max_retries": 3,
                                         "seed": settings.seed}
        if "tokenizer" in settings.model_args:
            model_args["tokenizer_backend"] = "huggingface"
        else:
            # No tokenizer offline: prompts go as text (generate_until tasks only).
            model_args.update(tokenizer_backend="none", tokenized_requests=False)
        batch_size = 1 if settings.backend == "local-chat-completions" else (settings.batch_size or 1)
    else:
        gguf = gguf_file(settings)
        if gguf is None:
            model_args = {"pretrained": settings.model}
        elif settings.backend == "hf":      # transformers reads (and dequantizes) the GGUF
            model_args = {"pretrained": str(gguf.parent), "gguf_file": gguf.name}
        else:                               # vLLM takes the file itself
            model_args = {"pretrained": str(gguf)}
        model_args.update(GPU_DEFAULTS[settings.backend])
        on_gpu = True
        if settings.backend == "hf":
            model_args["device"] = settings.device or device or "cuda"
            on_gpu = not str(settings.model_args.get("device", model_args["device"])).startswith("cpu")
        if settings.backend == "vllm":
            model_args["seed"] = settings.seed
        batch_size = settings.batch_size or ("auto" if on_gpu else 1)
    model_args.update(settings.model_args)
    packs, others = split_tasks(settings.tasks)
    return {
        "model": settings.backend, "model_args": model_args, "tasks": [*packs, *others],
        "num_fewshot": settings.num_fewshot, "batch_size": batch_size, "limit": settings.limit,
        "apply_chat_template": settings.chat, "fewshot_as_multiturn": settings.chat,
        "random_seed": settings.seed, "numpy_random_seed": settings.seed,
        "torch_random_seed": settings.seed, "fewshot_random_seed": settings.seed,
        "log_samples": True, "bootstrap_iters": 1000,
    }


def child_env(allow_hub: bool, verbose: bool) -> dict[str, str]:
    """The environment lm-eval's child process sets for itself before importing anything of
    the Hub's: offline unless `allow_hub`, no progress bars unless `verbose`."""
    env = {} if allow_hub else dict.fromkeys(_OFFLINE_VARS, "1")
    return env if verbose else env | dict.fromkeys(_QUIET_VARS, "1")


_MISSING_DATASET = re.compile(r"Couldn't reach '([^']+)' on the Hub|Dataset '([^']+)' doesn't exist")


def _first_line(e: Exception, settings: Settings, limit: int = 300) -> str:
    """An exception's first line for a message: credentials redacted (the api_base's, key-like
    environment variables', in every encoding: tinyqa/text.py), then cut to `limit`."""
    text = str(e)
    return redact(text.splitlines()[0], [settings.base_url] if settings.base_url else [])[:limit] if text else ""


def _input_error(e: Exception, settings: Settings, others: list[str]) -> InputError | None:
    """An InputError naming the missing dataset or model when `e` says one is absent offline."""
    text = str(e)
    m = _MISSING_DATASET.search(text)
    if m:
        return InputError(f"lm-eval dataset {m.group(1) or m.group(2)!r} (--tasks {','.join(others)}) is not "
                          "in the local Hugging Face cache: pass --datasets DIR, a mirror built with "
                          f"`tinyqa lmeval mirror --tasks {','.join(others)} --out DIR` on a machine that reaches "
                          "the Hub, or run once with --allow-hub")
    if type(e).__name__ in ("LocalEntryNotFoundError", "OfflineModeIsEnabled") or "offline mode" in text.lower():
        return InputError(f"--model {settings.model}: a file lm-eval needs is not in the local Hugging Face "
                          f"cache and the Hub is off ({_first_line(e, settings, 200)}); pass --allow-hub or a local folder")
    return None


def _plain(value: object) -> object:
    """A value of lm-eval's results as JSON can carry it (numpy scalars as numbers)."""
    if hasattr(value, "item"):
        with contextlib.suppress(Exception):
            return value.item()
    return str(value)


def loglikelihood_problem(settings: Settings, needs: list[TaskNeed]) -> str | None:
    """Why `settings`' backend cannot score the log-likelihood tasks among `needs` (multiple
    choice: ARC, HellaSwag, MMLU), as one line; None when it can or there are none."""
    tasks = [n.task for n in needs if n.loglikelihood]
    if not tasks or settings.backend in GPU_BACKENDS:
        return None
    named = f"--tasks {', '.join(tasks[:3])}{f' and {len(tasks) - 3} more' if len(tasks) > 3 else ''}"
    if settings.backend == "local-chat-completions":
        return (f"{named}: scored by log-likelihood, which chat completions cannot give (no prompt "
                "log-probabilities); use --backend hf (for --model local: the same model through "
                "transformers), or local-completions against a server that echoes them")
    if settings.model == LOCAL:
        return (f"{named}: scored by log-likelihood, and llama.cpp's server (llama-cpp-python) returns "
                "the prompt's log-probabilities one token off and without the continuation's last "
                "token, so every choice would be scored wrong; use --backend hf --model local (the same "
                "model through transformers)")
    if "tokenizer" not in settings.model_args:
        return (f"{named}: scored by log-likelihood; through local-completions lm-eval needs the model's "
                "tokenizer to find the continuation in the echoed prompt: --model-args tokenizer=FOLDER, "
                "and a server that returns prompt log-probabilities (echo with logprobs, as vLLM's does)")
    return None


def _device(settings: Settings) -> str | None:
    """Where hf runs when nothing says: cuda when torch sees a GPU, else cpu (None: said, or
    another backend)."""
    if settings.backend != "hf" or settings.device or "device" in settings.model_args:
        return None
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_threads() -> int:
    """torch's threads for hf on the CPU: $OMP_NUM_THREADS, else one core fewer than the
    process may use (tinyqa's own process, Prefect's API and the rest need one; on 2 busy
    cores two torch threads made a forward pass ten times slower than one, measured)."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    return max(1, len(os.sched_getaffinity(0)) - 1)


def _output_to(path: Path) -> None:
    """This process's stdout and stderr (file descriptors 1 and 2) into `path`: what lm-eval and
    the libraries print past their loggers (hf's progress bars, which pass `disable=False`
    themselves; git's complaint outside a repository) is kept there, not on the terminal."""
    import sys

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _evaluate_here(settings: Settings, call: dict, include: str, others: list[str]) -> dict:
    """In lm-eval's child process: the environment, quiet logs, the task manager, the dataset
    mirror, the checks that need lm-eval's task index (unknown tasks, datasets the mirror
    lacks, log-likelihood on a backend that cannot give it), hf's device, the call; the
    results as JSON-able data. Errors the user can fix come back as InputError."""
    from tinyqa.suites import lmeval_mirror
    from tinyqa.suites.lmeval_tasks import needs

    os.environ.update(child_env(settings.allow_hub, settings.verbose))
    if not settings.verbose:
        _output_to(cache_dir() / "logs" / CHILD_LOG)
    mirror = Path(settings.datasets).expanduser().resolve() if settings.datasets else None
    if mirror is not None and lmeval_mirror.is_hf_cache(mirror):
        os.environ["HF_DATASETS_CACHE"] = str(mirror)
    if not settings.verbose:
        for name in ("lm_eval", "lm-eval", "datasets", "huggingface_hub", "transformers"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=include, include_defaults=bool(others))
    unknown = [t for t in others if t not in manager.all_tasks]
    if unknown:
        raise InputError(f"--tasks: unknown lm-eval task(s) {', '.join(unknown)} (`lm_eval ls tasks` lists them)")
    task_needs = needs(manager.task_index, others)
    problem = loglikelihood_problem(settings, task_needs)
    if problem:
        raise InputError(problem)
    if mirror is not None:
        lacking = lmeval_mirror.missing(mirror, task_needs)
        if lacking:
            raise InputError(lmeval_mirror.missing_message(settings.datasets, lacking, others))
        if not lmeval_mirror.is_hf_cache(mirror):
            lmeval_mirror.install(mirror, cache_dir() / "datasets")
    device = _device(settings)
    if device is not None:
        call = {**call, **{k: v for k, v in build_call(settings, device=device).items()
                           if k in ("model_args", "batch_size")}}
    threads = None
    if settings.backend == "hf" and str(call["model_args"].get("device")).startswith("cpu"):
        import torch

        threads = cpu_threads()
        torch.set_num_threads(threads)
    try:
        results = lm_eval.simple_evaluate(**call, task_manager=manager)
    except (InputError, InfraError):
        raise
    except Exception as e:
        mapped = _input_error(e, settings, others)
        if mapped is not None:
            raise mapped from None
        raise InfraError(f"lm-eval failed ({settings.backend}, {settings.model}): "
                         f"{type(e).__name__}: {_first_line(e, settings)}") from None
    if not results:
        raise InfraError("lm-eval returned no results (not the main process of a distributed run?)")
    results["tinyqa"] = {"device": device or settings.device or call["model_args"].get("device"),
                         "threads": threads,
                         "batch_size": call["batch_size"],
                         "output_types": {n.task: n.output_type for n in task_needs}}
    return json.loads(json.dumps(results, default=_plain))


def evaluate(settings: Settings, base_url: str | None = None) -> tuple[dict, dict[str, Pack]]:
    """Run lm-eval for `settings` (its endpoint at `base_url` for API backends) in a child
    process of its own and return its results dict (with `samples`) and the tinyqa packs
    that were among the tasks."""
    packs, others = check(settings)
    call = build_call(settings, base_url)
    workdir = cache_dir() / "lmeval"
    workdir.mkdir(parents=True, exist_ok=True)
    include = Path(tempfile.mkdtemp(prefix="tasks-", dir=workdir))
    try:
        from tinyqa.export import export_pack

        for pack in packs.values():
            export_pack(pack, "lm-eval", include)
        results = child.call(_evaluate_here, settings, call, str(include), others,
                             died=f"lm-eval's process died ({settings.backend}, {settings.model}): out of memory?")
    finally:
        shutil.rmtree(include, ignore_errors=True)
    return results, packs


# --- normalising lm-eval's results into report rows ---------------------------------------

def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) or math.isinf(value) else float(value)


def _n(results: dict, task: str) -> int | None:
    """Docs scored for `task`: its effective sample count, or for a group the sum over its
    subtasks (nested groups included)."""
    counts = results.get("n-samples", {})
    if task in counts:
        return counts[task].get("effective")
    subtasks = results.get("group_subtasks", {}).get(task)
    if not subtasks:
        return None
    ns = [_n(results, t) for t in subtasks]
    return sum(n for n in ns if n is not None) or None


def metrics_rows(run_id: str, results: dict) -> list[dict]:
    """Per task (or group) and filter: each metric lm-eval reports, with n and a 95% interval
    value ± 1.96 stderr (clipped to [0, 1] for values in [0, 1]) where the stderr is known,
    and the stderr itself as `<metric>_stderr`."""
    rows = []

    def add(task, filt, metric, value, n, ci=(None, None)):
        rows.append({"run_id": run_id, "suite": SUITE, "pack_id": task, "slice": f"filter={filt}",
                     "metric": metric, "value": value, "n": n, "ci_low": ci[0], "ci_high": ci[1]})

    for task, res in results.get("results", {}).items():
        n = _n(results, task)
        for key, raw in res.items():
            if "," not in key:
                continue
            metric, filt = key.split(",", 1)
            value = _number(raw)
            if metric.endswith("_stderr") or value is None:
                continue
            stderr = _number(res.get(f"{metric}_stderr,{filt}"))
            ci = (None, None)
            if stderr is not None:
                low, high = value - 1.96 * stderr, value + 1.96 * stderr
                ci = (max(0.0, low), min(1.0, high)) if 0.0 <= value <= 1.0 else (low, high)
            add(task, filt, metric, value, n, ci)
            if stderr is not None:
                add(task, filt, f"{metric}_stderr", stderr, n)
    return rows


def _choice_text(sample: dict, index: int) -> str | None:
    args = sample.get("arguments") or []
    if 0 <= index < len(args) and isinstance(args[index], (list, tuple)) and len(args[index]) > 1:
        return str(args[index][1]).strip()
    return None


def prediction(sample: dict) -> str | None:
    """The filtered response lm-eval scored: the generated text, or for a multiple-choice
    task the choice with the highest log-likelihood."""
    fr = sample.get("filtered_resps")
    if (isinstance(fr, list) and len(fr) > 1
            and all(isinstance(x, (list, tuple)) and len(x) == 2 and _number(x[0]) is not None for x in fr)):
        return _choice_text(sample, max(range(len(fr)), key=lambda i: fr[i][0]))
    while isinstance(fr, (list, tuple)) and fr:
        fr = fr[0]
    return fr if isinstance(fr, str) else None


def _gold(sample: dict) -> str | None:
    doc, target = sample.get("doc") or {}, sample.get("target")
    if isinstance(doc, dict) and isinstance(doc.get("label"), str) and isinstance(doc.get("answers"), list):
        return doc["label"]                       # a tinyqa pack: the label (aliases in `answers`)
    if isinstance(target, int) and not isinstance(target, bool):
        return _choice_text(sample, target) or str(target)
    if isinstance(target, (list, tuple)):
        return " | ".join(map(str, target))
    return None if target is None else str(target)


def _question(sample: dict) -> str | None:
    doc = sample.get("doc")
    if isinstance(doc, dict):
        for k in _QUESTION_KEYS:
            if isinstance(doc.get(k), str):
                return doc[k]
    args = sample.get("arguments") or []
    return str(args[0][0]) if args and isinstance(args[0], (list, tuple)) and args[0] else None


def _answers(doc: object) -> list[str] | None:
    if isinstance(doc, dict) and isinstance(doc.get("answers"), list) and doc["answers"] \
            and all(isinstance(a, str) for a in doc["answers"]):
        return doc["answers"]
    return None


def _case(doc: dict) -> bool:
    return doc.get("match") == "case"


def items_rows(run_id: str, results: dict, packs: dict[str, Pack]) -> list[dict]:
    """One items row per logged sample (per doc, per filter): question, gold, the filtered
    prediction, `em` from lm-eval's exact_match (acc for multiple choice), and where the doc
    has an `answers` list tinyqa's other scorers (suites/scoring.py) on the prediction. The
    item id is the tinyqa item id for a pack, else `<task>-<doc_id>`; `@<filter>` is added
    when a task logs more than one filter."""
    rows = []
    for task, samples in results.get("samples", {}).items():
        multi = len({s.get("filter") for s in samples}) > 1
        for s in samples:
            doc = s.get("doc") if isinstance(s.get("doc"), dict) else {}
            item_id = doc["id"] if task in packs and "id" in doc else f"{task}-{s.get('doc_id')}"
            if multi:
                item_id += f"@{s.get('filter')}"
            pred, chars, sha = clip(prediction(s))   # kept capped, as tiny QA's answers are
            em = s.get("exact_match", s.get("acc"))
            answers, lang = _answers(doc), str(doc.get("lang") or "en")
            scores = scoring.score(pred if answers is not None else None, answers or [], lang, _case(doc))
            rows.append({
                "run_id": run_id, "suite": SUITE, "pack_id": task, "item_id": item_id,
                "lang": doc.get("lang"), "category": doc.get("category"), "difficulty": doc.get("difficulty"),
                "question": _question(s), "gold": _gold(s), "prediction": pred,
                **scores, "em": None if _number(em) is None else bool(em),
                "latency_s": None, "prompt_tokens": None, "completion_tokens": None, "cost_usd": None,
                "cached": False, "attempts": None, "error": None, "prediction_chars": chars,
                "prediction_sha256": sha,
            })
    return rows


# --- the cross-check: lm-eval's exact_match against tinyqa's on the same answers -----------

def lmeval_normalize(text: str, ignore_case: bool = True, ignore_punctuation: bool = True) -> str:
    """What lm-eval's exact_match compares: lower-cased (str.lower), ASCII punctuation
    (string.punctuation) deleted; no other change."""
    if ignore_case:
        text = text.lower()
    if ignore_punctuation:
        text = text.translate(str.maketrans("", "", string.punctuation))
    return text


def why_differ(pred: str, answers: list[str], lang: str, case: bool) -> str:
    """Why lm-eval's exact_match and tinyqa's disagree on `pred`: the cause, then the strings
    each side compared."""
    tq = scoring.exact_match(pred, answers, lang, case)
    non_ascii_punct = sorted({c for c in pred if unicodedata.category(c).startswith("P")
                              and c not in string.punctuation})
    if case:
        cause = "the item is tagged match: case; lm-eval's ignore_case lower-cases it anyway"
    elif tq and languages.base(lang) == "en" and re.search(r"\b(?:a|an|the)\b", pred, re.IGNORECASE) \
            and not scoring.exact_match(pred, answers, "und", case):
        cause = "an English article: tinyqa drops a/an/the, lm-eval keeps it"
    elif tq and non_ascii_punct:
        cause = (f"punctuation outside ASCII ({''.join(non_ascii_punct)}): tinyqa removes every script's "
                 "punctuation, lm-eval only string.punctuation")
    elif tq and re.search(r"\s{2,}|[\t\n\r\u00a0\u2000-\u200b\u3000]", pred.strip()):
        cause = "whitespace inside the answer: tinyqa collapses it, lm-eval's filter strips only the ends"
    elif tq and any(scoring.fold_accents(x.casefold(), lang) != x.casefold() for x in [pred, *answers]):
        cause = (f"an accent: tinyqa's rule for {languages.base(lang)} accepts the word without it "
                 "(docs/scoring.md), lm-eval does not")
    elif tq and languages.base(lang) == "en" and scoring.NUMBER_WORDS.intersection(re.findall(r"\w+", pred.lower())):
        cause = "an English number word: tinyqa reads it as digits, lm-eval does not"
    elif tq:
        cause = ("Unicode normalisation and rules tinyqa applies and lm-eval does not (NFKC, case "
                 "folding, digits, Arabic marks, a label's counter)")
    elif any(c in string.punctuation for c in pred):
        cause = ("punctuation inside the answer: lm-eval deletes it (joining the pieces), "
                 "tinyqa reads it as a space")
    else:
        cause = "normalisation differs"
    lm = [lmeval_normalize(a) for a in answers]
    tn = [scoring.normalize(a, lang, case) for a in answers]
    return (f"{cause}; lm-eval compared {lmeval_normalize(pred.strip())!r} with {lm}, "
            f"tinyqa {scoring.normalize(pred, lang, case)!r} with {tn}")


def agreement(results: dict, packs: dict[str, Pack]) -> list[dict]:
    """For each tinyqa task and filter: lm-eval's exact_match and tinyqa's exact_match on the
    same predictions, and each item where they differ, with why_differ()."""
    out = []
    for task, samples in results.get("samples", {}).items():
        if task not in packs:
            continue
        for filt in dict.fromkeys(s.get("filter") for s in samples):
            n = k_lm = k_tq = 0
            differ = []
            for s in (s for s in samples if s.get("filter") == filt):
                doc, pred = s.get("doc") or {}, prediction(s)
                answers = _answers(doc)
                if answers is None or pred is None or _number(s.get("exact_match")) is None:
                    continue
                lang, case = str(doc.get("lang") or "en"), _case(doc)
                lm, tq = bool(s["exact_match"]), scoring.exact_match(pred, answers, lang, case)
                n, k_lm, k_tq = n + 1, k_lm + lm, k_tq + tq
                if lm != tq:
                    differ.append({"item_id": doc.get("id"), "prediction": pred, "answers": answers,
                                   "lmeval_em": lm, "tinyqa_em": tq,
                                   "why": why_differ(pred, answers, lang, case)})
            out.append({"task": task, "filter": filt, "n": n, "lmeval_em": k_lm / n if n else None,
                        "tinyqa_em": k_tq / n if n else None, "k_lmeval": k_lm, "k_tinyqa": k_tq,
                        "differ": differ})
    return out


def agreement_rows(run_id: str, agree: list[dict]) -> list[dict]:
    """Metrics rows of the cross-check: `tinyqa_exact_match` (tinyqa's EM on lm-eval's
    predictions, with a Wilson interval) and `em_disagreements` (items scored differently)."""
    rows = []
    for a in agree:
        base = {"run_id": run_id, "suite": SUITE, "pack_id": a["task"], "slice": f"filter={a['filter']}", "n": a["n"]}
        low, high = wilson(a["k_tinyqa"], a["n"])
        rows.append({**base, "metric": "tinyqa_exact_match", "value": a["tinyqa_em"], "ci_low": low, "ci_high": high})
        rows.append({**base, "metric": "em_disagreements", "value": float(len(a["differ"])),
                     "ci_low": None, "ci_high": None})
    return rows


def _configs_hash(results: dict) -> str:
    """SHA-256 of the task configs (prompts, targets, filters, metrics), without data paths."""
    configs = {t: {k: v for k, v in c.items() if k not in ("dataset_kwargs", "metadata")}
               for t, c in results.get("configs", {}).items()}
    return hashlib.sha256(json.dumps(configs, sort_keys=True, default=str).encode()).hexdigest()


# --- the whole run -------------------------------------------------------------------------

@contextlib.contextmanager
def _endpoint(settings: Settings) -> Iterator[str | None]:
    """The base URL lm-eval calls: the embedded model served for the run, the given
    api_base, or None for hf and vllm (they load the model themselves)."""
    if settings.model == LOCAL and settings.backend in API_BACKENDS:
        from tinyqa.models import local

        with local.serve() as base:
            yield base
    elif settings.backend in API_BACKENDS:
        yield api_base(settings)
    else:
        yield None


def run(settings: Settings) -> RunResult:
    """Run lm-eval for `settings` and normalise its results into report rows; the details
    hold `agreement` (the cross-check on tinyqa tasks), `lm_eval_version` and `timings`."""
    started = runinfo.now()
    run_id = runinfo.new_run_id(started)
    t0 = time.perf_counter()
    with _endpoint(settings) as base:
        t_eval = time.perf_counter()
        results, packs = evaluate(settings, base)
        eval_s = time.perf_counter() - t_eval
    others = split_tasks(settings.tasks)[1]
    agree = agreement(results, packs)
    ran = results.get("tinyqa", {})
    notes = run_notes(settings, ran.get("device"), ran.get("threads"))
    row = runinfo.run_row(
        run_id, started, SUITE, settings.model, pack_ids=[*packs, *others],
        api_base=None if settings.model == LOCAL or settings.backend in GPU_BACKENDS else base,
        prompt_template=f"lm-eval/{settings.backend}{'+chat' if settings.chat else ''}",
        prompt_hash=_configs_hash(results), notes=notes)
    return RunResult(row, items=items_rows(run_id, results, packs),
                     metrics=metrics_rows(run_id, results) + agreement_rows(run_id, agree), notices=notes,
                     details=LmevalDetails(agreement=agree, lm_eval_version=results.get("lm_eval_version"),
                                           device=ran.get("device"), batch_size=ran.get("batch_size"),
                                           output_types=ran.get("output_types", {}),
                                           timings={"total_s": time.perf_counter() - t0, "lm_eval_s": eval_s}))


def run_notes(settings: Settings, device: str | None, threads: int | None = None) -> list[str]:
    """What a reader of the run should know about where its model and data came from."""
    notes = []
    gguf = gguf_file(settings)
    if gguf is not None:
        notes.append(f"{settings.backend} loaded the GGUF file {gguf.name} (transformers dequantizes it)"
                     if settings.backend == "hf" else f"vllm loaded the GGUF file {gguf.name}")
    if settings.backend == "hf" and device:
        notes.append(f"hf ran on {device}" + (f" ({threads} thread{'s' if threads > 1 else ''})" if threads else ""))
    if settings.datasets:
        notes.append(f"datasets from the mirror {Path(settings.datasets).expanduser().resolve()}")
    return notes
