"""Strict YAML reading: duplicate keys are errors, syntax errors name file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tonle.errors import BadInput


class YamlFileError(BadInput):
    """A YAML file is missing, unreadable or malformed; the message is one line naming the file."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path, *, display: str | None = None) -> Any:
    """Load one YAML document strictly.

    Args:
        path: the file to read.
        display: how to name the file in errors (defaults to the path as given).

    Raises:
        YamlFileError: missing file, unreadable file, syntax error or duplicate key.
    """
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise YamlFileError(f"{name}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlFileError(f"{name}: cannot read: {exc}") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = exc.problem or exc.context or "syntax error"
        raise YamlFileError(f"{name}: {where}YAML error: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlFileError(f"{name}: YAML error: {exc}") from None
