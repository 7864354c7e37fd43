"""The files every image adds to its venv (docker/common/): the gRPC health probe, the PID 1 SIGTERM
hook and the venv trimming script, exercised here outside any container."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from types import ModuleType

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from . import deploy

COMMON = deploy.DOCKER / "common"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, COMMON / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def health_server() -> Iterator[tuple[str, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(0)


def test_probe_says_serving(
    health_server: tuple[str, health.HealthServicer], capsys: pytest.CaptureFixture[str]
) -> None:
    target, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert load("wf_grpc_health").main([target]) == 0
    assert capsys.readouterr().out.strip() == f"{target}: SERVING"


def test_probe_fails_while_draining(
    health_server: tuple[str, health.HealthServicer], capsys: pytest.CaptureFixture[str]
) -> None:
    target, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert load("wf_grpc_health").main([target]) == 1
    assert "NOT_SERVING" in capsys.readouterr().out


def test_probe_fails_for_an_unknown_service(
    health_server: tuple[str, health.HealthServicer], capsys: pytest.CaptureFixture[str]
) -> None:
    target, _ = health_server
    assert load("wf_grpc_health").main(["--service", "nope.v1.Nope", target]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def test_probe_speaks_tls_with_the_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from worldflux.rpc.tls_testutil import self_signed_cert

    made = self_signed_cert(tmp_path)
    if made is None:
        pytest.skip("the openssl command is not installed: cannot make a test certificate")
    cert, key = made
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        target = f"127.0.0.1:{port}"
        probe = load("wf_grpc_health")
        tls = ["--tls-ca", str(cert), "--tls-server-name", "localhost"]
        assert probe.main([*tls, target]) == 0
        assert probe.main(["--timeout", "2", target]) == 1  # plaintext cannot reach it
        assert "UNAVAILABLE" in capsys.readouterr().err
    finally:
        server.stop(0)


def test_probe_fails_where_nothing_listens(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert load("wf_grpc_health").main(["--timeout", "2", f"127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert "UNAVAILABLE" in err or "DEADLINE_EXCEEDED" in err


def test_pid1_hook_turns_sigterm_into_exit_143(monkeypatch: pytest.MonkeyPatch) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        monkeypatch.setattr(os, "getpid", lambda: 1)
        load("wf_pid1_sigterm")
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        with pytest.raises(SystemExit) as exit_:
            handler(signal.SIGTERM, None)
        assert exit_.value.code == 143
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_pid1_hook_leaves_other_processes_and_own_handlers_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        load("wf_pid1_sigterm")  # not PID 1 here
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

        def own(signum: int, frame: object) -> None: ...

        signal.signal(signal.SIGTERM, own)
        monkeypatch.setattr(os, "getpid", lambda: 1)
        load("wf_pid1_sigterm")  # PID 1, but the program has its own handler
        assert signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_pth_file_imports_the_hook() -> None:
    assert (COMMON / "wf_pid1_sigterm.pth").read_text() == "import wf_pid1_sigterm\n"


def fake_venv(root: Path) -> Path:
    site = root / "lib" / "python3.11" / "site-packages"
    files = {
        "torch/__init__.py": "X = 1\n",
        "torch/test/op_registration_test": "binary",
        "torch/include/ATen/ATen.h": "// header",
        "torch/share/cmake/Torch/TorchConfig.cmake": "",
        "torch/bin/test_api": "binary",
        "torch/bin/HashStoreTest": "binary",
        "torch/bin/torch_shm_manager": "binary",
        "torch/testing/_internal/py312_intrinsics.py": "def f[T](a): ...\n",  # 3.12-only syntax
        "torch/testing/__init__.py": "",
        "numpy/__init__.py": "",
        "numpy/_core/tests/test_multiarray.py": "def test(): ...\n",
        "numpy/testing/__init__.py": "",
        "numpy/__pycache__/stale.cpython-311.pyc": "stale",
        "sympy/__init__.py": "",
        "torch/_inductor/__init__.py": "",
    }
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    (root / "bin").mkdir()
    (root / "bin" / "python").symlink_to(sys.executable)
    return site


def test_slim_venv_removes_tests_and_headers_and_compiles(tmp_path: Path) -> None:
    site = fake_venv(tmp_path / "venv")
    result = subprocess.run(
        ["sh", str(COMMON / "slim-venv.sh"), str(tmp_path / "venv")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    kept = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
    assert "torch/bin/torch_shm_manager" in kept
    assert "torch/testing/_internal/py312_intrinsics.py" in kept  # left as source, not compiled
    for gone in ("torch/test/", "torch/include/", "torch/share/", "torch/bin/test_api",
                 "torch/bin/HashStoreTest", "numpy/_core/tests/", "stale.cpython"):  # fmt: skip
        assert not [p for p in kept if gone in p], gone
    tag = sys.implementation.cache_tag
    pyc = site / "torch" / "__pycache__" / f"__init__.{tag}.pyc"
    # unchecked-hash .pyc: flags word 0b01 (hash-based, do not check the source).
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01
    assert (site / "numpy" / "testing" / "__pycache__" / f"__init__.{tag}.pyc").exists()
    # Not imported at start-up: left as source.
    assert not (site / "sympy" / "__pycache__").exists()
    assert not (site / "torch" / "_inductor" / "__pycache__").exists()


def test_probe_default_address_comes_from_the_image(
    health_server: tuple[str, health.HealthServicer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # docker/service/Dockerfile sets WF_GRPC_HEALTH_TARGET to the program's port, so that one
    # HEALTHCHECK line (no address) serves both service images.
    target, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    monkeypatch.setenv("WF_GRPC_HEALTH_TARGET", target)
    assert load("wf_grpc_health").main([]) == 0
