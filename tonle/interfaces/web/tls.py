"""The console's certificate: files named in the config (production), or one made for the lab on first use."""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tonle.errors import BadInput


def self_signed(keys_dir: Path, host: str) -> tuple[Path, Path]:
    """(certificate, key) in `keys_dir`, made once: ECDSA P-256, valid a year, for localhost, the loopback
    addresses and `host`. The key file is 0600 in a 0700 directory (the service account's alone)."""
    cert_file, key_file = keys_dir / "web-cert.pem", keys_dir / "web-key.pem"
    if cert_file.exists() and key_file.exists() and _covers(cert_file, host):
        return cert_file, key_file
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                     x509.IPAddress(ipaddress.ip_address("::1"))]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tonle console (lab)")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_file, key_file


def _covers(cert_file: Path, host: str) -> bool:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    if cert.not_valid_after_utc < datetime.now(UTC) + timedelta(days=7):
        return False
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    wanted = [str(v) for v in san.get_values_for_type(x509.IPAddress)] + san.get_values_for_type(x509.DNSName)
    return host in wanted


def configured(cert: str | None, key: str | None, base: Path) -> tuple[Path, Path] | None:
    """The production pair from nornir.yaml (`user_defined: {tonle_https_cert: F, tonle_https_key: F}`),
    relative paths from the config file's directory."""
    if not cert and not key:
        return None
    if not (isinstance(cert, str) and isinstance(key, str) and cert and key):
        raise BadInput("nornir.yaml: tonle_https_cert and tonle_https_key go together (two file names)")
    pair = (base / cert).resolve(), (base / key).resolve()
    for p in pair:
        if not p.is_file():
            raise BadInput(f"nornir.yaml: {p}: no such certificate/key file")
    return pair
