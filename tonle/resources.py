"""Where the project's data lives: templates and playbooks, from the installed package or the checkout.

In a wheel they are package data (`tonle.templates`, `tonle.playbooks`, mapped from the top-level
`templates/` and `playbooks/` that the repository keeps); in a checkout they are those folders.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """The directory of `templates` or `playbooks`."""
    try:
        found = Path(str(importlib.resources.files(f"tonle.{name}")))
    except ModuleNotFoundError:
        found = _CHECKOUT / name
    return found if found.is_dir() else _CHECKOUT / name


def templates_dir() -> Path:
    return data_dir("templates")


def playbooks_dir() -> Path:
    return data_dir("playbooks")
