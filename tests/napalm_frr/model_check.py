"""Strict NAPALM model conformance: exact key set and exact types, nested structures included."""

from __future__ import annotations

import typing
from typing import Any

from napalm.base import models


def check_model(model: Any, data: Any, where: str = "") -> None:
    """Assert ``data`` has exactly ``model``'s keys, each of the declared type.

    Stricter than ``napalm.base.test.helpers.test_model``: a bool is not accepted for an int,
    an int is not accepted for a float.
    """
    assert isinstance(data, dict), f"{where}: {type(data).__name__} is not a dict"
    hints = typing.get_type_hints(model)
    assert set(data) == set(hints), f"{where}: keys {sorted(data)} != model {sorted(hints)}"
    for key, hint in hints.items():
        origin = typing.get_origin(hint) or hint
        value = data[key]
        if origin is float:
            ok = type(value) is float
        elif origin is int:
            ok = type(value) is int
        else:
            ok = isinstance(value, origin)
        assert ok, f"{where}.{key}: {value!r} is {type(value).__name__}, model wants {hint}"


def check_getter(getter: str, data: Any) -> None:
    """Check a getter's whole output against NAPALM's models."""
    if getter == "get_facts":
        check_model(models.FactsDict, data, "facts")
        assert all(isinstance(i, str) for i in data["interface_list"])
    elif getter == "get_interfaces":
        for name, iface in data.items():
            check_model(models.InterfaceDict, iface, name)
    elif getter == "get_interfaces_ip":
        for name, families in data.items():
            assert set(families) <= {"ipv4", "ipv6"} and families, name
            for family in families.values():
                for addr, entry in family.items():
                    check_model(models.InterfacesIPDictEntry, entry, f"{name}.{addr}")
    elif getter == "get_bgp_neighbors":
        if data:
            assert "global" in data
        for vrf, vrf_data in data.items():
            assert set(vrf_data) == {"router_id", "peers"}, vrf
            assert isinstance(vrf_data["router_id"], str)
            for peer, peer_data in vrf_data["peers"].items():
                check_model(models.PeerDict, peer_data, f"{vrf}.{peer}")
                for af, af_data in peer_data["address_family"].items():
                    check_model(models.AFDict, af_data, f"{vrf}.{peer}.{af}")
    elif getter == "get_bgp_neighbors_detail":
        for vrf, per_as in data.items():
            assert isinstance(vrf, str)
            for remote_as, peers in per_as.items():
                assert type(remote_as) is int
                for peer in peers:
                    check_model(models.PeerDetailsDict, peer, f"{vrf}.{remote_as}")
                    assert peer["remote_as"] == remote_as
    elif getter == "get_bgp_config":
        for name, group in data.items():
            check_model(models.BGPConfigGroupDict, group, name)
            for addr, neighbor in group["neighbors"].items():
                check_model(models.BGPConfigNeighborDict, neighbor, f"{name}.{addr}")
    elif getter == "get_config":
        check_model(models.ConfigDict, data, "config")
    else:
        raise AssertionError(f"no model check for {getter}")
