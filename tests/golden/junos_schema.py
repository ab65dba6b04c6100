"""An offline check of Junos `set` lines against Juniper's own schema.

The schema is the Junos 24.4 configuration schema tree that the `junoscfg` package ships
(`junoscfg/validate/data/junos-structure-tree.json`, generated from the XSD a Junos device returns for
`get-xnm-information`): every keyword of every hierarchy, which are named lists, leaves (with their
enumerated values), flags and containers. junoscfg's own validators are not used (its Lark grammar does
not load, its JSON route rejects valid configurations); this walker reads only the tree.

What it catches: a misspelled or misplaced keyword (`minimum-intervall`, `prefix-limit tear-down`, a
statement under the wrong hierarchy), a missing name of a named list, a value outside an enumerated
leaf (`type interior`, `from protocol bgpp`, `disable` spelled `disabled`). What it does not: values
of free leaves (rates, names, regexes), references between objects (the structural tests do that),
platform limits (QFX vs MX), or leaves whose enumeration junoscfg lost (scheduler `priority`).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from typing import Any

# Where junoscfg's tree lost that a node is a named list (checked by hand against the Junos CLI guide).
_LISTS = {("class-of-service", "forwarding-classes", "class")}
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')


@cache
def _tree() -> dict[str, Any]:
    path = files("junoscfg") / "validate" / "data" / "junos-structure-tree.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def schema_version() -> str:
    meta = files("junoscfg") / "validate" / "data" / "junos-schema-meta.json"
    return str(json.loads(meta.read_text(encoding="utf-8"))["junos_version"])


def check(line: str) -> str | None:
    """None when the `set`/`deactivate` line fits the schema, else what is wrong."""
    tree = _tree()
    enums: list[list[str]] = tree["_enums"]
    words = _TOKEN.findall(line)
    if not words or words[0] not in ("set", "deactivate"):
        return f"not a set line: {line}"
    toks, i, node, path = words[1:], 0, tree, []
    while i < len(toks):
        tok = toks[i]
        children: dict[str, Any] = node.get("c", {})
        if tok in children:
            child, i = children[tok], i + 1
            path.append(tok)
        elif node.get("t") in children:  # a list whose keyword is left out (interfaces <name>)
            child = children[node["t"]]
        else:
            nk = [c for c in children.values() if c.get("nk")
                  and ("e" not in c or tok in enums[c["e"]])]
            if nk:
                child = nk[0]
            elif not children and node.get("L") and i == len(toks) - 1:
                return None  # a positional value of a list entry (as-path-group's as-path NAME "regex")
            else:
                return f"{line}: {tok!r} is not valid after {' '.join(path) or '(top)'}"
        if child.get("L") or tuple(path) in _LISTS:
            while child.get("o") and i < len(toks) and toks[i] in child.get("c", {}):
                i += 1  # leading operation flags (then community add NAME)
            if i >= len(toks):
                return f"{line}: {' '.join(path)} needs a name"
            i += 1
            node = child
        elif child.get("l"):
            if i >= len(toks):
                return f"{line}: {' '.join(path)} needs a value"
            if "e" in child and toks[i] not in enums[child["e"]]:
                return f"{line}: {toks[i]!r} is not one of {' '.join(path)}'s values {enums[child['e']][:12]}"
            i += 1
        elif child.get("p") and not child.get("c"):
            continue
        else:
            node = child
    return None
