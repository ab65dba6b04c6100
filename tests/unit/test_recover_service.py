"""`tonle recover` as a method of `tonle serve`: who may ask (the operate permission: operator, approver, root;
never a viewer or an admin), its parameters (a strict schema), and the CLI sending it to the service when one
runs. Without a lab for the state dir, a permitted request gets as far as asking for the lab's devices (exit 2,
one line); the live tier (tests/live/test_faults.py) recovers real devices through the service."""

from __future__ import annotations

import pytest

from tests.unit.test_service import Served, _as_nobody, served  # noqa: F401 - the service fixture
from tonle.interfaces.actions import METHODS
from tonle.interfaces.protocol import PARAMS, ProtocolError, RecoverParams, decode_request
from tonle.state.accounts import Actor, NotPermitted, Permission, Role


def test_recover_is_an_operate_method_with_a_strict_schema() -> None:
    assert METHODS["recover"].permission == Permission.OPERATE and PARAMS["recover"] is RecoverParams
    assert decode_request(b'{"v": 1, "method": "recover", "params": {}}\n').params == RecoverParams(target="lab")
    req = decode_request(b'{"v": 1, "method": "recover", "params": {"target": "production"}}\n')
    assert req.params == RecoverParams(target="production")
    for params, message in (('{"target": "moon"}', "recover: target: Input should be 'lab' or 'production'"),
                            ('{"target": 1}', "recover: target: Input should be 'lab' or 'production'"),
                            ('{"lab": true}', "recover: lab: Extra inputs are not permitted"),
                            ('{"actor": "root"}', "recover: actor: Extra inputs are not permitted")):
        with pytest.raises(ProtocolError, match=message.replace("(", r"\(")):
            decode_request(f'{{"v": 1, "method": "recover", "params": {params}}}\n'.encode())


@pytest.mark.parametrize(("role", "allowed"), [(Role.VIEWER, False), (Role.ADMIN, False), (Role.OPERATOR, True),
                                               (Role.APPROVER, True), ("root", True)])
def test_who_may_recover(role: str, allowed: bool) -> None:
    actor = Actor("alice", 1001, role)
    if allowed:
        actor.require(METHODS["recover"].permission, METHODS["recover"].what)
    else:
        with pytest.raises(NotPermitted, match=f"alice \\(role {role}\\) may not recover interrupted runs"):
            actor.require(METHODS["recover"].permission, METHODS["recover"].what)


def test_recover_through_the_service(served: Served, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    ask = {"v": 1, "method": "recover", "params": {}}
    refused = _as_nobody(served.sock, ask)
    assert refused["exit"] == 1 and "nobody (uid 65534) has no Tonlé account" in refused["err"][0], refused
    for role in ("viewer", "admin"):
        assert served.cli("users", "add", "nobody", "--role", role) == 0
        answer = _as_nobody(served.sock, ask)
        assert answer["exit"] == 1, answer
        assert answer["err"] == [f"tonle: error: nobody (role {role}) may not recover interrupted runs: it needs "
                                 "a role that may operate (operator, approver, root)"]
        assert served.cli("users", "remove", "nobody") == 0
    assert served.cli("users", "add", "nobody", "--role", "operator") == 0
    answer = _as_nobody(served.sock, ask)  # allowed: it asks for the lab's devices, and there is no lab
    assert answer["exit"] == 2 and len(answer["err"]) == 1 and "lab" in answer["err"][0], answer
    capsys.readouterr()
    before = served.svc.requests
    assert served.cli("recover") == 2  # the CLI goes through the service when one answers
    assert served.svc.requests == before + 1
    captured = capsys.readouterr()
    assert "looking for interrupted applies" in captured.out and "lab" in captured.err
    with pytest.raises(SystemExit) as bad:  # refused by the CLI's parser: never sent
        served.cli("recover", "--target", "moon")
    assert bad.value.code == 2
    assert served.svc.requests == before + 1
