"""Small parsers for the structural tests: indented CLI configs (IOS, EOS) and Junos curly configs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# ---- indented CLI (IOS-XE, EOS) -------------------------------------------------------------------

@dataclass
class Node:
    line: str
    children: list[Node] = field(default_factory=list)

    def find(self, prefix: str) -> list[Node]:
        """Children whose line starts with `prefix`."""
        return [c for c in self.children if c.line.startswith(prefix)]

    def lines(self) -> list[str]:
        return [c.line for c in self.children]


def parse_indented(text: str, unit: int) -> Node:
    """The config as a tree by indentation; comments (`!`) dropped.

    Raises:
        ValueError: a line indented by a non-multiple of `unit`, or deeper than one level below its parent.
    """
    root = Node("")
    stack: list[tuple[int, Node]] = [(-1, root)]
    for no, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if "\t" in raw[:indent + 1]:
            raise ValueError(f"line {no}: tab in indentation: {raw!r}")
        if indent % unit:
            raise ValueError(f"line {no}: indentation {indent} is not a multiple of {unit}: {raw!r}")
        level = indent // unit
        if raw.strip().startswith("!"):
            continue
        while stack[-1][0] >= level:
            stack.pop()
        if level > stack[-1][0] + 1:
            raise ValueError(f"line {no}: indented {level - stack[-1][0]} levels below its parent: {raw!r}")
        node = Node(raw.strip())
        stack[-1][1].children.append(node)
        stack.append((level, node))
    return root


# ---- Junos curly braces -> set lines --------------------------------------------------------------

_TOKEN = re.compile(r'\s+|/\*.*?\*/|#[^\n]*|"(?:[^"\\]|\\.)*"|[{};\[\]]|[^\s{};\[\]"]+', re.S)


def _tokens(text: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"line {text.count(chr(10), 0, pos) + 1}: cannot read {text[pos:pos + 20]!r}")
        tok = m.group(0)
        if not (tok.isspace() or tok.startswith(("/*", "#"))):
            out.append((tok, text.count("\n", 0, pos) + 1))
        pos = m.end()
    return out


def junos_set_lines(text: str) -> list[str]:
    """`show configuration | display set` for a curly-brace config: `set` lines, then `deactivate` lines
    for statements marked `inactive:`. Lists (`[ a b ]`) give one line per element.

    Raises:
        ValueError: unbalanced braces or brackets, a statement without `;`, stray tokens.
    """
    toks = _tokens(text)
    sets: list[str] = []
    deact: list[str] = []
    i = 0

    def block(path: list[str], depth: int) -> None:
        nonlocal i
        while i < len(toks):
            tok, line = toks[i]
            if tok == "}":
                if depth == 0:
                    raise ValueError(f"line {line}: '}}' without an open block")
                i += 1
                return
            inactive = tok == "inactive:"
            if inactive:
                i += 1
            words: list[str] = []
            lists: list[list[str]] = []
            while i < len(toks) and toks[i][0] not in ("{", ";", "}"):
                t, ln = toks[i]
                if t == "[":
                    i += 1
                    items = []
                    while i < len(toks) and toks[i][0] != "]":
                        if toks[i][0] in ("{", "}", ";", "["):
                            raise ValueError(f"line {toks[i][1]}: unclosed '['")
                        items.append(toks[i][0])
                        i += 1
                    if i >= len(toks):
                        raise ValueError(f"line {ln}: unclosed '['")
                    lists.append(items)
                    words.append("\0")
                elif t == "]":
                    raise ValueError(f"line {ln}: ']' without '['")
                else:
                    words.append(t)
                i += 1
            if i >= len(toks):
                raise ValueError(f"line {line}: statement {' '.join(words)!r} is not terminated")
            if not words:
                raise ValueError(f"line {line}: empty statement")
            end = toks[i][0]
            if end == "}":
                raise ValueError(f"line {line}: statement {' '.join(words)!r} lacks ';'")
            i += 1
            if inactive:
                deact.append("deactivate " + " ".join([*path, *(w for w in words if w != "\0")]))
            if end == "{":
                if lists:
                    raise ValueError(f"line {line}: a list cannot open a block")
                block([*path, *words], depth + 1)
            else:
                expanded = [words]
                for items in lists:
                    expanded = [[*w[:w.index("\0")], it, *w[w.index("\0") + 1:]] for w in expanded for it in items]
                sets.extend("set " + " ".join([*path, *w]) for w in expanded)
        if depth:
            raise ValueError("end of text inside an open block (missing '}')")

    block([], 0)
    return sets + deact


def unquote(s: str) -> str:
    return s[1:-1].replace('\\"', '"').replace("\\\\", "\\") if s.startswith('"') else s
