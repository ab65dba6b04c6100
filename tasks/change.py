"""Nornir tasks of the change pipeline: plan one device, commit with a revert timer, confirm, roll back.

Each task works on the host's NAPALM connection (kept open by Nornir across runs) and records a
per-host failure in its Result instead of raising out of the run.

What is loaded depends on the platform the host is reached as (`tonle.compile.owned`): FRR takes its
running configuration with the owned parts made the intended ones (replace: the driver's frr-reload
diff can only hold owned lines); ios, eos and junos take only the change of the parts Tonlé owns
(merge). Either way AAA, users, management access, NTP, SNMP, logging, `line vty` and CoPP are never
touched. The candidate is built from the running configuration read just before loading it.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from nornir.core import Nornir
from nornir.core.task import Result, Task
from tonle.tasks.render import render_config

from napalm_frr import tc
from napalm_frr.diff import frr_lines
from tonle.compile import owned
from tonle.compile.intent import Intent, Override
from tonle.errors import Refused
from tonle.redact import redact
from tonle.targets.nornir import run_on


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _napalm(task: Task) -> Any:
    return task.host.get_connection("napalm", task.nornir.config)


def running_config(task: Task) -> str:
    """The device's running configuration (NAPALM get_config)."""
    return str(_napalm(task).get_config(retrieve="running")["running"])


def reached_as(task: Task) -> str:
    """The platform the host is reached as: its NAPALM connection's (the lab's FRR twin), else its own."""
    return str(task.host.get_connection_parameters("napalm").platform or task.host.platform)


def owned_sha256(platform: str, intended: str, running: str) -> str:
    """sha256 of the owned part of a running configuration: what a plan was made against. A hand change to
    an unmanaged line does not make a plan stale (the push never touches it); one to an owned line does."""
    return sha256(owned.owned_text(platform, running, owned.managed_interfaces(platform, intended)))


def unchanged_frr(intended: str, running: str) -> bool:
    """A replace of FRR `running` by `intended` changes nothing: the same lines in the same contexts (order-free,
    as frr-reload.py compares them) and the same QoS per interface. Then the candidate is what the device
    already accepted: no need to validate it, fetch the running config again and diff (three local vtysh runs)."""
    want_cfg, want_tc = tc.split(intended)
    have_cfg, have_tc = tc.split(running)
    return _lines(want_cfg) == _lines(have_cfg) and tc.by_interface(want_tc) == tc.by_interface(have_tc)


def _lines(text: str) -> Counter[tuple[tuple[str, ...], str]]:
    """`frr_lines` less an empty `rpki` section: bgpd shows one whenever its RPKI module is loaded (the lab loads
    it on every bgpd), and frr-reload.py sees no change in it. Without this, every device without RPKI in its
    intent missed the fast path: a plan of 200 unchanged devices took twice a drift audit."""
    lines = frr_lines(text)
    if not any(ctx[:1] == ("rpki",) for ctx, _ in lines):
        lines.pop(((), "rpki"), None)
    return lines


def _load(task: Task, intended: str, running: str) -> bool:
    """Load the owned candidate for the host's platform; False when a merge platform has nothing to change."""
    conn = _napalm(task)
    platform = reached_as(task)
    cand = owned.candidate(platform, intended, running)
    if owned.push_mode(platform) == "replace":
        # The running config just read is the candidate's base: the driver neither reads it again to diff
        # nor to keep as the rollback point (napalm_frr; the caller holds the device).
        conn.load_replace_candidate(config=cand, running=running)
        return True
    if not cand.strip():
        return False
    conn.load_merge_candidate(config=cand)
    return True


def plan_device(task: Task, intent: Intent, platform: str | None,
                overrides: Iterable[Override] = ()) -> Result:
    """Render the intended config, diff it against the device, keep fingerprints of both."""
    intended = str(task.run(task=render_config, intent=intent, platform=platform, overrides=overrides).result)
    conn = _napalm(task)
    running = running_config(task)
    running_sha256 = owned_sha256(reached_as(task), intended, running)
    if (reached_as(task) == "frr" and unchanged_frr(intended, running)) or not _load(task, intended, running):
        return Result(host=task.host, result={"diff": "", "intended_sha256": sha256(intended),
                                              "running_sha256": running_sha256})
    try:
        diff = str(conn.compare_config())
    finally:
        conn.discard_config()
    return Result(host=task.host, result={"diff": diff, "intended_sha256": sha256(intended),
                                          "running_sha256": running_sha256})


def fingerprint(task: Task, configs: dict[str, str]) -> Result:
    """sha256 of the owned part of the running configuration (has the device changed since planning?)."""
    return Result(host=task.host, result=owned_sha256(reached_as(task), configs[task.host.name], running_config(task)))


def commit_device(task: Task, configs: dict[str, str], revert_in: int, token: str = "") -> Result:
    """Bring the owned parts of the device to the host's intended config; it reverts by itself unless
    confirmed in time. `token` (the commit message) names who armed the pending commit (see `left_pending`)."""
    conn = _napalm(task)
    if not _load(task, configs[task.host.name], running_config(task)):
        return Result(host=task.host, result="nothing to commit")
    conn.commit_config(message=token, revert_in=revert_in)
    return Result(host=task.host, changed=True, result="committed")


class UnexpectedChange(Refused):
    """The candidate would change lines besides those an emergency override changes."""


def changed_lines(before: str, after: str) -> set[str]:
    """Lines (stripped) that differ between two renderings of the same device: what an override changes."""
    a = {ln.strip() for ln in before.splitlines()}
    b = {ln.strip() for ln in after.splitlines()}
    return {ln for ln in a ^ b if ln and ln != "!"}


def unexpected_lines(diff: str, allowed: set[str]) -> list[str]:
    """Added or removed lines of a NAPALM diff that are not in `allowed`."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")) or not line.startswith(("+", "-")):
            continue
        body = line[1:].strip()
        if body and body not in allowed:
            out.append(body)
    return out


def commit_override(task: Task, configs: dict[str, str], allowed: dict[str, set[str]], revert_in: int,
                    token: str = "") -> Result:
    """Commit an emergency change only if the device's diff is nothing but the override's lines.

    Anything else in the diff (out-of-band drift, or intent that was never applied) is refused before the
    commit: an emergency must not carry it to the device.
    """
    conn = _napalm(task)
    if not _load(task, configs[task.host.name], running_config(task)):
        return Result(host=task.host, result="nothing to commit")
    extra = unexpected_lines(str(conn.compare_config()), allowed[task.host.name])
    if extra:
        conn.discard_config()
        first = redact(extra[0])[:100]  # redacted: a config line may hold a key
        raise UnexpectedChange(f"the device differs from its last applied config beyond this action "
                               f"({len(extra)} other line(s), first: {first!r}); see `tonle drift`, bring it "
                               "back through plan and apply, then retry")
    conn.commit_config(message=token, revert_in=revert_in)
    return Result(host=task.host, changed=True, result="committed")


def confirm_device(task: Task) -> Result:
    """Keep the pending commit."""
    _napalm(task).confirm_commit()
    return Result(host=task.host, result="confirmed")


def rollback_device(task: Task) -> Result:
    """Restore the configuration from before the last commit (cancels a pending revert)."""
    _napalm(task).rollback()
    return Result(host=task.host, changed=True, result="rolled back")


def compliance(task: Task, configs: dict[str, str]) -> Result:
    """The remaining diff between the device and its intended config ("" when compliant).

    Only the owned parts count: on a merge platform it is what would still be loaded, decided without
    loading; on FRR the driver's diff of the owned candidate (unmanaged lines are equal on both sides).
    """
    conn = _napalm(task)
    platform = reached_as(task)
    running = running_config(task)
    if owned.push_mode(platform) == "merge":
        return Result(host=task.host, result=owned.candidate(platform, configs[task.host.name], running))
    conn.load_replace_candidate(config=owned.candidate(platform, configs[task.host.name], running), running=running)
    try:
        return Result(host=task.host, result=str(conn.compare_config()))
    finally:
        conn.discard_config()


def pending(task: Task) -> Result:
    """Whether the device holds an unconfirmed commit (a failed commit may leave one, its timer armed)."""
    return Result(host=task.host, result=bool(_napalm(task).has_pending_commit()))


def pending_owner(task: Task) -> Result:
    """Who armed the device's pending commit: the message it was committed with (None: nothing pending; "":
    pending, but the driver keeps no message, or the record is torn)."""
    conn = _napalm(task)
    if hasattr(conn, "pending_commit"):  # napalm_frr records the message of the commit it armed
        record = conn.pending_commit
        return Result(host=task.host, result=None if record is None else str(record["message"]))
    return Result(host=task.host, result="" if conn.has_pending_commit() else None)


_SHOWN_OWNER = re.compile(r"[A-Za-z0-9 ._:-]{1,120}")  # a token of ours; anything else is not echoed


def split_pending(owners: dict[str, str | None], token: str) -> tuple[set[str], dict[str, str]]:
    """Of devices whose commit failed, given who armed the commit each holds pending (`pending_owner`): those
    holding one that `token` armed (this action's own: rolled back with the rest), and those holding another's
    ({device: what to report}): never taken for this action's own, left to its owner or `tonle recover`."""
    ours = {h for h, owner in owners.items() if token and owner == token}
    foreign = {}
    for h, owner in owners.items():
        if owner is None or h in ours:
            continue
        who = repr(owner) if _SHOWN_OWNER.fullmatch(owner) else "an unknown owner"
        foreign[h] = f"a pending commit armed by {who}, not by this action"
    return ours, foreign


def left_pending(nr: Nornir, hosts: list[str], token: str) -> tuple[set[str], dict[str, str]]:
    """Of hosts whose commit failed, (those holding a pending change this action armed, to roll back with the
    rest; those holding another's, {host: what to report}).

    A failed commit can leave its own change pending (a failed `write memory`: its timer armed), or fail
    because another's commit was pending already (an orphan of a killed process): only the first is ours.
    One that cannot be asked (unreachable) is in neither: its commit armed a revert timer before changing
    anything, and `tonle recover` finds it once it answers again."""
    if not hosts:
        return set(), {}
    ok, _ = run_on(nr, hosts, pending_owner)
    return split_pending({h: ok[h] for h in hosts if h in ok}, token)
