"""What Tonlé owns in a device's configuration, per platform, and how it pushes only that.

A real router's configuration holds much that Tonlé does not render: AAA, users, the management
interface and VRF, SSH/eAPI/NETCONF, NTP, SNMP, logging, banners, CoPP. A whole-configuration
replace (IOS `configure replace`, an EOS replace session, Junos `load override`) with Tonlé's
rendering would remove all of it. So each platform declares here, as data, the parts it owns
(`OWNED`): BGP, the policy objects it names (route-maps/policy-statements, prefix, community and
AS-path lists), its QoS objects, the addressing of the interfaces it renders and the discard
routes it originates. Everything else is *unmanaged*: never pushed, never removed, counted by drift.

Push per platform (`PUSH`):
* ``frr``: the running configuration with its owned parts swapped for the intended ones
  (`frr_candidate`), loaded as a *replace*: the driver's frr-reload diff between that candidate and the
  running configuration can then only hold owned lines. The preamble Tonlé renders for a new FRR
  device (`frr version`, `frr defaults`, `hostname`, `service ...`) is not owned: it stays as the
  device has it.
* ``ios``, ``eos``: the hier_config remediation from the owned part of the running configuration to
  the owned part of the intended one, loaded as a merge (`owned_remediation`).
* ``junos``: a `load replace` file that replaces each owned object (`replace:` tags), deletes owned
  objects and leaves the intent no longer has (`delete:` tags) and merges owned leaves inside
  unmanaged hierarchies (an interface's addresses, the router id) (`junos_candidate`).

`future()` predicts the configuration after the push (hier_config's `future` for ios/eos, a model of
Junos `load replace` for junos, the candidate itself for frr); the tests check with it that the
unmanaged part never changes and that the owned part becomes the intended one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from hier_config import HConfig
    from hier_config.child import HConfigChild

MANAGED = "{managed}"  # in a rule: one of the interfaces the intended configuration renders


@dataclass(frozen=True)
class Rule:
    """One owned part: a line pattern per level from the top (regex, matched at the start of the line
    up to a word boundary; `{managed}` stands for a managed interface name).

    `whole`: the matched line and everything under it is owned (replaced as one object on Junos).
    Otherwise it is an owned *leaf* inside hierarchies Tonlé does not own (Junos: merged, removed with
    `delete:`); `single` says the leaf has one value (a new value replaces the old one on merge).
    """

    path: tuple[str, ...]
    whole: bool = True
    single: bool = False


_IFACE_FRR = r"(description|ip address|ipv6 address|shutdown)"
_IFACE_IOS = r"(description|ip address|ipv6 address|bfd interval|service-policy output|shutdown)"
_IFACE_EOS = r"(description|shutdown|no switchport|ip address|ipv6 address|qos trust|service-profile)"

OWNED: dict[str, tuple[Rule, ...]] = {
    # FRRouting (vtysh running config; the lab twins of every device). Names as the intent gives them;
    # the QoS of the interfaces Tonlé shapes is carried as `! tc:` lines (the napalm_frr driver's form).
    "frr": (
        Rule((r"router bgp \d+$",)),  # not `router bgp N vrf V`: a VRF instance is not Tonlé's
        Rule((r"ip prefix-list (PL|TONLE)-\S+",)),
        Rule((r"ipv6 prefix-list (PL|TONLE)-\S+",)),
        Rule((r"bgp community-list (standard |expanded )?(CL|TONLE)-\S+",)),
        Rule((r"bgp large-community-list (standard |expanded )?(CL|LCL|TONLE)-\S+",)),
        Rule((r"bgp as-path access-list (AP|TONLE)-\S+",)),
        Rule((r"rpki$",)),  # the RTR caches of origin validation (bgpd -M rpki)
        Rule((r"route-map (RM|TONLE)-\S+ (permit|deny) \d+",)),
        # Discard routes are Tonlé's (aggregates, RTBH), as Null0 on ios/eos and discard on junos; a route
        # with a next hop is not.
        Rule((r"ip route \S+ (blackhole|Null0)$",)),
        Rule((r"ipv6 route \S+ (blackhole|Null0)$",)),
        Rule((r"! tc:",)),
        Rule((rf"interface {MANAGED}", _IFACE_FRR)),
    ),
    # Cisco IOS-XE: lines by their first words. AS-path lists are numbered on IOS: Tonlé uses 401-500.
    "ios": (
        Rule((r"router bgp \d+",)),
        Rule((r"ip prefix-list (PL|TONLE)-\S+",)),
        Rule((r"ipv6 prefix-list (PL|TONLE)-\S+",)),
        Rule((r"ip community-list standard (CL|TONLE)-\S+",)),
        Rule((r"ip large-community-list standard (LCL|TONLE)-\S+",)),
        Rule((r"ip as-path access-list (4\d\d|500)",)),
        Rule((r"route-map (RM|TONLE)-\S+ (permit|deny) \d+",)),
        Rule((r"class-map match-any CM-\S+",)),
        Rule((r"policy-map PM-\S+",)),
        Rule((r"ip route \S+ \S+ Null0",)),
        Rule((r"ipv6 route \S+ Null0",)),
        Rule((r"ip bgp-community new-format$",)),
        Rule((r"ipv6 unicast-routing$",)),
        Rule((rf"interface {MANAGED}", _IFACE_IOS)),
    ),
    # Arista EOS (as pyavd renders it).
    "eos": (
        Rule((r"router bgp \d+",)),
        Rule((r"ip prefix-list (PL|TONLE)-\S+",)),
        Rule((r"ipv6 prefix-list (PL|TONLE)-\S+",)),
        Rule((r"ip community-list (CL|TONLE)-\S+",)),
        Rule((r"ip as-path access-list (AP|TONLE)-\S+",)),
        Rule((r"route-map (RM|TONLE)-\S+ (permit|deny) \d+",)),
        Rule((r"qos map dscp",)),
        Rule((r"qos profile QP-\S+",)),
        Rule((r"ip route \S+ Null0",)),
        Rule((r"ipv6 route \S+ Null0",)),
        Rule((r"ip routing$",)),
        Rule((r"ipv6 unicast-routing$",)),
        Rule((rf"interface {MANAGED}", _IFACE_EOS)),
    ),
    # Juniper Junos: statements of the curly configuration, by hierarchy.
    "junos": (
        Rule(("protocols", "bgp")),
        Rule(("policy-options", r"(policy-statement|route-filter-list|as-path-group) (RM|PL|AP|TONLE)-\S+")),
        Rule(("policy-options", r"(community|as-path) (CL|LCL|SET|AP|TONLE)-\S+")),
        Rule(("class-of-service", "classifiers", r"(dscp|dscp-ipv6) TONLE-\S+")),
        Rule(("class-of-service", "forwarding-classes")),
        Rule(("class-of-service", "interfaces", MANAGED)),
        Rule(("class-of-service", "scheduler-maps", r"SM-\S+")),
        Rule(("class-of-service", "schedulers", r"S-\S+")),
        Rule(("routing-options", "static", r"route \S+(?= discard)"), whole=False),
        Rule(("routing-options", "rib inet6.0", "static", r"route \S+(?= discard)"), whole=False),
        Rule(("routing-options", "validation", r"group TONLE-\S+")),  # RPKI caches (RTR sessions)
        Rule(("routing-options", "router-id"), whole=False, single=True),
        Rule(("routing-options", "autonomous-system"), whole=False, single=True),
        Rule(("interfaces", MANAGED, "description"), whole=False, single=True),
        Rule(("interfaces", MANAGED, "disable"), whole=False),
        Rule(("interfaces", MANAGED, "unit 0", r"family inet6?", r"address \S+"), whole=False),
    ),
}
PUSH: dict[str, Literal["replace", "merge"]] = {"frr": "replace", "ios": "merge", "eos": "merge", "junos": "merge"}


def push_mode(platform: str) -> Literal["replace", "merge"]:
    """How a platform's configuration is pushed: the whole rendering, or a merge of the owned change."""
    if platform not in PUSH:
        raise ValueError(f"no push mode for platform {platform!r}")
    return PUSH[platform]


def _level(pattern: str, managed: Iterable[str]) -> re.Pattern[str]:
    names = "|".join(re.escape(m) for m in sorted(managed, key=len, reverse=True)) or r"(?!x)x"
    return re.compile(pattern.replace(MANAGED, f"(?:{names})") + r"(?=\s|;|$)")


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    levels: tuple[re.Pattern[str], ...]


def _compile(platform: str, managed: Iterable[str]) -> list[_Compiled]:
    if platform not in OWNED:
        raise ValueError(f"no owned sections declared for platform {platform!r}")
    managed = list(managed)
    return [_Compiled(r, tuple(_level(p, managed) for p in r.path)) for r in OWNED[platform]]


def _match(rules: list[_Compiled], lineage: list[str]) -> tuple[_Compiled | None, bool]:
    """(the rule owning this node, whether the node is an ancestor on the way to an owned part)."""
    on_path = False
    for c in rules:
        n = min(len(c.levels), len(lineage))
        if all(c.levels[i].match(lineage[i]) for i in range(n)):
            if len(lineage) >= len(c.levels):
                return c, False
            on_path = True
    return None, on_path


# ---- IOS-XE and EOS: hier_config trees ---------------------------------------------------------------

def _hier_platform(platform: str) -> object:
    from hier_config import Platform  # noqa: PLC0415 - heavy, vendor only

    return {"ios": Platform.CISCO_IOS, "eos": Platform.ARISTA_EOS}[platform]


def hconfig(platform: str, text: str) -> HConfig:
    """A configuration as hier_config parses it for the platform."""
    from hier_config import get_hconfig  # noqa: PLC0415

    return get_hconfig(_hier_platform(platform), text)  # type: ignore[arg-type]


def managed_interfaces(platform: str, intended: str) -> set[str]:
    """The interfaces the intended configuration renders (their addressing is Tonlé's)."""
    if platform == "junos":
        return {s.text for top in parse_junos(intended).children if top.text == "interfaces" for s in top.children}
    return {ln.split(maxsplit=1)[1].strip() for ln in intended.splitlines() if re.match(r"interface \S+\s*$", ln)}


def _split_hier(tree: HConfig, rules: list[_Compiled]) -> tuple[HConfig, HConfig]:
    from hier_config import HConfig  # noqa: PLC0415

    owned, unmanaged = HConfig(tree.driver), HConfig(tree.driver)

    def walk(node: HConfigChild, o_parent: HConfig | HConfigChild, u_parent: HConfig | HConfigChild,
             lineage: list[str]) -> None:
        lineage = [*lineage, node.text]
        rule, on_path = _match(rules, lineage)
        if rule is not None:
            o_parent.add_deep_copy_of(node)
        elif on_path and node.children:
            o_new = o_parent.add_shallow_copy_of(node)
            u_new = u_parent.add_shallow_copy_of(node)
            for ch in node.children:
                walk(ch, o_new, u_new, lineage)
            for new in (o_new, u_new):  # a context with nothing of its own in one part is not in that part
                if not new.children:
                    new.delete()
        else:
            u_parent.add_deep_copy_of(node)

    for child in tree.children:
        walk(child, owned, unmanaged, [])
    return owned, unmanaged


# ---- Junos: curly configuration ------------------------------------------------------------------------

@dataclass
class Stmt:
    """A Junos statement: `text;` (a leaf) or `text { children }`, maybe `inactive:`, maybe tagged."""

    text: str
    children: list[Stmt] = field(default_factory=list)
    leaf: bool = True
    inactive: bool = False
    tag: str = ""  # "replace" | "delete" (a load file's tags)
    comment: str = ""  # the /* annotation */ before it

    def find(self, text: str) -> Stmt | None:
        return next((c for c in self.children if c.text == text), None)

    def child(self, text: str) -> Stmt:
        """The container child `text`, made if missing."""
        found = self.find(text)
        if found is None:
            found = Stmt(text, leaf=False)
            self.children.append(found)
        return found


_TOKEN = re.compile(r'\s+|/\*.*?\*/|#[^\n]*|"(?:[^"\\]|\\.)*"|[{};\[\]]|[^\s{};\[\]"]+', re.S)


def parse_junos(text: str) -> Stmt:
    """A curly Junos configuration (`show configuration`, or a load file with tags) as a statement tree.

    Raises:
        ValueError: unbalanced braces or brackets, a statement without `;`.
    """
    root = Stmt("", leaf=False)
    stack = [root]
    words: list[str] = []
    comment = ""
    pos, depth_br = 0, False
    for m in _TOKEN.finditer(text):
        if m.start() != pos:
            raise ValueError(f"cannot read {text[pos:pos + 20]!r}")
        pos = m.end()
        tok = m.group(0)
        if tok.isspace() or tok.startswith("#"):
            continue
        if tok.startswith("/*"):
            comment = tok[2:-2].strip()
            continue
        if tok == "[":
            depth_br = True
            words.append(tok)
        elif tok == "]":
            if not depth_br:
                raise ValueError("']' without '['")
            depth_br = False
            words.append(tok)
        elif tok in ("{", ";"):
            if depth_br:
                raise ValueError("unclosed '['")
            if not words:
                raise ValueError(f"empty statement before {tok!r}")
            tag, inactive = "", False
            while words and words[0] in ("replace:", "delete:", "inactive:"):
                w = words.pop(0)
                if w == "inactive:":
                    inactive = True
                else:
                    tag = w[:-1]
            st = Stmt(" ".join(words), leaf=tok == ";", inactive=inactive, tag=tag, comment=comment)
            stack[-1].children.append(st)
            if tok == "{":
                stack.append(st)
            words, comment = [], ""
        elif tok == "}":
            if words:
                raise ValueError(f"statement {' '.join(words)!r} lacks ';'")
            if len(stack) == 1:
                raise ValueError("'}' without an open block")
            stack.pop()
        else:
            words.append(tok)
    if pos != len(text):
        raise ValueError(f"cannot read {text[pos:pos + 20]!r}")
    if words or len(stack) != 1:
        raise ValueError("end of text inside an open block or statement")
    return root


def dump_junos(root: Stmt) -> str:
    """A statement tree as curly text (tags and `inactive:` in front, annotations above)."""
    out: list[str] = []

    def emit(st: Stmt, depth: int) -> None:
        pad = "    " * depth
        if st.comment:
            out.append(f"{pad}/* {st.comment} */")
        head = (f"{st.tag}: " if st.tag else "") + ("inactive: " if st.inactive else "") + st.text
        if st.leaf:
            out.append(f"{pad}{head};")
            return
        out.append(f"{pad}{head} {{")
        for c in st.children:
            emit(c, depth + 1)
        out.append(f"{pad}}}")

    for c in root.children:
        emit(c, 0)
    return "\n".join(out) + ("\n" if out else "")


def set_lines(root: Stmt) -> list[str]:
    """`show configuration | display set`: `set` lines (lists expanded), then `deactivate` lines."""
    sets: list[str] = []
    deact: list[str] = []

    def walk(st: Stmt, path: list[str]) -> None:
        here = [*path, st.text]
        if st.inactive:
            deact.append("deactivate " + " ".join(here))
        if st.leaf:
            words = st.text.split()
            if "[" in words:
                i, j = words.index("["), words.index("]")
                sets.extend("set " + " ".join([*path, *words[:i], w, *words[j + 1:]]) for w in words[i + 1:j])
            else:
                sets.append("set " + " ".join(here))
        elif not st.children:
            sets.append("set " + " ".join(here))
        for c in st.children:
            walk(c, here)

    for c in root.children:
        walk(c, [])
    return sets + deact


# Top-level contexts a daemon prints by itself, empty: FRR's bgpd loaded with `-M rpki` shows `rpki` / `exit`
# with no cache configured. Empty, such a context configures nothing and is not Tonlé's (a rendering without
# RPKI must not remove it); with statements under it, it is owned as its rule says.
_EMPTY_BY_ITSELF = frozenset({"rpki"})


def _split_stmt(root: Stmt, rules: list[_Compiled]) -> tuple[Stmt, Stmt]:
    """(owned, unmanaged) of a statement tree (Junos or FRR)."""
    owned, unmanaged = Stmt("", leaf=False), Stmt("", leaf=False)

    def copy(st: Stmt) -> Stmt:
        return Stmt(st.text, [copy(c) for c in st.children], st.leaf, st.inactive, "", st.comment)

    def walk(st: Stmt, o: Stmt, u: Stmt, lineage: list[str]) -> None:
        lineage = [*lineage, st.text]
        rule, on_path = _match(rules, lineage)
        if rule is not None and not (len(lineage) == 1 and st.text in _EMPTY_BY_ITSELF and not st.children):
            o.children.append(copy(st))
        elif on_path and not st.leaf:
            o_new = Stmt(st.text, leaf=False, inactive=st.inactive)
            u_new = Stmt(st.text, leaf=False, inactive=st.inactive)
            for c in st.children:
                walk(c, o_new, u_new, lineage)
            if o_new.children:
                o.children.append(o_new)
            if u_new.children or not o_new.children:
                u.children.append(u_new)
        else:
            u.children.append(copy(st))

    for c in root.children:
        walk(c, owned, unmanaged, [])
    return owned, unmanaged


def _owned_nodes(root: Stmt, rules: list[_Compiled]) -> Iterator[tuple[tuple[str, ...], str, _Compiled, Stmt]]:
    """Every owned statement: (path of its parents, its key, its rule, the statement)."""

    def walk(st: Stmt, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str, _Compiled, Stmt]]:
        lineage = [*path, st.text]
        rule, on_path = _match(rules, lineage)
        if rule is not None:
            m = rule.levels[len(path)].match(st.text)
            assert m is not None
            yield path, m.group(0), rule, st
        elif on_path:
            for c in st.children:
                yield from walk(c, (*path, st.text))

    for c in root.children:
        yield from walk(c, ())


def junos_candidate(intended: str, running: str) -> str:
    """The `load replace` file that brings the owned part of `running` to the intended one ("" if none).

    Owned objects (`whole` rules) present in the intent are replaced whole (`replace:`); those only on
    the device are deleted (`delete: <key>;`); owned leaves are merged when new and deleted when gone
    (a single-valued leaf is overwritten by the merge instead).
    """
    managed = managed_interfaces("junos", intended)
    rules = _compile("junos", managed)
    want = list(_owned_nodes(parse_junos(intended), rules))
    have = list(_owned_nodes(parse_junos(running), rules))
    want_keys = {(p, k) for p, k, _, _ in want}
    want_texts = {(p, st.text, st.inactive) for p, _, _, st in want}
    have_by_key = {(p, k): st for p, k, _, st in have}
    cand = Stmt("", leaf=False)

    def at(path: tuple[str, ...]) -> Stmt:
        node = cand
        for t in path:
            node = node.child(t)
        return node

    for path, key, rule, st in want:
        old = have_by_key.get((path, key))
        if rule.rule.whole:
            if old is None or _canon(old) != _canon(st):
                at(path).children.append(Stmt(st.text, st.children, st.leaf, st.inactive, "replace", st.comment))
        elif old is None or old.text != st.text or old.inactive != st.inactive:
            at(path).children.append(Stmt(st.text, st.children, st.leaf, st.inactive, "", st.comment))
    for path, key, rule, st in have:
        if (path, key) in want_keys and (rule.rule.whole or rule.rule.single):
            continue
        if (path, st.text, st.inactive) in want_texts:
            continue
        at(path).children.append(Stmt(key, tag="delete"))
    return dump_junos(cand)


def _canon(st: Stmt) -> list[str]:
    root = Stmt("", [st], leaf=False)
    return sorted(set_lines(root))


def junos_future(running: str, candidate: str) -> str:
    """What `load replace` of `candidate` (then commit) leaves of `running` — a model of Junos:
    `replace:` swaps the statement with the same key, `delete:` removes the statements under that key,
    untagged containers merge, an untagged single-valued leaf replaces the leaf of the same keyword."""
    rules = _compile("junos", managed_interfaces("junos", running) | managed_interfaces("junos", candidate))
    run = parse_junos(running)

    def key_of(st: Stmt, lineage: list[str]) -> str:
        rule, _ = _match(rules, [*lineage, st.text])
        if rule is not None:
            m = rule.levels[len(lineage)].match(st.text)
            if m is not None:
                return m.group(0) if (rule.rule.whole or not rule.rule.single) else st.text.split()[0]
        return st.text

    def apply(dst: Stmt, src: Stmt, lineage: list[str]) -> None:
        for c in src.children:
            k = key_of(c, lineage)
            same = [d for d in dst.children if key_of(d, lineage) == k or d.text == c.text]
            if c.tag == "delete":
                dst.children = [d for d in dst.children if d not in same and not d.text.startswith(c.text + " ")]
            elif c.tag == "replace" or c.leaf:
                dst.children = [d for d in dst.children if d not in same]
                dst.children.append(Stmt(c.text, c.children, c.leaf, c.inactive, "", c.comment))
            else:
                target = next((d for d in same if not d.leaf), None)
                if target is None:
                    target = Stmt(c.text, leaf=False, inactive=c.inactive)
                    dst.children.append(target)
                apply(target, c, [*lineage, c.text])

    apply(run, parse_junos(candidate), [])
    return dump_junos(run)


# ---- FRR: vtysh running configuration ------------------------------------------------------------------

_FRR_EXITS = {"exit", "exit-address-family", "exit-vrf", "exit-vni", "quit", "end"}
_FRR_BANNER = {"Building configuration...", "Current configuration:"}
_TC_MARK = "! tc:"  # napalm_frr's QoS lines: comments to vtysh, tc state to the driver


def parse_frr(text: str) -> Stmt:
    """An FRR configuration (`show running-config` or a rendering) as a statement tree.

    Nesting is by indentation (vtysh indents one space per level); `exit`-type lines close a context
    (so an empty context stays a context) and are not statements; `!` comments are dropped except the
    `! tc:` lines, kept whole at the top. A context given twice is one context, as frr-reload reads it.
    """
    root = Stmt("", leaf=False)
    index: dict[int, dict[str, Stmt]] = {}
    stack: list[tuple[int, Stmt]] = [(-1, root)]
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        body = line.strip()
        if not body or body in _FRR_BANNER:
            continue
        if line.startswith(_TC_MARK):
            root.children.append(Stmt(line))
            continue
        if body.startswith("!"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if body in _FRR_EXITS:
            while len(stack) > 1 and stack[-1][0] > indent:
                stack.pop()
            if len(stack) > 1 and stack[-1][0] == indent:
                stack.pop()[1].leaf = False
            continue
        while len(stack) > 1 and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        parent.leaf = False
        seen = index.setdefault(id(parent), {})
        node = seen.get(body)
        if node is None:
            node = seen[body] = Stmt(body)
            parent.children.append(node)
        stack.append((indent, node))
    return root


def _frr_exit(text: str) -> str:
    for head, word in (("address-family", "exit-address-family"), ("vrf ", "exit-vrf"), ("vni ", "exit-vni")):
        if text.startswith(head):
            return word
    return "exit"


def dump_frr(root: Stmt) -> str:
    """A statement tree as vtysh configuration text (one space per level, each context closed)."""
    out: list[str] = []

    def emit(st: Stmt, depth: int) -> None:
        out.append(" " * depth + st.text)
        if st.leaf:
            return
        for c in st.children:
            emit(c, depth + 1)
        out.append(" " * depth + _frr_exit(st.text))

    for c in root.children:
        emit(c, 0)
        if not c.leaf:
            out.append("!")
    return "\n".join(out) + ("\n" if out else "")


def _stmt_leaves(root: Stmt) -> list[str]:
    """`context > ... > line` for every statement without children (as `_leaves` for hier_config)."""
    out: list[str] = []

    def walk(st: Stmt, path: list[str]) -> None:
        here = [*path, st.text]
        if not st.children:
            out.append(" > ".join(here))
        for c in st.children:
            walk(c, here)

    for c in root.children:
        walk(c, [])
    return out


def _merge_into(dst: Stmt, src: Stmt) -> None:
    """Add `src`'s statements that `dst` lacks (contexts merged, `dst` first)."""
    for c in src.children:
        same = dst.find(c.text)
        if same is None:
            dst.children.append(c)
        elif not c.leaf:
            same.leaf = False
            _merge_into(same, c)


@lru_cache(maxsize=64)
def _frr_parts(text: str, managed: frozenset[str]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(owned part as text, owned leaves, unmanaged leaves) of an FRR configuration. Cached: drift asks for
    the owned text and the split of the same running configuration, the gate polls the same texts."""
    o, u = _split_stmt(parse_frr(text), _compile("frr", managed))
    return dump_frr(o), tuple(_stmt_leaves(o)), tuple(_stmt_leaves(u))


def frr_candidate(intended: str, running: str) -> str:
    """The running configuration with its owned part replaced by the intended owned part.

    Why a whole candidate for `load_replace_candidate` rather than a merge with removals: the driver
    then diffs it against the running configuration with frr-reload.py, FRR's own semantics, and the
    candidate holds every unmanaged statement of the running configuration exactly as read, so no
    deletion or change can fall outside the owned part (the unmanaged statements are equal on both
    sides), while the owned part gets frr-reload's full replace (stale objects removed, changed lines
    swapped). The driver stays unaware of ownership. Contexts shared by both parts (a managed interface
    with unmanaged lines) keep the running's unmanaged lines beside the intended owned ones.
    """
    rules = _compile("frr", managed_interfaces("frr", intended))
    want = _split_stmt(parse_frr(intended), rules)[0]
    keep = _split_stmt(parse_frr(running), rules)[1]
    owned_tops = {c.text for c in want.children}
    cand = Stmt("", [c for c in keep.children if c.text not in owned_tops], leaf=False)
    for o in want.children:
        u = keep.find(o.text)
        if u is not None:
            _merge_into(o, u)
        cand.children.append(o)
    return dump_frr(cand)


# ---- every platform ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OwnedSplit:
    """A configuration cut in two: what Tonlé owns, and the rest (left alone), as lines."""

    owned: list[str]
    unmanaged: list[str]


def split(platform: str, text: str, managed: Iterable[str]) -> OwnedSplit:
    """The owned and the unmanaged lines of a configuration, each a leaf with its contexts.

    ios/eos/frr: `context > ... > line` for every leaf; junos: `set`/`deactivate` lines.
    """
    if platform == "frr":
        _, own, rest = _frr_parts(text, frozenset(managed))
        return OwnedSplit(list(own), list(rest))
    rules = _compile(platform, managed)
    if platform == "junos":
        o, u = _split_stmt(parse_junos(text), rules)
        return OwnedSplit(set_lines(o), set_lines(u))
    o_h, u_h = _split_hier(hconfig(platform, text), rules)
    return OwnedSplit(_leaves(o_h), _leaves(u_h))


def _leaves(tree: HConfig) -> list[str]:
    return [" > ".join(p.text for p in c.lineage()) for c in tree.all_children() if not c.children]


def owned_text(platform: str, text: str, managed: Iterable[str]) -> str:
    """Only the owned part of a configuration, in the platform's own format."""
    if platform == "frr":
        return _frr_parts(text, frozenset(managed))[0]
    rules = _compile(platform, managed)
    if platform == "junos":
        return dump_junos(_split_stmt(parse_junos(text), rules)[0])
    return _hier_text(_split_hier(hconfig(platform, text), rules)[0], platform)


def _hier_text(tree: HConfig, platform: str) -> str:
    unit = "   " if platform == "eos" else " "
    lines = [unit * (c.depth() - 1) + c.text for c in tree.all_children()]
    return "\n".join(lines) + ("\n" if lines else "")


def owned_remediation(platform: str, intended: str, running: str) -> str:
    """ios/eos: the commands (hier_config remediation) that bring the owned part of `running` to the
    owned part of `intended`, as a merge file ("" when there is nothing to do)."""
    from hier_config import WorkflowRemediation  # noqa: PLC0415

    rules = _compile(platform, managed_interfaces(platform, intended))
    want = _split_hier(hconfig(platform, intended), rules)[0]
    have = _split_hier(hconfig(platform, running), rules)[0]
    return _hier_text(WorkflowRemediation(have, want).remediation_config, platform)


def candidate(platform: str, intended: str, running: str) -> str:
    """What is loaded on the device: running with its owned part made the intended one (frr, replace),
    or the owned change (ios/eos/junos, merge)."""
    if platform == "frr":
        return frr_candidate(intended, running)
    if platform == "junos":
        return junos_candidate(intended, running)
    return owned_remediation(platform, intended, running)


def future(platform: str, running: str, cand: str) -> str:
    """The predicted running configuration after `cand` is merged (ios/eos/junos) or replaces it (frr)."""
    if push_mode(platform) == "replace":
        return cand
    if platform == "junos":
        return junos_future(running, cand)
    return _hier_text(hconfig(platform, running).future(hconfig(platform, cand)), platform)


__all__ = ["OWNED", "PUSH", "OwnedSplit", "Rule", "Stmt", "candidate", "dump_frr", "dump_junos", "frr_candidate",
           "future", "junos_candidate", "junos_future", "managed_interfaces", "owned_remediation", "owned_text",
           "parse_frr", "parse_junos", "push_mode", "set_lines", "split"]
