"""Secrets out of what an Ansible run leaves behind: the values to mask, and the artifacts rewritten.

ansible-runner writes the run's events, its stdout and stderr, and the command it ran with its whole
environment (``artifacts/<ident>/command``: TONLE_PASSWORD and the TCP-MD5 key variables included)
under the run's private data directory. `tonle.interfaces.playbook` redacts each event before it is written and,
after the run, rewrites every file of that directory through :func:`tonle.redact.redact` with the
values from :func:`run_secrets`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from tonle.lab.builder import Lab
from tonle.redact import redact, redact_data
from tonle.source.inventory import load_from_nornir_config

# Environment variables whose values are secrets by their name (credentials, tokens, keys).
SENSITIVE_NAME = re.compile(r"pass|secret|token|key|md5", re.IGNORECASE)
MIN_BY_NAME = 8


def run_secrets(config_file: Path, state_dir: Path, target: str, environ: Mapping[str, str] | None = None
                ) -> list[str]:
    """The secret values a playbook run may carry: the inventory's TCP-MD5 keys (from the environment,
    and the lab's generated ones for a lab run) and every environment variable named like a secret
    (of at least MIN_BY_NAME characters).

    Raises:
        InventoryError: the inventory is invalid (then no playbook can run either).
    """
    env = os.environ if environ is None else environ
    inv = load_from_nornir_config(config_file)
    values = [env[p.md5_key_env] for p in inv.peers.values() if p.md5_key_env and env.get(p.md5_key_env)]
    if target == "lab":
        values += Lab(inv, state_dir).md5_keys().values()
    # By name only when long enough to be a credential: masking a flag such as USE_KEYS=1 everywhere would
    # garble the events the run is steered by (plan ids, approvals).
    values += [v for k, v in env.items() if len(v) >= MIN_BY_NAME and SENSITIVE_NAME.search(k)]
    return sorted(set(values))


def scrub_file(path: Path, secrets: list[str]) -> bool:
    """Rewrite one file redacted (JSON stays valid JSON); True if it changed.

    Bytes that are not UTF-8 are carried through unchanged around the redacted text.
    """
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="surrogateescape")
    try:
        data = json.loads(text)
    except ValueError:
        new = redact(text, secrets)
    else:
        clean = redact_data(data, secrets)
        new = text if clean == data else json.dumps(clean, ensure_ascii=False)  # unchanged: byte for byte
    if new == text:
        return False
    tmp = path.with_name(path.name + ".redacting")
    tmp.write_bytes(new.encode("utf-8", errors="surrogateescape"))
    tmp.chmod(path.stat().st_mode & 0o777)
    tmp.replace(path)
    return True


def scrub_artifacts(directory: Path, secrets: Iterable[str]) -> list[Path]:
    """Redact every regular file under a run's private data directory; the files that changed.

    Symbolic links are neither followed nor rewritten (nothing outside the directory is touched).
    """
    known = list(secrets)
    files = sorted(Path(root) / name for root, _dirs, names in os.walk(directory, followlinks=False) for name in names)
    return [p for p in files if p.is_file() and not p.is_symlink() and scrub_file(p, known)]


__all__ = ["MIN_BY_NAME", "SENSITIVE_NAME", "run_secrets", "scrub_artifacts", "scrub_file"]
