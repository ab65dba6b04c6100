"""Realistic running configurations holding every secret form, per platform (tests/fixtures/secrets/).

`SECRETS[name]` lists every secret string of the fixture `name`: none may survive redaction, and a
fixture line that holds none of them must come out byte for byte (no over-redaction).
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "secrets"
ENV_KEY = "golden-md5-key"  # the TCP-MD5 key the inventory reads from the environment (as in the goldens)

SECRETS: dict[str, list[str]] = {
    "frr": [
        "frr-vty-login-pass", "frr-enable-pass", "frr-keychain-string", "frr-ospf-md5-key", "frr-ospf-simple-key",
        "frr-rip-string", "frr-isis-circuit-key", "frr-peer-group-key", ENV_KEY,
        "frr-isis-area-key", "frr-isis-domain-key",
    ],
    "ios": [
        "$9$nhEmQVczB7dqsO$X.HsgL6x1il0RxkOSSvyQYwucySCt7qFm4v7pqCxkKM",  # type 9
        "$8$dsYGNam3K1SIJO$7nv/35M/qr6t.dVc7UY9zrJDWRVqncHub1PE9UlMQFs",  # type 8
        "$1$mERr$hx5rVt7rPNoS4wqbXKX7m0",  # type 5
        "0822455D0A165445415F59", "0822455D0A16", "045802150C2E1D1C5A", "13061E010803557878", "121A0C041104",
        "104D000A0618", "060506324F41584B56", "1511021F0725", "094F471A1A0A",  # type 7
        "ios-clear-user-pass", "ios-isakmp-psk", "ios-hsrp-key", ENV_KEY, "ios-radius-key", "ios-snmp-community",
        "ios-snmp-trap-community", "ios-snmp-auth-pass", "ios-snmp-priv-pass",
    ],
    "eos": [
        "$6$Cv4uKqjPyS0/Aw5v$O4rJ8L5Xx3zBLY5yoPaXq2DWnL9x5ZIH0Qw6OiOaqzuY8xJ3RqWm3XwTt4wH5o5J9JgYl0gqf4YcB8Uf3p8lR/",
        "$6$bHJ3M0oSgPjL6Zyr$GJx0c6Z/Lv8PvIDCbpGSH5JC4C9wTRJ3rNo1.Cc8Zb9WlnV3GfdA8Sxw6r1Iwz9U0n7r4xQvnFe4s1Gmj2iO0",
        "$1$Jf3a$eosmd5cryptHash00000", "eos-clear-user-secret", "070C285F4D06", "0207165218120E",
        "eos-snmp-community", "0216014E0E1B", "eosOspfKeyEnc==", "0Lh8pYf8Yw==", "ZDlVSGE4YUdQZVk=", ENV_KEY,
        "Ji9A7d9r+4YmxgmAO3ml3w==",
    ],
    "junos": [
        "$6$jf3ls$Wc0cM8dN9Ye0mX2s1HhM0j9nZ0xKkqR2vXwDq9A5hN8bV1cT6yU7iO3pL4kJ5hG6fD7sA8qW",
        "$6$Xy9mA$junosUserHashValue0000000000000000", "$9$dVb2aGjHm5Fn.5F/CtO1RhSe", "$9$Xx-dsYoJDk.P4aUjH.5Tz",
        "junos-snmp-community", "$9$groupKeyJunos9Enc", ENV_KEY, "junos clear key", "$9$ospfMd5KeyJunos",
    ],
}
SECRETS["junos-set"] = [
    "$6$jf3ls$Wc0cM8dN9Ye0mX2s1HhM0j9nZ0xKkqR2vXwDq9A5hN8bV1cT6yU7iO3pL4kJ5hG6fD7sA8qW", "$9$dVb2aGjHm5Fn.5F/CtO1RhSe",
    "junos-snmp-community", "$9$groupKeyJunos9Enc", ENV_KEY, "junos clear key",
]

# Lines that name a keyword without holding a secret: they must stay exactly as they are.
KEEP: dict[str, list[str]] = {
    "frr": ["service password-encryption", "key chain KC-OSPF", " key 1", " ip ospf authentication message-digest",
            " ip rip authentication key-chain KC-OSPF", "route-map RM-PASSWORD-IN permit 10", "route-map password "
            "permit 10", "  neighbor 198.51.100.9 route-map password out", " neighbor TRANSIT peer-group",
            " match ip address prefix-list PL-KEY-CUSTOMERS",
            "! tc: qdisc replace dev eth3 root handle 1: htb default 40"],
    "ios": ["service password-encryption", "no service password-recovery", "key chain KC-OSPF", " key 1",
            "crypto key generate rsa modulus 2048", "route-map RM-PASSWORD-IN permit 10", "route-map password "
            "permit 10", "tacacs server TAC1", "ntp authenticate"],
    "eos": ["aaa authentication policy local allow-nopassword-remote-login", "   password minimum length 12",
            "   password encryption-key common", "route-map RM-PASSWORD-IN permit 10",
            "   neighbor TRANSIT peer group", "   ip ospf authentication message-digest"],
    "junos": ["        password {", "            minimum-length 12;", "            from community CL-GSHUT;",
              "                community add SET-64500-100;", "                community CL-DOMESTIC;",
              "    community CL-GSHUT members 65535:0;", "    policy-statement PS-PASSWORD-IN {"],
    "junos-set": ["set system login password minimum-length 12",
                  "set policy-options policy-statement PS-PASSWORD-IN term gshut from community CL-GSHUT",
                  "set policy-options community CL-GSHUT members 65535:0"],
}


def platform_of(name: str) -> str:
    return name.split("-", maxsplit=1)[0]


def fixture(name: str) -> str:
    return (FIXTURES / f"{name}.conf").read_text()


def as_diff(name: str) -> str:
    """The fixture as a device diff would show it: every line removed and added again (+/-, indented)."""
    lines = fixture(name).splitlines()
    return "".join(f"-{ln}\n+{ln}\n" for ln in lines)


NAMES = sorted(SECRETS)
