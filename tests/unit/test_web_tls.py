"""The console's address and certificate: literal loopback-style addresses only, a lab certificate made once
with its key private, and the production pair from nornir.yaml taken as a pair or not at all."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509

from tonle.errors import BadInput
from tonle.interfaces.web import tls
from tonle.interfaces.web.server import certificate, parse_address


@pytest.mark.parametrize(("text", "want"), [("127.0.0.1:8443", ("127.0.0.1", 8443)), ("[::1]:443", ("::1", 443))])
def test_addresses(text: str, want: tuple[str, int]) -> None:
    assert parse_address(text) == want


@pytest.mark.parametrize("text", ["localhost:8443", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:x",
                                  ":8443", "127.0.0.1:8443\n"])
def test_bad_addresses_are_refused(text: str) -> None:
    with pytest.raises(BadInput, match="--https"):
        parse_address(text)


def test_the_lab_certificate_is_made_once_for_its_address(tmp_path: Path) -> None:
    cert, key = tls.self_signed(tmp_path / "keys", "127.0.0.1")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    san = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    first = cert.read_bytes()
    assert tls.self_signed(tmp_path / "keys", "127.0.0.1")[0].read_bytes() == first, "kept, not made again"
    tls.self_signed(tmp_path / "keys", "192.0.2.10")
    assert cert.read_bytes() != first, "another address: a certificate that names it"


def test_the_production_pair_comes_from_the_config(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("y")
    config = tmp_path / "nornir.yaml"
    config.write_text("user_defined:\n  tonle_https_cert: c.pem\n  tonle_https_key: k.pem\n")
    assert certificate(config, tmp_path / "state", "127.0.0.1") == (tmp_path / "c.pem", tmp_path / "k.pem")
    assert not (tmp_path / "state").exists(), "no lab certificate made when the config names one"
    config.write_text("user_defined:\n  tonle_https_cert: c.pem\n")
    with pytest.raises(BadInput, match="go together"):
        certificate(config, tmp_path / "state", "127.0.0.1")
    config.write_text("user_defined:\n  tonle_https_cert: c.pem\n  tonle_https_key: missing.pem\n")
    with pytest.raises(BadInput, match="no such"):
        certificate(config, tmp_path / "state", "127.0.0.1")
