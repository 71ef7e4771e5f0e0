"""Prompt templates: named, versioned TOML files (`id`, `system`, `user` with {question})."""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tinyqa.errors import InputError
from tinyqa.languages import base

TEMPLATES_DIR = Path(__file__).parent / "templates"
DEFAULT = "qa-v1"


@dataclass(frozen=True)
class Template:
    id: str
    system: str
    user: str
    sha256: str
    system_by_lang: dict[str, str] = field(default_factory=dict)

    def messages(self, question: str, lang: str = "en") -> list[dict]:
        """The chat messages for one question; the system text in its language when given."""
        system = self.system_by_lang.get(base(lang), self.system)
        msgs = [{"role": "system", "content": system}] if system else []
        return [*msgs, {"role": "user", "content": self.user.replace("{question}", question)}]


def load_template(name_or_file: str = DEFAULT) -> Template:
    """A shipped template by name (`qa-v1`) or a TOML file path."""
    path = Path(name_or_file)
    if not path.is_file():
        path = TEMPLATES_DIR / f"{name_or_file}.toml"
    if not path.is_file():
        shipped = sorted(p.stem for p in TEMPLATES_DIR.glob("*.toml"))
        raise InputError(f"--template: no template {name_or_file!r} (shipped: {', '.join(shipped)})")
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"{path}: invalid template: {e}") from None
    for key in ("id", "user"):
        if not isinstance(data.get(key), str):
            raise InputError(f"{path}: field {key}: required string")
    if "{question}" not in data["user"]:
        raise InputError(f"{path}: field user: must contain {{question}}")
    by_lang = data.get("system_by_lang", {})
    if not isinstance(by_lang, dict) or not all(isinstance(v, str) for v in by_lang.values()):
        raise InputError(f"{path}: field system_by_lang: must map language codes to strings")
    return Template(data["id"], data.get("system", ""), data["user"], hashlib.sha256(raw).hexdigest(), by_lang)
