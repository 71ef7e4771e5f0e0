"""Croissant 1.1 metadata for a pack, built and checked with mlcroissant.

The metadata describes data.jsonl (a FileObject with its sha256) and one RecordSet, `items`,
with a field per item field; nested tags are read with `extract.column="tags"` plus a JSON
path. Checking loads the JSON-LD from its file and reads every record.
"""
from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

from tinyqa.pack import DATA_FILE, Pack, item_line, load_pack
from tinyqa.files import write_atomic

FILE = "croissant.json"
LICENSE = "https://creativecommons.org/licenses/by/4.0/"
CITATION = "tinyqa authors. tinyqa packs: tiny multilingual question-answer packs for model gates. 2026."
SCALARS = ("id", "text", "label", "context", "lang", "sha256")


def _field(mlc, record_set: str, file_object: str, name: str, column: str,
           json_path: str | None = None, array: bool = False):
    source = mlc.Source(file_object=file_object, extract=mlc.Extract(column=column),
                        transforms=[mlc.Transform(json_path=json_path)] if json_path else [])
    kwargs = {"is_array": True, "array_shape": "-1"} if array else {}
    return mlc.Field(id=f"{record_set}/{name}", name=name, data_types=[mlc.DataType.TEXT], source=source, **kwargs)


def common_tags(pack: Pack) -> list[str]:
    """Tag keys every item has (category, difficulty, and e.g. hazard in the stress pack)."""
    keys = [set(i.tags.model_dump()) for i in pack.items]
    return sorted(set.intersection(*keys))


def _file_and_records(mlc, pack: Pack, file_id: str, content_url: str, record_set: str):
    """A pack's data.jsonl as a FileObject and its items as a RecordSet."""
    data = (pack.path / DATA_FILE).read_bytes()
    names = [*SCALARS[:4], "aliases", *SCALARS[4:]]
    fields = [_field(mlc, record_set, file_id, n, n, array=n == "aliases") for n in names]
    fields += [_field(mlc, record_set, file_id, f"tags_{k}", "tags", json_path=k) for k in common_tags(pack)]
    return (mlc.FileObject(id=file_id, name=file_id, content_url=content_url,
                           encoding_formats=["application/jsonlines"],
                           sha256=hashlib.sha256(data).hexdigest(), content_size=f"{len(data)} B"),
            mlc.RecordSet(id=record_set, name=record_set, key=[f"{record_set}/id"], fields=fields))


def _metadata(mlc, name: str, description: str, langs: list[str], published: str | None, files, record_sets):
    return mlc.Metadata(
        ctx=mlc.Context(conforms_to="http://mlcommons.org/croissant/1.1"),
        name=name, description=description, license=[LICENSE], cite_as=CITATION, version="1.0.0",
        date_published=date.fromisoformat(published or date.today().isoformat()),
        creators=[mlc.Organization(name="tinyqa authors")], in_language=langs,
        url="https://github.com/tinyqa/tinyqa", distribution=files, record_sets=record_sets,
    ).to_json()


def build(pack: Pack, published: str | None = None) -> dict:
    """The pack's Croissant JSON-LD as a dict: data.jsonl and its `items` record set."""
    import mlcroissant as mlc

    file, records = _file_and_records(mlc, pack, DATA_FILE, DATA_FILE, "items")
    return _metadata(mlc, pack.id, f"tinyqa pack {pack.id}: {len(pack.items)} short-answer questions "
                     f"({', '.join(pack.langs)}), each with a one-sentence context containing its label.",
                     pack.langs, published, [file], [records])


def build_index(packs: list[Pack], name: str, published: str | None = None) -> dict:
    """One Croissant for a folder of packs: each pack's data.jsonl and a record set per pack."""
    import mlcroissant as mlc

    pairs = [_file_and_records(mlc, p, f"{p.id}/{DATA_FILE}", f"{p.id}/{DATA_FILE}", p.id) for p in packs]
    langs = sorted({lang for p in packs for lang in p.langs})
    return _metadata(mlc, name, f"tinyqa packs: {', '.join(p.id for p in packs)} "
                     f"({sum(len(p.items) for p in packs)} items in {len(langs)} languages).",
                     langs, published, [f for f, _ in pairs], [r for _, r in pairs])


def _published(path: Path) -> str | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("datePublished", "")[:10] or None
    except (OSError, ValueError, AttributeError):
        return None


def write_index(folder: Path, packs: list[Pack]) -> Path:
    """(Re)write `folder`/croissant.json describing every pack in it."""
    path = Path(folder) / FILE
    doc = build_index(packs, Path(folder).resolve().name, _published(path))
    return write_atomic(path, json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


def write(pack: Pack) -> Path:
    """(Re)write the pack's croissant.json; its datePublished is kept from an earlier file."""
    path = pack.path / FILE
    doc = build(pack, _published(path))
    return write_atomic(path, json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


def records(folder: Path, record_set: str = "items") -> list[dict]:
    """Every record of a RecordSet, read by mlcroissant from `folder`/croissant.json."""
    import mlcroissant as mlc

    ds = mlc.Dataset(jsonld=str(Path(folder) / FILE))
    out = []
    for rec in ds.records(record_set):
        row = {}
        for key, value in rec.items():
            name = key.split("/", 1)[1]
            if isinstance(value, bytes):
                value = value.decode("utf-8")
            elif isinstance(value, list):
                value = [v.decode("utf-8") if isinstance(v, bytes) else v for v in value]
            row[name] = value
        out.append(row)
    return out


def declared_langs(pack: Pack) -> list[str] | None:
    """The languages croissant.json declares (inLanguage), if it can be read."""
    try:
        langs = json.loads((pack.path / FILE).read_text(encoding="utf-8")).get("inLanguage")
    except (OSError, ValueError, AttributeError):
        return None
    return [langs] if isinstance(langs, str) else langs


def outside(meta: dict, folder: Path) -> list[str]:
    """What in a Croissant document would make mlcroissant read beyond the pack's own files:
    a distribution whose contentUrl (or FileSet's includes) is a URL, an absolute path or
    leaves the folder, and a JSON-LD @context that is not inline (a remote one is fetched).
    A pack comes from a pull request: validating it reads the pack, and nothing it names."""
    problems = []
    if "@context" in meta and not isinstance(meta["@context"], dict):
        problems.append("field @context: must be an inline object (a remote context would be fetched)")
    root = folder.resolve()
    for i, d in enumerate(meta.get("distribution") or []):
        for key in ("contentUrl", "includes"):
            values = d.get(key) if isinstance(d, dict) else None
            for v in values if isinstance(values, list) else [values]:
                if v is None:
                    continue
                name = str(v)
                local = (isinstance(v, str) and "://" not in name and not name.startswith(("/", "\\", "~"))
                         and ":" not in name.split("/")[0])
                if not local or not (root / name).resolve().is_relative_to(root):
                    problems.append(f"field distribution[{i}].{key}: {name[:200]!r} is not a file of the pack "
                                    "(a pack's Croissant names only its own files; nothing it names is fetched)")
    return problems


def check(pack: Pack) -> list[str]:
    """croissant.json exists, names only the pack's own files (`outside`), names data.jsonl's
    current sha256, and its records (read by mlcroissant) equal the JSONL items."""
    path = pack.path / FILE
    if not path.is_file():
        return [f"{path}: missing (run `tinyqa describe {pack.path}`)"]
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        declared = next(d["sha256"] for d in meta["distribution"] if d.get("contentUrl") == DATA_FILE)
    except (ValueError, KeyError, StopIteration, TypeError):
        return [f"{path}: not a tinyqa Croissant file (no FileObject for {DATA_FILE} with a sha256)"]
    if foreign := outside(meta, pack.path):
        return [f"{path}: {p}" for p in foreign]
    actual = hashlib.sha256((pack.path / DATA_FILE).read_bytes()).hexdigest()
    if declared != actual:
        return [f"{path}: field distribution.sha256: {declared[:12]}… does not match {DATA_FILE} "
                f"({actual[:12]}…); run `tinyqa describe {pack.path}`"]
    try:
        got = {r["id"]: r for r in records(pack.path)}
    except Exception as e:  # mlcroissant raises many kinds; each is a validation failure here
        return [f"{path}: mlcroissant cannot read the records: {str(e).splitlines()[0][:300]}"]
    problems = []
    tags = common_tags(pack)
    for item in pack.items:
        rec = got.pop(item.id, None)
        want = {**{k: getattr(item, k) for k in SCALARS}, "aliases": list(item.aliases),
                **{f"tags_{k}": str(getattr(item.tags, k)) for k in tags}}
        if rec is None:
            problems.append(f"{path}: item {item.id}: no record")
        elif rec != want:
            bad = sorted(k for k in want if rec.get(k) != want[k])
            problems.append(f"{path}: item {item.id}: record differs in {', '.join(bad)}")
    problems += [f"{path}: record {rid}: not in {DATA_FILE}" for rid in got]
    return problems


def describe_pack(path: Path) -> Pack:
    """Fill in ids and sha256 of every item, rewrite data.jsonl atomically, then croissant.json."""
    pack = load_pack(path, check_ids=False)
    data = pack.path / DATA_FILE
    text = "".join(item_line(i) + "\n" for i in pack.items)
    if data.read_text(encoding="utf-8") != text:
        write_atomic(data, text)
    pack = load_pack(pack.path)
    write(pack)
    return pack
