import json

import pytest

from conftest import MINI, write_pack
from tinyqa.errors import InputError
from tinyqa.pack import Item, load_pack, resolve_packs
from tinyqa.validators.croissant import describe_pack


def test_ids_are_derived_from_lang_text_and_label_only():
    a = Item.model_validate(MINI[0])
    moved = Item.model_validate({**MINI[0], "context": "Paris is France's capital."})
    assert a.expected_id() == moved.expected_id()
    assert a.expected_sha256() != moved.expected_sha256()
    assert a.expected_id() != Item.model_validate({**MINI[0], "label": "Paris", "lang": "fr"}).expected_id()


def test_describe_fills_ids_and_is_idempotent(tmp_path):
    folder = write_pack(tmp_path / "p", MINI)
    describe_pack(folder)
    first = (folder / "data.jsonl").read_bytes()
    describe_pack(folder)
    assert (folder / "data.jsonl").read_bytes() == first
    rows = [json.loads(x) for x in first.decode().splitlines()]
    assert [r["id"] for r in rows] == [Item.model_validate(i).expected_id() for i in MINI]
    assert all(len(r["sha256"]) == 64 for r in rows)


def test_edited_item_without_describe_is_rejected_naming_line_and_field(mini_pack):
    lines = (mini_pack / "data.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace("written by", "penned by")
    (mini_pack / "data.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"data.jsonl:3: field sha256"):
        load_pack(mini_pack)


@pytest.mark.parametrize("line, where", [
    (b'{"text": "x"', "invalid JSON"),
    (b'["not", "an", "object"]', "expected a JSON object"),
    (b'\xff\xfe{}', "invalid UTF-8"),
    (json.dumps({**MINI[0], "label": "Lyon"}).encode(), "field context: does not contain the label .Lyon. verbatim"),
    (json.dumps({**MINI[0], "tags": {"category": "x", "difficulty": "trivial"}}).encode(), "field tags.difficulty"),
    (json.dumps({**MINI[0], "aliases": "Paris"}).encode(), "field aliases"),
    (json.dumps({**MINI[0], "extra": 1}).encode(), "field extra"),
])
def test_malformed_line_names_file_line_and_field(tmp_path, line, where):
    folder = write_pack(tmp_path / "p", MINI[1:2])
    with open(folder / "data.jsonl", "ab") as f:
        f.write(line + b"\n")
    with pytest.raises(InputError) as e:
        load_pack(folder, check_ids=False)
    msg = str(e.value)
    assert "data.jsonl:2" in msg
    assert __import__("re").search(where, msg), msg


def test_problems_are_collected_item_by_item(tmp_path):
    folder = write_pack(tmp_path / "p", MINI)
    with open(folder / "data.jsonl", "ab") as f:
        f.write(b"{bad\n" + json.dumps(MINI[0]).encode() + b"\n")
    problems: list[str] = []
    load_pack(folder, check_ids=False, problems=problems)
    assert len(problems) == 2
    assert "data.jsonl:5" in problems[0] and "data.jsonl:6: field id: duplicate of line 1" in problems[1]


def test_unknown_pack_and_bad_pack_id(tmp_path):
    with pytest.raises(InputError, match="unknown pack 'nope'"):
        resolve_packs("nope")
    folder = write_pack(tmp_path / "Bad Name", MINI)
    with pytest.raises(InputError, match="must match"):
        load_pack(folder, check_ids=False)
