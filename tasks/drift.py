"""Nornir task of the drift audit: one device's running configuration and BGP state on one connection."""

from __future__ import annotations

from typing import Any

from nornir.core.task import Result, Task
from tonle.tasks.validate import bgp_snapshot


def fetch_running_state(task: Task) -> Result:
    """Running configuration (NAPALM get_config, QoS as ``! tc:`` lines on FRR) and a BGP snapshot.

    Both getters use the host's one NAPALM connection, which Nornir keeps open for the whole run.
    """
    conn: Any = task.host.get_connection("napalm", task.nornir.config)
    running = str(conn.get_config(retrieve="running")["running"])
    bgp = bgp_snapshot(task).result
    return Result(host=task.host, result={"running": running, "bgp": bgp})
