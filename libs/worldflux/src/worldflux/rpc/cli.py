"""Command-line flags every WorldFlux server shares, and the ready line supervisors wait for."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from worldflux.rpc.channel import DEFAULT_MAX_MESSAGE_MB, ServerTLS
from worldflux.rpc.server import ServerConfig

log = logging.getLogger(__name__)


def key_value(text: str) -> tuple[str, Any]:
    """argparse type for `--set KEY=VALUE`: VALUE read as JSON (numbers, booleans, lists),
    anything else kept as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set {text!r}: use KEY=VALUE (VALUE parsed as JSON)")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_server_arguments(parser: argparse.ArgumentParser, default_port: int) -> None:
    net = parser.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to bind (loopback by default)")
    net.add_argument("--port", type=int, default=default_port, help="0 picks a free port")
    net.add_argument(
        "--token",
        help="require 'authorization: Bearer TOKEN' on every call except health checks "
        "(default: env WF_TOKEN)",
    )
    net.add_argument(
        "--token-file", type=Path, help="read the token from a file (keeps it out of `ps`)"
    )
    net.add_argument("--tls-cert", type=Path, help="PEM certificate chain (TLS with --tls-key)")
    net.add_argument("--tls-key", type=Path, help="PEM private key")
    net.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics (0: any free)")
    net.add_argument("--max-message-mb", type=float, default=DEFAULT_MAX_MESSAGE_MB)
    net.add_argument("--workers", type=int, default=8, help="gRPC handler threads")
    net.add_argument(
        "--max-concurrent-rpcs", type=int, default=64, help="beyond: RESOURCE_EXHAUSTED"
    )
    net.add_argument("--grace-s", type=float, default=10.0, help="drain time after SIGTERM")
    parser.add_argument("--log-level", default="INFO")


def token_from_args(args: argparse.Namespace) -> str | None:
    if args.token_file is not None:
        return Path(args.token_file).read_text().strip() or None
    return args.token or os.environ.get("WF_TOKEN") or None


def server_config_from_args(args: argparse.Namespace, prog: str) -> ServerConfig:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise SystemExit(f"{prog}: --tls-cert and --tls-key go together")
    return ServerConfig(
        host=args.host,
        port=args.port,
        token=token_from_args(args),
        tls=ServerTLS(args.tls_cert, args.tls_key) if args.tls_cert else None,
        metrics_port=args.metrics_port,
        max_message_mb=args.max_message_mb,
        max_workers=args.workers,
        max_concurrent_rpcs=args.max_concurrent_rpcs,
        grace_s=args.grace_s,
    )


def announce(
    service: str, config: ServerConfig, port: int, metrics_port: int | None, **fields: Any
) -> None:
    """Log and print the ready line: one JSON object on stdout once calls are accepted."""
    ready = {
        "event": "serving",
        "service": service,
        "host": config.host,
        "port": port,
        "metrics_port": metrics_port,
        "tls": config.tls is not None,
        "auth": bool(config.token),
        **fields,
    }
    log.info("serving", extra=ready)
    print(json.dumps(ready), flush=True)
