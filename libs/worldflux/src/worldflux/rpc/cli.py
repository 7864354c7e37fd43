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
from worldflux.rpc.streams import StreamLimits

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
    net.add_argument("--token", help=argparse.SUPPRESS)  # refused: see token_from_args
    net.add_argument(
        "--token-file",
        type=Path,
        help="require 'authorization: Bearer TOKEN' on every call except health checks and "
        "reflection, TOKEN read from this file (or from env WF_TOKEN)",
    )
    net.add_argument(
        "--allow-no-auth",
        action="store_true",
        help="serve without a token on a non-loopback address (refused otherwise)",
    )
    net.add_argument("--tls-cert", type=Path, help="PEM certificate chain (TLS with --tls-key)")
    net.add_argument("--tls-key", type=Path, help="PEM private key")
    net.add_argument(
        "--tls-client-ca", type=Path, help="mutual TLS: require client certificates from this CA"
    )
    net.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics (0: any free)")
    net.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address of the /metrics listener, separate from --host (loopback by default)",
    )
    net.add_argument("--max-message-mb", type=float, default=DEFAULT_MAX_MESSAGE_MB)
    net.add_argument("--workers", type=int, default=8, help="gRPC handler threads")
    net.add_argument(
        "--max-concurrent-rpcs", type=int, default=64, help="beyond: RESOURCE_EXHAUSTED"
    )
    net.add_argument(
        "--grace-s",
        type=float,
        default=10.0,
        help="after SIGTERM the process exits within this (in-flight calls are cancelled at 80%%)",
    )
    net.add_argument(
        "--max-streams", type=int, default=StreamLimits.max_streams, help="open streams in all"
    )
    net.add_argument(
        "--max-streams-per-peer",
        type=int,
        default=StreamLimits.max_streams_per_peer,
        help="open streams per client host",
    )
    net.add_argument(
        "--stream-idle-s",
        type=float,
        default=StreamLimits.idle_timeout_s,
        help="cancel a stream with no message either way for this long",
    )
    net.add_argument(
        "--first-message-s",
        type=float,
        default=StreamLimits.first_message_s,
        help="a unary call whose request message has not come by then is cancelled",
    )
    net.add_argument(
        "--max-connection-age-s",
        type=float,
        default=300.0,
        help="close connections after this long so that DNS round-robin sees new replicas",
    )
    parser.add_argument("--log-level", default="INFO")


class StartupError(SystemExit):
    """A setting that makes the server refuse to start, with the reason as its message."""


def read_token(prog: str, path: Path | None, env_var: str, flag: str) -> str | None:
    """The bearer token from `path` or the environment variable; None when neither is set.

    Fails closed: an unreadable or empty file, or a variable that is set but empty, refuses to
    start instead of silently serving without auth. Surrounding whitespace (a trailing newline
    in a Secret) is dropped.
    """
    if path is not None:
        try:
            token = Path(path).read_text().strip()
        except (OSError, UnicodeDecodeError) as err:
            raise StartupError(f"{prog}: cannot read {flag} {path}: {err}") from None
        if not token:
            raise StartupError(f"{prog}: {flag} {path} is empty; refusing to start without auth")
        return token
    value = os.environ.get(env_var)
    if value is None:
        return None
    if not value.strip():
        raise StartupError(
            f"{prog}: {env_var} is set but empty; set a token or unset it to run without auth"
        )
    return value.strip()


def token_from_args(args: argparse.Namespace, prog: str = "server") -> str | None:
    if args.token is not None:
        raise StartupError(
            f"{prog}: --token on the command line is visible to every user in `ps`; "
            "use --token-file PATH or the WF_TOKEN environment variable"
        )
    return read_token(prog, args.token_file, "WF_TOKEN", "--token-file")


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def server_config_from_args(args: argparse.Namespace, prog: str) -> ServerConfig:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise StartupError(f"{prog}: --tls-cert and --tls-key go together")
    if args.tls_client_ca is not None and args.tls_cert is None:
        raise StartupError(f"{prog}: --tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
    for flag, path in (
        ("--tls-cert", args.tls_cert),
        ("--tls-key", args.tls_key),
        ("--tls-client-ca", args.tls_client_ca),
    ):
        if path is not None and not Path(path).is_file():
            raise StartupError(f"{prog}: {flag} {path} is not a readable file")
    token = token_from_args(args, prog)
    if token is None and not is_loopback(args.host) and not args.allow_no_auth:
        raise StartupError(
            f"{prog}: binding {args.host} without a token would let anyone on the network in; "
            "give --token-file or WF_TOKEN (or --allow-no-auth to mean it)"
        )
    try:
        streams = StreamLimits(
            max_streams=args.max_streams,
            max_streams_per_peer=args.max_streams_per_peer,
            idle_timeout_s=args.stream_idle_s,
            first_message_s=args.first_message_s,
        )
    except ValueError as err:
        raise StartupError(f"{prog}: {err}") from None
    return ServerConfig(
        host=args.host,
        port=args.port,
        token=token,
        tls=(
            ServerTLS(args.tls_cert, args.tls_key, client_ca=args.tls_client_ca)
            if args.tls_cert
            else None
        ),
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        max_message_mb=args.max_message_mb,
        max_workers=args.workers,
        max_concurrent_rpcs=args.max_concurrent_rpcs,
        grace_s=args.grace_s,
        streams=streams,
        max_connection_age_s=args.max_connection_age_s if args.max_connection_age_s > 0 else None,
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
        "mtls": config.tls is not None and config.tls.client_ca is not None,
        "auth": bool(config.token),
        **fields,
    }
    log.info("serving", extra=ready)
    print(json.dumps(ready), flush=True)
