"""Nornir task of the drift audit: one device's running configuration and BGP state on one connection."""

from __future__ import annotations

from typing import Any

from napalm.base.exceptions import CommandErrorException
from nornir.core.task import Result, Task
from tonle.tasks.validate import bgp_snapshot


def fetch_running_state(task: Task, show: tuple[str, ...] = ()) -> Result:
    """Running configuration (NAPALM get_config, QoS as ``! tc:`` lines on FRR), a BGP snapshot and the
    answers to the `show` commands (the caller parses them: device output is hostile).

    All of it on the host's one NAPALM connection, which Nornir keeps open for the whole run.
    """
    conn: Any = task.host.get_connection("napalm", task.nornir.config)
    running = str(conn.get_config(retrieve="running")["running"])
    bgp = bgp_snapshot(task).result
    answers: dict[str, str] = {}
    refused = ""
    try:
        answers = {str(k): str(v) for k, v in conn.cli(list(show)).items()} if show else {}
    except CommandErrorException as exc:  # e.g. bgpd without its RPKI module: the caller says it is unreadable
        refused = str(exc)
    return Result(host=task.host, result={"running": running, "bgp": bgp, "show": answers, "refused": refused})
