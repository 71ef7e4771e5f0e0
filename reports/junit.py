"""The gate's checks as JUnit XML (the Jenkins xUnit junit-10 layout that CI tools read):
one <testsuite> per pack, one <testcase> per check, a <failure> listing the flipped items;
each suite's properties name the model and the baseline the gate compared with. Text quoted
from questions and answers is untrusted: characters XML 1.0 cannot hold (controls, lone
surrogates) are written as their escapes (`\\x1b`), so the file always parses."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from tinyqa.files import write_atomic
from tinyqa.suites.result import DROP, Check
from tinyqa.text import visible


def _x(text: object) -> str:
    return visible(str(text), keep="\t\n")


def write(path: Path, checks: list[Check], name: str = "tinyqa gate", time_s: float = 0.0,
          properties: dict[str, str] | None = None) -> Path:
    by_pack: dict[str, list[Check]] = defaultdict(list)
    for c in checks:
        by_pack[c.group].append(c)
    failures = sum(not c.passed for c in checks)
    root = ET.Element("testsuites", name=_x(name), tests=str(len(checks)), failures=str(failures),
                      errors="0", time=f"{time_s:.3f}")
    for pack_id, cs in by_pack.items():
        suite = ET.SubElement(root, "testsuite", name=_x(pack_id), tests=str(len(cs)),
                              failures=str(sum(not c.passed for c in cs)), errors="0", skipped="0",
                              time="0")
        if properties:
            props = ET.SubElement(suite, "properties")
            for k, v in properties.items():
                ET.SubElement(props, "property", name=_x(k), value=_x(v))
        power = next((c.measures for c in cs if c.kind == DROP and c.slice == "all" and c.measures), None)
        if power is not None:   # what this pack's gate could detect, and what it left out
            props = suite.find("properties")
            if props is None:
                props = ET.SubElement(suite, "properties")
            detectable = power.get("min_detectable_drop")
            for k, v in (("n", power.get("paired")),
                         ("min_detectable_drop", "none" if detectable is None else f"{detectable:.3f}"),
                         ("verdict", power.get("verdict")),
                         ("not_compared", ",".join(n["id"] for n in power.get("not_compared", []))),
                         ("quarantined", ",".join(power.get("quarantined", [])))):
                if v is not None:
                    ET.SubElement(props, "property", name=k, value=_x(v))
        for c in cs:
            case = ET.SubElement(suite, "testcase", name=_x(c.name), classname=_x(f"tinyqa.{pack_id}"), time="0")
            if not c.passed:
                fail = ET.SubElement(case, "failure", message=_x(c.message), type="regression")
                fail.text = _x("\n".join([c.message, *c.details]))
            else:
                ET.SubElement(case, "system-out").text = _x("\n".join([c.message, *c.details]))
    return write_atomic(path, ET.tostring(root, encoding="utf-8", xml_declaration=True))
