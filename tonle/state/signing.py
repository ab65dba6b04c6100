"""The audit log's ed25519 signing key: where it lives, how it is made, what exactly gets signed.

The private key is `<state dir>/keys/audit-ed25519.pem` (PKCS#8 PEM, mode 0600, directory 0700), made on
first use; `$TONLE_AUDIT_KEY` names another path. Its public half is written beside it
(`audit-ed25519.pub`, SubjectPublicKeyInfo PEM) and recorded in the log's genesis entry, so a verifier needs
only the public key. In production the private key belongs to the service account that writes the log (a
later issue) and is readable by that account alone: an operator can then read and verify the log but not
re-sign a rewritten one.

A key is named by its fingerprint, `ed25519:` and the first 32 hex digits of the SHA-256 of the raw 32-byte
public key (`openssl pkey -pubin -in audit-ed25519.pub -outform DER | tail -c 32 | sha256sum`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tonle.errors import BadInput, Failed

KEY_NAME = "audit-ed25519.pem"
DOMAIN = "tonle-audit/1"  # every signed message starts with this: an entry signature is never a head one


class KeyUnusable(Failed):
    """The signing key cannot be used (missing, unreadable, readable by others, not ed25519)."""


class KeyExposed(KeyUnusable):
    """The signing key file can be read or written by others than its owner."""


def default_key_file(state_dir: Path) -> Path:
    """The private key's path: `$TONLE_AUDIT_KEY`, else `<state dir>/keys/audit-ed25519.pem`."""
    env = os.environ.get("TONLE_AUDIT_KEY")
    return Path(env) if env else state_dir / "keys" / KEY_NAME


def public_file(key_file: Path) -> Path:
    """The public key beside the private one."""
    return key_file.with_suffix(".pub")


def entry_message(seq: int, digest: str) -> bytes:
    """What an entry's signature covers: its number and its chain hash (which covers content and predecessor)."""
    return f"{DOMAIN} entry {seq} {digest}".encode()


def head_message(seq: int, digest: str, ts: str) -> bytes:
    """What the head record's signature covers."""
    return f"{DOMAIN} head {seq} {digest} {ts}".encode()


@dataclass(frozen=True)
class PublicKey:
    """An ed25519 public key, as the raw 32 bytes."""

    raw: bytes

    @property
    def fingerprint(self) -> str:
        return "ed25519:" + hashlib.sha256(self.raw).hexdigest()[:32]

    @property
    def b64(self) -> str:
        return base64.b64encode(self.raw).decode()

    def pem(self) -> bytes:
        return Ed25519PublicKey.from_public_bytes(self.raw).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def verify(self, signature_b64: str, message: bytes) -> bool:
        """True when `signature_b64` is this key's signature of `message`."""
        try:
            signature = base64.b64decode(signature_b64, validate=True)
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    @classmethod
    def from_b64(cls, text: str) -> PublicKey:
        """From the base64 of the raw key (as the genesis entry records it); ValueError if it is not one."""
        try:
            raw = base64.b64decode(text, validate=True)
        except binascii.Error as exc:
            raise ValueError("not base64") from exc
        if len(raw) != 32:
            raise ValueError(f"{len(raw)} bytes, an ed25519 public key has 32")
        return cls(raw)

    @classmethod
    def load(cls, path: Path) -> PublicKey:
        """From a PEM public key file, or a file holding the base64 of the raw key. BadInput otherwise."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BadInput(f"{path}: cannot read the public key: {exc.strerror}") from exc
        if data.lstrip().startswith(b"-----BEGIN"):
            try:
                key = serialization.load_pem_public_key(data)
            except ValueError as exc:
                raise BadInput(f"{path}: not a PEM public key") from exc
            if not isinstance(key, Ed25519PublicKey):
                raise BadInput(f"{path}: not an ed25519 public key")
            return cls(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        try:
            return cls.from_b64(data.decode("ascii", errors="replace").strip())
        except ValueError as exc:
            raise BadInput(f"{path}: not an ed25519 public key (PEM, or base64 of the raw key): {exc}") from exc


class SigningKey:
    """The private key; never printed, logged or written anywhere but its own file."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = PublicKey(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                              serialization.PublicFormat.Raw))

    def __repr__(self) -> str:
        return f"SigningKey({self.public.fingerprint})"

    def sign(self, message: bytes) -> str:
        """The base64 signature of `message`."""
        return base64.b64encode(self._key.sign(message)).decode()

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        """Load the private key, refusing one that others than its owner can read or write."""
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except OSError as exc:
            raise KeyUnusable(f"{path}: cannot read the audit signing key: {exc.strerror}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyExposed(f"{path}: the audit signing key is open to others (mode {mode & 0o777:04o}); "
                              f"it must be readable by its owner alone (chmod 600)")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyUnusable(f"{path}: not an unencrypted PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyUnusable(f"{path}: not an ed25519 private key")
        return cls(key)

    def save(self, path: Path) -> None:
        """Write the key (0600, directory 0700) and its public half beside it; never replaces a key file."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)  # fails if a key file is there already: a key is never overwritten
        finally:
            tmp.unlink(missing_ok=True)
        pub_tmp = path.with_name(f".{path.name}.{os.getpid()}.pub.tmp")
        pub_tmp.write_bytes(self.public.pem())
        pub_tmp.chmod(0o644)
        pub_tmp.replace(public_file(path))
