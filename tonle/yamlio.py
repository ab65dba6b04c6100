"""Strict YAML reading: what the operator wrote, one line per problem naming file and line.

* Duplicate mapping keys are errors (PyYAML silently keeps the last one).
* Plain scalars are resolved as in YAML 1.2's core schema, not YAML 1.1: `22:00` is the text "22:00"
  (not the base-60 number 1320), `NO`, `yes`, `off` are text (not booleans), `010` is text (not octal 8),
  dates are text (the model parses them). Only `true`/`false`, `null`/`~`, decimal integers and decimal
  floats are typed by YAML.
* Aliases (`*name`) and merge keys (`<<`) are refused: a few lines of nested aliases expand to
  gigabytes, and the inventory has groups for sharing values.
* Files over `MAX_FILE_BYTES` are refused before they are read.
* The C parser (libyaml) is used when PyYAML has it: about three times faster than the Python one.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node
from yaml.resolver import BaseResolver

MAX_FILE_BYTES = 32 * 1024 * 1024  # a 10 MB inventory is large; 32 MB is a wrong file, not an inventory
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlFileError(Exception):
    """A YAML file is missing, unreadable or malformed; the message is one line naming the file."""


class _CoreResolver(BaseResolver):
    """YAML 1.2 core schema for plain scalars; everything else stays text."""


for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_MERGE_TAG, r"^<<$", "<"),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9]*)$", "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?[0-9]+[eE][-+]?[0-9]+$", "-+0123456789."),
):
    _CoreResolver.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))


class _StrictConstructor(SafeConstructor):
    """SafeConstructor that refuses duplicate keys, aliases and merge keys."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        # A node is reached a second time only through an alias (or an anchor that contains itself).
        if node in self.constructed_objects or node in self.recursive_objects:
            raise ConstructorError(None, None, "aliases (*name) are not allowed: write the value out (the "
                                   "alias repeats the value anchored here)", node.start_mark)
        return super().construct_object(node, deep=deep)

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, "expected a mapping", node.start_mark)
        mapping: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                raise ConstructorError(None, None, "merge keys (<<) are not allowed: write the keys out",
                                       key_node.start_mark)
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise ConstructorError(None, None, "a key must be a single value, not a list or a mapping",
                                       key_node.start_mark)
            if key in first_line:
                raise ConstructorError(None, None, f"duplicate key {_short(key)} (first at line "
                                       f"{first_line[key] + 1})", key_node.start_mark)
            first_line[key] = key_node.start_mark.line
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


if yaml.__with_libyaml__:
    from yaml._yaml import CParser  # the class yaml.cyaml re-exports

    class _StrictLoader(CParser, _StrictConstructor, _CoreResolver):
        """libyaml parser and composer, strict Python constructor, YAML 1.2 core resolver."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _StrictConstructor.__init__(self)
            _CoreResolver.__init__(self)
else:  # pragma: no cover - PyYAML built without libyaml
    class _StrictLoader(  # type: ignore[no-redef]
            yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
            _StrictConstructor, _CoreResolver):
        """Pure-Python parser and composer, strict constructor, YAML 1.2 core resolver."""

        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            _StrictConstructor.__init__(self)
            _CoreResolver.__init__(self)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_yaml(text: str, name: str) -> Any:
    """Parse one YAML document strictly (see the module docstring).

    Raises:
        YamlFileError: syntax error, duplicate key, alias or merge key; the message names `name` and the line.
    """
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = exc.problem or exc.context or "syntax error"
        raise YamlFileError(f"{name}: {where}YAML error: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlFileError(f"{name}: YAML error: {str(exc).splitlines()[0] if str(exc) else 'syntax error'}") \
            from None
    finally:
        loader.dispose()


def load_yaml(path: Path, *, display: str | None = None) -> Any:
    """Load one YAML document strictly.

    Args:
        path: the file to read.
        display: how to name the file in errors (defaults to the path as given).

    Raises:
        YamlFileError: missing, unreadable or oversized file, syntax error, duplicate key, alias or merge key.
    """
    name = display or str(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # bounded: a wrong file (or a device node) is not read to its end
        if len(data) > MAX_FILE_BYTES:
            raise YamlFileError(f"{name}: the file is over the {MAX_FILE_BYTES // 2**20} MB limit of an inventory "
                                "file (is it the right file?)")
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise YamlFileError(f"{name}: file not found") from None
    except UnicodeDecodeError as exc:
        raise YamlFileError(f"{name}: cannot read: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise YamlFileError(f"{name}: cannot read: {exc.strerror or exc}") from None
    return parse_yaml(text, name)
