"""A throwaway TLS certificate for tests on loopback (127.0.0.1 / localhost).

`cryptography` is not in the python-default resolve, so the openssl command line tool makes it
(present wherever grpc's own TLS tests run). On a developer's machine without openssl the TLS
tests skip with that reason; in CI (CI=true, set by .ci/run and GitHub Actions, passed into the
Pants sandbox by pants.ci.toml) a missing openssl is an error, so that a CI run can never pass
with its TLS tests skipped or, worse, run in plaintext.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

OPENSSL = shutil.which("openssl")


class OpensslMissingError(RuntimeError):
    """openssl is absent where the TLS tests must run (CI)."""


def tls_tests_required() -> bool:
    """True in CI (CI=true/1/yes): there a test that cannot make a certificate must fail."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def self_signed_cert(folder: Path) -> tuple[Path, Path] | None:
    """(cert.pem, key.pem) in `folder`, valid for a day; None when openssl is missing (callers
    then say so in their skip reason), except in CI, where that raises OpensslMissingError."""
    if OPENSSL is None:
        if tls_tests_required():
            raise OpensslMissingError(
                "CI=true but the openssl command is not installed: the TLS tests cannot make a "
                "certificate and must not be skipped (.ci/run installs openssl with apt)"
            )
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *[OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
            *["-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1"],
            *["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
