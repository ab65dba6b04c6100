"""The audit log's records and the checks of them, pure (no file, no database): what an entry's hash
covers, the head record, and what `verify` concludes from a log, its head, a trusted key and a collector's copy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tonle.state.signing import PublicKey, entry_message, head_message
from tonle.state.syslog import AuditRecord

GENESIS = "0" * 64  # the "previous hash" of entry 1
GENESIS_ACTION = "audit-genesis"  # the first signed entry: records the public key
ANOMALY_ACTION = "audit-anomaly"  # written by an append that found the log tampered with


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    ts: str
    actor: str
    action: str
    object: str
    details: dict[str, Any]
    prev_hash: str
    hash: str
    signature: str | None = None  # base64 ed25519 signature of the hash; None for entries from before signing
    key_id: str | None = None  # fingerprint of the key that signed it

    def record(self) -> AuditRecord:
        """What the syslog collector gets for this entry."""
        return AuditRecord(self.seq, self.ts, self.hash, self.prev_hash, self.signature or "-", self.key_id or "-",
                           self.actor, self.action, self.object)


def entry_digest(prev_hash: str, seq: int, ts: str, actor: str, action: str, obj: str, details: dict[str, Any]) -> str:
    body = json.dumps({"seq": seq, "ts": ts, "actor": actor, "action": action, "object": obj, "details": details},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


@dataclass(frozen=True)
class StoredEntry:
    """An entry as stored, details as text (a tampered row may not even be JSON)."""

    seq: int
    ts: str
    actor: str
    action: str
    object: str
    details_text: str
    prev_hash: str
    hash: str
    signature: str | None
    key_id: str | None

    def details(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.details_text)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    def content_ok(self) -> bool:
        details = self.details()
        return details is not None and entry_digest(self.prev_hash, self.seq, self.ts, self.actor, self.action,
                                               self.object, details) == self.hash

    def entry(self) -> AuditEntry:
        details = self.details()
        shown = details if details is not None else {"unreadable details": self.details_text[:200]}
        return AuditEntry(self.seq, self.ts, self.actor, self.action, self.object, shown, self.prev_hash, self.hash,
                          self.signature, self.key_id)


@dataclass(frozen=True)
class Head:
    """The head record: newest sequence number and hash, signed. Legacy heads are `SEQ HASH`, unsigned."""

    seq: int
    hash: str
    ts: str = ""
    key_id: str = ""
    signature: str = ""

    @property
    def signed(self) -> bool:
        return bool(self.signature)

    def line(self) -> str:
        return json.dumps({"seq": self.seq, "hash": self.hash, "ts": self.ts, "key": self.key_id,
                           "sig": self.signature}, separators=(",", ":")) + "\n"

    @classmethod
    def parse(cls, text: str) -> Head:
        """ValueError when `text` is neither form."""
        text = text.strip()
        if text.startswith("{"):
            try:
                d = json.loads(text)
                return cls(int(d["seq"]), str(d["hash"]), str(d["ts"]), str(d["key"]), str(d["sig"]))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError("not a head record") from exc
        seq, digest = text.split()
        return cls(int(seq), digest)


@dataclass(frozen=True)
class Trust:
    """The public key the verifier trusts, where it came from, and what the key files say."""

    key: PublicKey | None
    source: str
    pinned: bool = False
    key_present: bool = False  # a key file (private or public) exists where the log's key lives
    problems: tuple[str, ...] = ()


@dataclass
class Verification:
    """What `verify` found: problems (exit 1), notes (informational), and which key it trusted."""

    entries: int
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fingerprint: str | None = None
    trusted_from: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok and not self.entries:
            return "audit log: no entries yet"
        verdict = "signatures, chain and head intact" if self.ok else f"{len(self.problems)} problem(s)"
        if not self.entries:
            return f"audit log: 0 entries; {verdict}"
        key = f"signed by {self.fingerprint} (trusted: {self.trusted_from})" if self.fingerprint else "not signed"
        return f"audit log: {self.entries} entries, {key}; {verdict}"


class _Findings:
    """Problems, with the same problem on many entries said once with their numbers (`entries 3-7, 9: …`)."""

    def __init__(self) -> None:
        self._order: list[str] = []
        self._seqs: dict[str, list[int]] = {}

    def add(self, seq: int, what: str) -> None:
        if what not in self._seqs:
            self._order.append(what)
            self._seqs[what] = []
        self._seqs[what].append(seq)

    def line(self, text: str) -> None:
        self._order.append(text)

    def lines(self) -> list[str]:
        return [f"{_ranges(self._seqs[w])}: {w}" if w in self._seqs else w for w in self._order]


def _ranges(seqs: Sequence[int]) -> str:
    parts: list[str] = []
    start = prev = seqs[0]
    for s in [*seqs[1:], None]:
        if s is not None and s == prev + 1:
            prev = s
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if s is not None:
            start = prev = s
    return ("entry " if len(seqs) == 1 else "entries ") + ", ".join(parts)


# ---- pure checks ------------------------------------------------------------------------------------

def _chain(rows: Sequence[StoredEntry], findings: _Findings) -> None:
    """Sequence numbers contiguous from 1, each entry after its predecessor's hash, content matching its hash."""
    prev, expected = GENESIS, 1
    for r in rows:
        if r.seq > expected:
            findings.line(f"{_ranges(range(expected, r.seq))} missing (removed)")
        if r.prev_hash != prev:
            findings.add(r.seq, "does not follow the previous entry's hash (an entry before it removed or reordered)")
        if not r.content_ok():
            findings.add(r.seq, "content does not match its hash (edited)")
        prev, expected = r.hash, r.seq + 1


def chain_problems(rows: Sequence[StoredEntry]) -> list[str]:
    """What is wrong with the chain alone (numbering, links, content against hash)."""
    findings = _Findings()
    _chain(rows, findings)
    return findings.lines()


def head_problems(head: Head | None, head_error: str | None, last: StoredEntry, key: PublicKey | None) -> list[str]:
    """What is wrong with the head record of a log that ends with `last`; with `key`, it must be signed by it."""
    if head_error:
        return [f"head record unreadable ({head_error}): replaced"]
    if head is None:
        return ["head record missing (deleted)"]
    out: list[str] = []
    if key is not None:
        if not head.signed:
            out.append("head record is not signed (replaced)")
        elif head.key_id != key.fingerprint or not key.verify(head.signature,
                                                              head_message(head.seq, head.hash, head.ts)):
            out.append(f"head record's signature does not verify against {key.fingerprint} (forged)")
    if head.seq > last.seq:
        out.append(f"the head record says entry {head.seq} but the log ends at entry {last.seq}: "
                   "entries removed from the end")
    elif head.seq < last.seq:
        out.append(f"the log goes on to entry {last.seq} past its head record (entry {head.seq}): entries "
                   "appended without the head, or the head replaced by an older one")
    elif head.hash != last.hash:
        out.append(f"entry {last.seq} is not the one its head record names (rewritten)")
    return out


def genesis_key(row: StoredEntry) -> PublicKey | None:
    details = row.details() or {}
    try:
        return PublicKey.from_b64(str(details.get("public_key", "")))
    except ValueError:
        return None


def check_log(rows: Sequence[StoredEntry], head: Head | None, head_error: str | None, trust: Trust) -> Verification:
    """Signatures, chain and head of a log as read; no I/O."""
    out = Verification(len(rows), list(trust.problems), [], trust.key.fingerprint if trust.key else None,
                       trust.source)
    if not rows:
        _empty_log(out, head, head_error, trust)
        return out
    findings = _Findings()
    _chain(rows, findings)
    key = trust.key
    genesis = next((r for r in rows if r.signature is not None), None)
    if genesis is not None:
        recorded = genesis_key(genesis)
        if genesis.action != GENESIS_ACTION or recorded is None:
            findings.line(f"entry {genesis.seq}: the first signed entry is not a genesis recording the public key")
        elif key is None:
            key = recorded
            out.fingerprint, out.trusted_from = recorded.fingerprint, "only the log's own genesis entry"
            findings.line(f"{trust.source}: the signatures could only be checked against the key the log itself "
                          "records, which proves nothing; pin the expected key with --public-key")
        elif recorded != key:
            findings.line(f"entry {genesis.seq}: the genesis records key {recorded.fingerprint}, but the trusted key "
                          f"is {key.fingerprint} ({trust.source}): the log was re-created with another key")
    for r in rows:
        if r.signature is None:
            if genesis is not None and r.seq > genesis.seq:
                findings.add(r.seq, "unsigned after signing began (inserted, or its signature removed)")
            continue
        if r.action == GENESIS_ACTION and genesis is not None and r.seq != genesis.seq:
            findings.add(r.seq, "a second genesis (the key was changed)")
        if key is not None and r.key_id != key.fingerprint:
            findings.add(r.seq, f"signed by {r.key_id}, not by {key.fingerprint}")
        elif key is not None and not key.verify(r.signature, entry_message(r.seq, r.hash)):
            findings.add(r.seq, f"signature does not verify against {key.fingerprint} (rewritten without the key)")
        if r.action == ANOMALY_ACTION:
            found = (r.details() or {}).get("found", [])
            findings.line(f"entry {r.seq} ({r.ts}, {r.actor}): the log was found tampered with when this entry "
                          f"was written: {'; '.join(map(str, found))}")
    legacy = [r.seq for r in rows if r.signature is None and (genesis is None or r.seq < genesis.seq)]
    if legacy and genesis is not None:
        out.notes.append(f"{_ranges(legacy)} unsigned (written before signing), sealed by the signed genesis "
                         f"entry {genesis.seq}")
    elif genesis is None and (trust.key_present or (head is not None and head.signed)):
        findings.line(f"no entry is signed, but a signing key ({trust.source}) or a signed head record exists: "
                      "the signatures were removed")
    elif legacy:
        findings.line(f"{_ranges(legacy)} unsigned (written before signing) and no signed entry seals them: "
                      "`tonle audit seal` signs the log from here on")
    for p in head_problems(head, head_error, rows[-1], key if genesis is not None else None):
        findings.line(p)
    out.problems += findings.lines()
    return out


def _empty_log(out: Verification, head: Head | None, head_error: str | None, trust: Trust) -> None:
    if trust.key_present:
        out.problems.append(f"the log is empty but its signing key exists ({trust.source}): the log was deleted")
    if head is not None or head_error:
        said = f"entry {head.seq}" if head else "something unreadable"
        out.problems.append(f"the log is empty but its head record says {said}: the log was deleted")
    if trust.pinned and not out.problems:
        out.problems.append(f"the log is empty but a key was pinned ({trust.source}): the log is missing")
    if not out.problems:
        out.notes.append("no audit log yet: this state dir was never used (no log, no head record, no signing key)")


def compare_with_collector(rows: Sequence[StoredEntry], collected: Sequence[tuple[int, AuditRecord]],
                           key: PublicKey | None) -> tuple[list[str], list[str]]:
    """Problems and notes between the log and a collector's copy ((line number, record) pairs): every collected
    entry must be in the log unchanged, signed by `key`; signed log entries within the copy's range must be in it."""
    findings = _Findings()
    by_seq = {r.seq: r for r in rows}
    seen: dict[int, AuditRecord] = {}
    for lineno, rec in collected:
        if rec.seq in seen:
            if (seen[rec.seq].hash, seen[rec.seq].signature) != (rec.hash, rec.signature):
                findings.line(f"collector line {lineno}: a second, different entry {rec.seq} (the log was rewritten "
                              "and sent again)")
            continue
        seen[rec.seq] = rec
        if key is not None and not (rec.key_id == key.fingerprint
                                    and key.verify(rec.signature, entry_message(rec.seq, rec.hash))):
            findings.line(f"collector line {lineno}: entry {rec.seq} is not signed by {key.fingerprint}")
        mine = by_seq.get(rec.seq)
        if mine is None:
            findings.add(rec.seq, "the collector received it but the log does not have it (removed)")
        elif (mine.hash, mine.signature) != (rec.hash, rec.signature):
            findings.add(rec.seq, "differs from the collector's copy (rewritten)")
    signed = [r.seq for r in rows if r.signature is not None]
    if not seen:
        if signed:
            findings.line("the collector's copy holds no audit message (wrong file, or nothing was sent)")
        return findings.lines(), []
    low, high = min(seen), max(seen)
    for seq in signed:
        if low <= seq <= high and seq not in seen:
            findings.add(seq, "in the log but not in the collector's copy (never sent, lost on the way, or inserted)")
    notes = [f"{_ranges(part)} {when} the collector's copy (not compared)"
             for part, when in (([s for s in signed if s < low], "older than"), ([s for s in signed if s > high],
                                                                                  "newer than")) if part]
    return findings.lines(), notes
