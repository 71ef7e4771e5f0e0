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

from tinyqa.pack import DATA_FILE, Pack
from tinyqa.files import write_atomic

FILE = "croissant.json"
LICENSE = "https://creativecommons.org/licenses/by/4.0/"
CITATION = "tinyqa authors. tinyqa packs: tiny multilingual question-answer packs for model gates. 2026."
SCALARS = ("id", "text", "label", "context", "lang", "sha256")


def _field(mlc, name: str, column: str, json_path: str | None = None, array: bool = False):
    source = mlc.Source(file_object="data.jsonl", extract=mlc.Extract(column=column),
                        transforms=[mlc.Transform(json_path=json_path)] if json_path else [])
    kwargs = {"is_array": True, "array_shape": "-1"} if array else {}
    return mlc.Field(id=f"items/{name}", name=name, data_types=[mlc.DataType.TEXT], source=source, **kwargs)


def common_tags(pack: Pack) -> list[str]:
    """Tag keys every item has (category, difficulty, and e.g. hazard in the stress pack)."""
    keys = [set(i.tags.model_dump()) for i in pack.items]
    return sorted(set.intersection(*keys))


def build(pack: Pack, published: str | None = None) -> dict:
    """The pack's Croissant JSON-LD as a dict."""
    import mlcroissant as mlc

    data = (pack.path / DATA_FILE).read_bytes()
    fields = [_field(mlc, n, n) for n in SCALARS[:4]]
    fields.append(_field(mlc, "aliases", "aliases", array=True))
    fields += [_field(mlc, n, n) for n in SCALARS[4:]]
    fields += [_field(mlc, f"tags_{k}", "tags", json_path=k) for k in common_tags(pack)]
    meta = mlc.Metadata(
        ctx=mlc.Context(conforms_to="http://mlcommons.org/croissant/1.1"),
        name=pack.id,
        description=f"tinyqa pack {pack.id}: {len(pack.items)} short-answer questions "
                    f"({', '.join(pack.langs)}), each with a one-sentence context containing its label.",
        license=[LICENSE], cite_as=CITATION, version="1.0.0",
        date_published=date.fromisoformat(published or date.today().isoformat()),
        creators=[mlc.Organization(name="tinyqa authors")], in_language=pack.langs,
        url="https://github.com/tinyqa/tinyqa",
        distribution=[mlc.FileObject(id="data.jsonl", name="data.jsonl", content_url=DATA_FILE,
                                     encoding_formats=["application/jsonlines"],
                                     sha256=hashlib.sha256(data).hexdigest(), content_size=f"{len(data)} B")],
        record_sets=[mlc.RecordSet(id="items", name="items", key=["items/id"], fields=fields)],
    )
    return meta.to_json()


def write(pack: Pack) -> Path:
    """(Re)write the pack's croissant.json; its datePublished is kept from an earlier file."""
    path = pack.path / FILE
    published = None
    if path.is_file():
        try:
            published = json.loads(path.read_text(encoding="utf-8")).get("datePublished", "")[:10] or None
        except (ValueError, AttributeError):
            published = None
    return write_atomic(path, json.dumps(build(pack, published), ensure_ascii=False, indent=2) + "\n")


def records(pack_dir: Path) -> list[dict]:
    """Every record of the pack's `items` RecordSet, read by mlcroissant from croissant.json."""
    import mlcroissant as mlc

    ds = mlc.Dataset(jsonld=str(Path(pack_dir) / FILE))
    out = []
    for rec in ds.records("items"):
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


def check(pack: Pack) -> list[str]:
    """croissant.json exists, names data.jsonl's current sha256, and its records (read by
    mlcroissant) equal the JSONL items."""
    path = pack.path / FILE
    if not path.is_file():
        return [f"{path}: missing (run `tinyqa describe {pack.path}`)"]
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        declared = next(d["sha256"] for d in meta["distribution"] if d.get("contentUrl") == DATA_FILE)
    except (ValueError, KeyError, StopIteration, TypeError):
        return [f"{path}: not a tinyqa Croissant file (no FileObject for {DATA_FILE} with a sha256)"]
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
