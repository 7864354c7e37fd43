"""tls_testutil: a certificate when openssl is there; without it a skip locally, an error in CI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from worldflux.rpc import tls_testutil


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes"])
def test_missing_openssl_in_ci_is_an_error(monkeypatch, tmp_path: Path, value: str) -> None:
    monkeypatch.setattr(tls_testutil, "OPENSSL", None)
    monkeypatch.setenv("CI", value)
    with pytest.raises(tls_testutil.OpensslMissingError, match="openssl command is not installed"):
        tls_testutil.self_signed_cert(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_missing_openssl_outside_ci_lets_the_caller_skip(
    monkeypatch, tmp_path: Path, value: str | None
) -> None:
    monkeypatch.setattr(tls_testutil, "OPENSSL", None)
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert tls_testutil.self_signed_cert(tmp_path) is None


def test_certificate_for_loopback(tmp_path: Path) -> None:
    """With openssl (always in CI: this test fails there otherwise) the pair is made and the
    certificate names 127.0.0.1 and localhost."""
    if tls_testutil.OPENSSL is None and not tls_testutil.tls_tests_required():
        pytest.skip("the openssl command is not installed: cannot make a test certificate")
    made = tls_testutil.self_signed_cert(tmp_path)
    assert made is not None
    cert, key = made
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert tls_testutil.OPENSSL is not None
    text = subprocess.run(
        [tls_testutil.OPENSSL, "x509", "-in", str(cert), "-noout", "-text"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "IP Address:127.0.0.1" in text and "DNS:localhost" in text
