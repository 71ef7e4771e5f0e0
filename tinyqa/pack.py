"""The pack contract (packs/README.md): items, their stable ids and hashes, strict loading.

A pack is a folder `<pack_id>/` with `data.jsonl` (one item a line), `croissant.json` and
`README.md`. Authors write the content fields; `id` and `sha256` are derived from them.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from tinyqa.errors import InputError

CONTENT_FIELDS = ("text", "label", "aliases", "context", "tags", "lang")
PACK_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")
BCP47 = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
DATA_FILE = "data.jsonl"
MAX_LINE = 64 * 1024  # bytes; an item is a few hundred
MULTILINE = ("text", "context")   # fields that may hold a tab or a line break; no field holds another control character


def _printable(value: str, allow: str = "") -> str:
    """`value`, or a ValueError naming its first control character (ESC, a C1 control, ...):
    a pack's text reaches terminals and reports, where those act instead of showing."""
    from tinyqa.text import control_char, describe_char

    if (ch := control_char(value, allow)) is not None:
        raise ValueError(f"contains the control character {describe_char(ch)}")
    return value


class Tags(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    category: str = Field(min_length=1)
    difficulty: Literal["easy", "medium", "hard"]

    @model_validator(mode="after")
    def _no_control(self) -> Tags:
        for key, value in [("category", self.category), *(self.model_extra or {}).items()]:
            for s in ([key] if isinstance(key, str) else []) + ([value] if isinstance(value, str) else []):
                _printable(s)
        return self


class Provenance(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    source: Literal["hand", "generated"]
    model: str | None = None
    prompt_hash: str | None = None


class Item(BaseModel):
    """One question with its gold answer; `id` and `sha256` are filled in by `with_ids()`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: str | None = None
    text: str = Field(min_length=1, max_length=2000)
    label: str = Field(min_length=1, max_length=200)
    aliases: list[str] = Field(default_factory=list)
    context: str = Field(min_length=1, max_length=2000)
    tags: Tags
    lang: str = Field(pattern=BCP47)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    provenance: Provenance | None = None

    @field_validator("text", "label", "context", "lang")
    @classmethod
    def _no_control(cls, value: str, info: ValidationInfo) -> str:
        return _printable(value, "\t\n" if info.field_name in MULTILINE else "")

    @field_validator("aliases")
    @classmethod
    def _no_control_in_aliases(cls, aliases: list[str]) -> list[str]:
        for a in aliases:
            _printable(a)
        return aliases

    @field_validator("context")
    @classmethod
    def _label_in_context(cls, context: str, info: ValidationInfo) -> str:
        label = info.data.get("label")
        if label is not None and label not in context:
            raise ValueError(f"does not contain the label {label!r} verbatim")
        return context

    @property
    def content(self) -> dict:
        return self.model_dump(include=set(CONTENT_FIELDS), exclude_none=True)

    @property
    def answers(self) -> list[str]:
        """The gold label followed by its aliases."""
        return [self.label, *self.aliases]

    def expected_id(self) -> str:
        digest = hashlib.sha256(f"{self.lang}\x00{self.text}\x00{self.label}".encode()).hexdigest()
        return f"{self.lang.lower()}-{digest[:12]}"

    def expected_sha256(self) -> str:
        return hashlib.sha256(canonical_json(self.content).encode()).hexdigest()

    def with_ids(self) -> Item:
        return self.model_copy(update={"id": self.expected_id(), "sha256": self.expected_sha256()})


def canonical_json(obj: object) -> str:
    """Sorted keys, no spaces, real UTF-8 characters: the form that is hashed."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def item_line(item: Item) -> str:
    """An item as written in data.jsonl: fields in contract order."""
    order = ["id", *CONTENT_FIELDS, "sha256", "provenance"]
    data = item.model_dump(exclude_none=True)
    return json.dumps({k: data[k] for k in order if k in data}, ensure_ascii=False)


class Pack(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    id: str
    path: Path
    items: tuple[Item, ...]

    @property
    def langs(self) -> list[str]:
        return sorted({i.lang for i in self.items})


def _where(path: Path, line: int | None, field: str | None = None) -> str:
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: field {field}" if field else where


def parse_items(path: Path, *, check_ids: bool = True, problems: list[str] | None = None) -> list[Item]:
    """Parse a data.jsonl strictly. Each problem names file, line, item and field; the first
    raises InputError, unless `problems` is given: then all are collected there."""

    def problem(msg: str) -> None:
        if problems is None:
            raise InputError(msg)
        problems.append(msg)

    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    items: list[Item] = []
    seen: dict[str, int] = {}
    undescribed: list[int] = []
    for n, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE:
            problem(f"{_where(path, n)}: line is {len(line)} bytes, over the {MAX_LINE}-byte limit")
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as e:
            problem(f"{_where(path, n)}: invalid UTF-8 at byte {e.start}")
            continue
        except json.JSONDecodeError as e:
            problem(f"{_where(path, n)}: invalid JSON: {e.msg} (column {e.colno})")
            continue
        if not isinstance(obj, dict):
            problem(f"{_where(path, n)}: expected a JSON object, got {type(obj).__name__}")
            continue
        try:
            item = Item.model_validate(obj)
        except ValidationError as e:
            for err in e.errors():
                field = ".".join(p if isinstance(p, str) and p.isidentifier() else repr(p)
                                 for p in err["loc"]) or None
                problem(f"{_where(path, n, field)}: {err['msg'].removeprefix('Value error, ')}")
            continue
        if check_ids:
            for field, want in (("id", item.expected_id()), ("sha256", item.expected_sha256())):
                have = getattr(item, field)
                if have is None and not undescribed:
                    undescribed.append(n)
                    problem(f"{_where(path, n, field)}: missing, and maybe on later lines too "
                            f"(run `tinyqa describe {path.parent}` to fill in ids and hashes)")
                elif have is not None and have != want:
                    problem(f"{_where(path, n, field)}: is {have}, content gives {want} "
                            f"(run `tinyqa describe {path.parent}` after editing items)")
        item = item.with_ids()
        if item.id in seen:
            problem(f"{_where(path, n, 'id')}: duplicate of line {seen[item.id]} ({item.id})")
            continue
        seen[item.id] = n
        items.append(item)
    if not items and not problems:
        problem(f"{path}: no items")
    return items


def load_pack(path: Path, *, check_ids: bool = True, problems: list[str] | None = None) -> Pack:
    """Load the pack folder `path` (or its data.jsonl); see `parse_items` for `problems`."""
    path = Path(path)
    if path.name == DATA_FILE:
        path = path.parent
    data = path / DATA_FILE
    if not data.is_file():
        raise InputError(f"{path}: not a pack folder (no {DATA_FILE})")
    pack_id = path.resolve().name
    if not PACK_ID.fullmatch(pack_id):
        raise InputError(f"{path}: pack id {pack_id!r} must match {PACK_ID.pattern}")
    return Pack(id=pack_id, path=path, items=tuple(parse_items(data, check_ids=check_ids, problems=problems)))


def shipped_dir() -> Path:
    from tinyqa import packs

    return Path(packs.__file__).parent


def shipped_ids() -> list[str]:
    return sorted(p.name for p in shipped_dir().iterdir() if (p / DATA_FILE).is_file())


def locate_packs(spec: str | list[str]) -> list[Path]:
    """The folders of pack ids (shipped) or pack folder paths, comma-separated or as a list;
    InputError for a name that is neither (the packs are not read)."""
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not names:
        raise InputError("--packs: no pack given")
    folders = []
    for name in names:
        if PACK_ID.fullmatch(name) and (shipped_dir() / name / DATA_FILE).is_file():
            folders.append(shipped_dir() / name)
        elif Path(name).is_dir() or Path(name).name == DATA_FILE:
            folders.append(Path(name))
        else:
            raise InputError(f"--packs: unknown pack {name!r} (shipped: {', '.join(shipped_ids())})")
    return folders


def resolve_packs(spec: str | list[str]) -> list[Pack]:
    """Pack ids (shipped) or pack folder paths, comma-separated or as a list, loaded."""
    return [load_pack(folder) for folder in locate_packs(spec)]
