"""A throwaway TLS certificate for tests on loopback (127.0.0.1 / localhost).

`cryptography` is not in the python-default resolve, so the openssl command line tool makes it
(present wherever grpc's own TLS tests run).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

OPENSSL = shutil.which("openssl")


def self_signed_cert(folder: Path) -> tuple[Path, Path] | None:
    """(cert.pem, key.pem) in `folder`, valid for a day; None when openssl is missing (callers
    then say so in their skip reason)."""
    if OPENSSL is None:
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
