"""`tinyqa validate` on every shipped pack and on a folder of deliberately broken packs."""
import subprocess

import pytest

from conftest import MINI, write_pack
from tinyqa.validators.croissant import describe_pack


def _broken(root):
    """name -> (how to break a described copy of MINI, text expected in the problem line)."""
    def jsonl(folder, lines: list[bytes]):
        (folder / "data.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    def lines(folder):
        return (folder / "data.jsonl").read_bytes().splitlines()

    cases = {
        "bad_json": (lambda f: jsonl(f, lines(f)[:2] + [b'{"text": "oops",'] + lines(f)[3:]), "data.jsonl:3: invalid JSON"),
        "wrong_types": (lambda f: jsonl(f, [lines(f)[0].replace(b'"aliases": []', b'"aliases": 7')] + lines(f)[1:]),
                        "data.jsonl:1: field aliases"),
        "duplicate_ids": (lambda f: jsonl(f, lines(f) + lines(f)[:1]), "data.jsonl:5: field id: duplicate of line 1"),
        "label_not_in_context": (lambda f: jsonl(f, [lines(f)[0].replace(b'"context": "Paris is', b'"context": "It is')] + lines(f)[1:]),
                                 "data.jsonl:1: field context: does not contain the label"),
        "invalid_utf8": (lambda f: jsonl(f, lines(f)[:1] + [b'\xc3\x28' + lines(f)[1]] + lines(f)[2:]), "data.jsonl:2: invalid UTF-8"),
        "empty_file": (lambda f: (f / "data.jsonl").write_bytes(b""), "no items"),
        "huge_line": (lambda f: jsonl(f, lines(f) + [b'{"text": "' + b"x" * 200_000 + b'"}']), "data.jsonl:5: line is"),
    }
    out = {}
    for name, (breaker, needle) in cases.items():
        folder = describe_pack(write_pack(root / name, MINI)).path
        breaker(folder)
        out[name] = needle
    # Wrong language: a described item whose text is not in its language's script.
    ru = {**MINI[0], "lang": "ru", "text": "What is the capital of France?"}
    folder = describe_pack(write_pack(root / "wrong_language", [ru, *MINI[1:]])).path
    out["wrong_language"] = "field in_script"
    # An English item in a French pack: the same script, so only language identification sees it.
    en_as_fr = {**MINI[0], "lang": "fr"}
    folder = describe_pack(write_pack(root / "english_in_french", [en_as_fr, MINI[3]])).path
    out["english_in_french"] = "field in_language: text and context read as English (en), not as the item's lang fr"
    # A Russian question asking for the genitive, with only nominative answers.
    ru = {"text": "Каких братьев-просветителей считают создателями славянской азбуки?", "label": "Кирилл и Мефодий",
          "aliases": ["Мефодий и Кирилл"], "context": "Создателями славянской азбуки считаются братья Кирилл и Мефодий.",
          "tags": {"category": "language", "difficulty": "medium"}, "lang": "ru"}
    folder = describe_pack(write_pack(root / "nominative_only", [ru])).path
    out["nominative_only"] = "field inflected_alias: the question word «каких» asks for an inflected answer"
    return out


def test_broken_packs_are_rejected_item_by_item(tmp_path, tinyqa_bin, cli_env):
    expected = _broken(tmp_path)
    res = subprocess.run([tinyqa_bin, "validate", str(tmp_path)], capture_output=True, text=True, env=cli_env, timeout=120)
    assert res.returncode == 1
    assert "Traceback" not in res.stdout + res.stderr
    for name, needle in expected.items():
        mine = [ln for ln in res.stdout.splitlines() if ln.startswith(f"{name}: ")]
        assert f"{name}: FAIL" in mine, (name, res.stdout)
        assert any(needle in ln for ln in mine), (name, needle, mine)


def test_validate_missing_path_is_usage_error(tmp_path, tinyqa_bin, cli_env):
    res = subprocess.run([tinyqa_bin, "validate", str(tmp_path / "nope")], capture_output=True, text=True, env=cli_env)
    assert res.returncode == 2 and res.stderr.count("\n") == 1


def test_changing_one_byte_of_a_shipped_pack_fails(tmp_path, tinyqa_bin, cli_env):
    import shutil

    from tinyqa.pack import shipped_dir

    folder = tmp_path / "core_en"
    shutil.copytree(shipped_dir() / "core_en", folder)
    raw = bytearray((folder / "data.jsonl").read_bytes())
    i = raw.index(b"capital of Japan")
    raw[i] = ord("C")
    (folder / "data.jsonl").write_bytes(bytes(raw))
    res = subprocess.run([tinyqa_bin, "validate", str(folder)], capture_output=True, text=True, env=cli_env, timeout=120)
    assert res.returncode == 1 and "field sha256" in res.stdout


def test_mlcroissant_reads_every_shipped_pack():
    import mlcroissant as mlc

    from tinyqa.pack import load_pack, shipped_dir, shipped_ids
    from tinyqa.validators import croissant

    for pid in shipped_ids():
        pack = load_pack(shipped_dir() / pid)
        ds = mlc.Dataset(jsonld=str(pack.path / "croissant.json"))   # validates the JSON-LD
        assert ds.metadata.ctx.is_v1_1
        assert croissant.check(pack) == [], pid


def test_index_croissant_reads_every_pack():
    from tinyqa.pack import load_pack, shipped_dir, shipped_ids
    from tinyqa.validators import croissant

    for pid in shipped_ids():
        recs = croissant.records(shipped_dir(), pid)
        assert sorted(r["id"] for r in recs) == sorted(i.id for i in load_pack(shipped_dir() / pid).items), pid


def test_validate_packs_flow_checks_a_pack_again_only_when_it_changed(prefect_harness, mini_pack, tmp_path,
                                                                      monkeypatch):
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    from tinyqa.flows.validate import validate_packs
    from tinyqa.validators import validate as checks

    real, checked = checks.validate_pack, []

    def counting(path):
        checked.append(path.name)
        return real(path)

    monkeypatch.setattr(checks, "validate_pack", counting)
    with temporary_settings({PREFECT_LOCAL_STORAGE_PATH: tmp_path / "results"}):
        assert validate_packs([str(mini_pack)]) == {"mini": []}
        assert validate_packs([str(mini_pack)]) == {"mini": []}
        assert checked == ["mini"]                                  # the second verdict came from the cache
        data = mini_pack / "data.jsonl"
        data.write_text(data.read_text().replace("A spider has 8 legs.", "A spider has 8 legs!"))
        problems = validate_packs([str(mini_pack)])["mini"]
    assert checked == ["mini", "mini"] and any("sha256" in p for p in problems)


def test_files_stand_for_their_pack_folder_once(tmp_path):
    """What a pre-commit hook passes: changed files; each pack folder is validated once."""
    from tinyqa.errors import InputError
    from tinyqa.validators.validate import pack_dirs

    a, b = write_pack(tmp_path / "packs" / "a", MINI), write_pack(tmp_path / "packs" / "b", MINI)
    (a / "croissant.json").write_text("{}")
    (tmp_path / "packs" / "croissant.json").write_text("{}")
    assert pack_dirs([a / "data.jsonl", a / "croissant.json", b / "data.jsonl"]) == [a, b]
    assert pack_dirs([tmp_path / "packs" / "croissant.json", a]) == [a, b]
    with pytest.raises(InputError, match="not a pack folder"):
        pack_dirs([tmp_path / "packs" / "README.md"])
