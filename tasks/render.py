"""Nornir task: render a host's intended configuration through Nornir's Jinja2 plugin."""

from __future__ import annotations

from collections.abc import Iterable

from nornir.core.task import Result, Task
from nornir_jinja2.plugins.tasks import template_file

from tonle.compile.intent import Intent, Override, device_intent
from tonle.compile.render import environment, render_intent, template_name


def render_config(task: Task, intent: Intent, platform: str | None = None,
                  overrides: Iterable[Override] = ()) -> Result:
    """Render the host's intent with its platform's templates (or `platform`, e.g. "frr" for a lab twin)."""
    di = device_intent(intent, task.host.name, overrides)
    plat = platform or di.device.platform
    if plat == "eos":  # Arista's own generator (pyavd), not a template of ours
        return Result(host=task.host, result=render_intent(di, plat))
    name = template_name(plat)
    return template_file(task, template=name, jinja_env=environment(), d=di)  # type: ignore[no-any-return]
