"""Project settings: `tinyqa.toml`, or `[tool.tinyqa]` in pyproject.toml, in the working folder;
or the file `$TINYQA_CONFIG` names (a tinyqa.toml or a pyproject.toml), as the CI action sets it.

```toml
[models."openai/gpt-4o-mini"]   # per model: requests in flight, rate limit, timeout
concurrency = 8
rpm = 500
timeout = 30

[models."openai/o3-mini"]
max_tokens = 4096               # completion budget (default 48; 2048 for reasoning models)

[models."openai/my-model"]
api_base = "http://127.0.0.1:8000/v1"   # used when --api-base is not given

[pytest]                        # the pytest plugin's defaults; its --tinyqa-* options win
model = "openai/my-model"
packs = ["core_en"]             # for tinyqa tests without a tinyqa marker
```
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tinyqa.errors import InputError


class ModelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    concurrency: int | None = Field(default=None, ge=1, le=1024)
    rpm: float | None = Field(default=None, gt=0)
    timeout: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    api_base: str | None = Field(default=None, pattern=r"^https?://")


class NightlySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[str] | None = None
    packs: list[str] | None = None
    lmeval_tasks: list[str] | None = None
    lmeval_backend: str | None = None       # default suites/lmeval.DEFAULT_BACKEND; hf for log-likelihood tasks
    lmeval_datasets: str | None = None      # a dataset mirror folder (default $TINYQA_DATASETS)
    lmeval_limit: float | None = Field(default=None, gt=0)


class PytestSettings(BaseModel):
    """`[pytest]`: what the pytest plugin runs when its options (`--tinyqa-model`, ...) are not
    given; the keys are the options' names."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    api_base: str | None = Field(default=None, pattern=r"^https?://")
    baseline: str | None = None
    reports: str | None = None
    packs: list[str] | None = None
    tokenizer: str | None = None
    drift_baseline: str | None = None


class Config(BaseModel):
    """The whole file. `[gate]` is checked by the gate (suites/gate.Thresholds), which owns
    its fields."""

    model_config = ConfigDict(extra="forbid")

    models: dict[str, ModelSettings] = Field(default_factory=dict)
    gate: dict = Field(default_factory=dict)
    nightly: NightlySettings = Field(default_factory=NightlySettings)
    pytest: PytestSettings = Field(default_factory=PytestSettings)


def _candidates(folder: Path | None) -> list[tuple[Path, tuple[str, ...] | None]]:
    named = os.environ.get("TINYQA_CONFIG") if folder is None else None
    if named:
        path = Path(named)
        if not path.is_file():
            raise InputError(f"TINYQA_CONFIG: {path} is not a file")
        return [(path, ("tool", "tinyqa") if path.name == "pyproject.toml" else None)]
    folder = folder or Path(".")
    return [(folder / "tinyqa.toml", None), (folder / "pyproject.toml", ("tool", "tinyqa"))]


def load(folder: Path | None = None) -> tuple[Config, Path | None]:
    """The settings and the file they came from (defaults when there is none): `$TINYQA_CONFIG`
    when set, else tinyqa.toml or pyproject.toml in `folder` (default: the working folder)."""
    for path, section in _candidates(folder):
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise InputError(f"{path}: invalid TOML: {e}") from None
        for key in section or ():
            data = data.get(key, {})
        if section and not data:
            continue
        try:
            return Config.model_validate(data), path
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise InputError(f"{path}: field {where}: {err['msg']}") from None
    return Config(), None


def model_settings(model: str, folder: Path | None = None) -> dict:
    """The configured overrides for `model` (only the keys that are set)."""
    cfg, _ = load(folder)
    settings = cfg.models.get(model)
    return settings.model_dump(exclude_none=True) if settings else {}


class NightlyPlan(BaseModel):
    """What a nightly runs, every default resolved (`nightly_plan`)."""

    model_config = ConfigDict(frozen=True)

    models: list[str]
    packs: list[str]
    lmeval_tasks: list[str]
    lmeval_backend: str | None        # None: lm-eval's default backend (suites/lmeval.DEFAULT_BACKEND)
    lmeval_datasets: str | None
    lmeval_limit: float | None


def nightly_plan(models: list[str] | None = None, packs: list[str] | None = None,
                 lmeval_tasks: list[str] | None = None, lmeval_backend: str | None = None,
                 lmeval_datasets: str | None = None, lmeval_limit: float | None = None,
                 folder: Path | None = None) -> NightlyPlan:
    """The one place the nightly's defaults live: each setting given, else [nightly] of
    tinyqa.toml, else the default (models: local; packs: every shipped pack; lm-eval tasks:
    none; datasets: $TINYQA_DATASETS). The `tinyqa nightly` command and the deployment's flow
    both resolve theirs here."""
    from tinyqa.pack import shipped_ids

    cfg = load(folder)[0].nightly
    return NightlyPlan(models=models or cfg.models or ["local"], packs=packs or cfg.packs or shipped_ids(),
                       lmeval_tasks=lmeval_tasks if lmeval_tasks is not None else cfg.lmeval_tasks or [],
                       lmeval_backend=lmeval_backend or cfg.lmeval_backend,
                       lmeval_datasets=lmeval_datasets or cfg.lmeval_datasets or os.environ.get("TINYQA_DATASETS") or None,
                       lmeval_limit=lmeval_limit or cfg.lmeval_limit)
