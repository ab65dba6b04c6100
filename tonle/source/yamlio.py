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
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver

from tonle.errors import BadInput

MAX_FILE_BYTES = 32 * 1024 * 1024  # a 10 MB inventory is large; 32 MB is a wrong file, not an inventory
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlFileError(BadInput):
    """A YAML file is missing, unreadable or malformed; the message is one line naming the file."""


_STR, _INT, _FLOAT = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_BOOL, _NULL = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"
_SEQ, _MAP = "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_PLAIN_TYPES = (  # YAML 1.2 core schema; a plain scalar that matches none of these is text
    (_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")),
    (_NULL, re.compile(r"^(?:~|null|Null|NULL)$")),
    (_INT, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")),
    (_FLOAT, re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?[0-9]+[eE][-+]?[0-9]+$")),
    (_MERGE_TAG, re.compile(r"^<<$")),
)
_MAYBE_TYPED = frozenset("tTfF~nN-+0123456789.<")
MAX_DEPTH = 64  # an inventory nests a few levels; libyaml itself stops at 1000


class _CoreResolver(BaseResolver):
    """YAML 1.2 core schema for plain scalars; everything else stays text (a fast path: most values are names)."""

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if not implicit[0]:  # quoted: text
                return _STR
            if not value:
                return _NULL
            if value[0] in _MAYBE_TYPED:
                for tag, regexp in _PLAIN_TYPES:
                    if regexp.match(value):
                        return tag
            return _STR
        return _SEQ if kind is SequenceNode else _MAP


def _problem(message: str, node: Node) -> ConstructorError:
    return ConstructorError(None, None, message, node.start_mark)


def _build(node: Node, seen: set[int], depth: int = 0) -> Any:
    """The Python value of a composed node: str, int, float, bool, None, list, dict; strictly.

    Refuses a node reached twice (an alias: `*name`, the source of expansion bombs), merge keys, duplicate
    keys, keys that are lists or mappings, tags other than the core ones, and nesting deeper than MAX_DEPTH.
    """
    if id(node) in seen:
        raise _problem("aliases (*name) are not allowed: write the value out (an alias repeats the value "
                       "anchored here)", node)
    seen.add(id(node))
    if depth > MAX_DEPTH:
        raise _problem(f"nested more than {MAX_DEPTH} levels deep", node)
    tag = node.tag
    if isinstance(node, ScalarNode):
        return _scalar(node, tag)
    if isinstance(node, SequenceNode) and tag == _SEQ:
        return [_build(n, seen, depth + 1) for n in node.value]
    if not isinstance(node, MappingNode) or tag != _MAP:
        raise _problem(f"the tag {tag!r} is not allowed (plain values, lists and mappings only)", node)
    mapping: dict[Any, Any] = {}
    first_line: dict[Any, int] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            raise _problem("merge keys (<<) are not allowed: write the keys out", key_node)
        key = _build(key_node, seen, depth + 1)
        if isinstance(key, list | dict):
            raise _problem("a key must be a single value, not a list or a mapping", key_node)
        if key in first_line:
            raise _problem(f"duplicate key {_short(key)} (first at line {first_line[key] + 1})", key_node)
        first_line[key] = key_node.start_mark.line
        mapping[key] = _build(value_node, seen, depth + 1)
    return mapping


def _scalar(node: ScalarNode, tag: str) -> Any:
    value = node.value
    if tag == _STR:
        return value
    try:
        if tag == _INT:
            return int(value)
        if tag == _FLOAT:
            return float(value)
    except ValueError:
        raise _problem(f"{_short(value)} is not a valid {tag.rsplit(':', 1)[-1]}", node) from None
    if tag == _BOOL:
        if value.lower() not in ("true", "false"):
            raise _problem(f"{_short(value)} is not a boolean (true or false)", node)
        return value.lower() == "true"
    if tag == _NULL:
        return None
    if tag == _MERGE_TAG:
        return "<<"  # a key; refused by the mapping that holds it
    raise _problem(f"the tag {tag!r} is not allowed here (plain values, lists and mappings only)", node)


if yaml.__with_libyaml__:
    from yaml._yaml import CParser  # the class yaml.cyaml re-exports

    class _StrictLoader(CParser, _CoreResolver):
        """libyaml parser and composer with the YAML 1.2 core resolver."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _CoreResolver.__init__(self)
else:  # pragma: no cover - PyYAML built without libyaml
    class _StrictLoader(  # type: ignore[no-redef]
            yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer, _CoreResolver):
        """Pure-Python parser and composer with the YAML 1.2 core resolver."""

        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
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
        node = loader.get_single_node()
        return None if node is None else _build(node, set())
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
            raise YamlFileError(f"{name}: the file is larger than {MAX_FILE_BYTES:,} bytes, the limit of an "
                                "inventory file (is it the right file?)")
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise YamlFileError(f"{name}: file not found") from None
    except UnicodeDecodeError as exc:
        raise YamlFileError(f"{name}: cannot read: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise YamlFileError(f"{name}: cannot read: {exc.strerror or exc}") from None
    return parse_yaml(text, name)
