"""Channel and transport settings shared by clients and servers: message sizes, TLS, tokens.

gRPC's default 4 MiB receive limit is smaller than one realistic rollout answer (512 candidates x
3 steps x a 512-wide latent is 3 MiB per latent tensor, pixel observations are 48 KiB each), so
both sides raise it to the same configurable figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

DEFAULT_MAX_MESSAGE_MB = 64
AUTHORIZATION = "authorization"


def message_size_options(max_message_mb: float = DEFAULT_MAX_MESSAGE_MB) -> list[tuple[str, int]]:
    limit = int(max_message_mb * (1 << 20))
    if limit <= 0:
        raise ValueError(f"max message size must be positive, got {max_message_mb} MB")
    return [("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)]


def client_options(max_message_mb: float = DEFAULT_MAX_MESSAGE_MB) -> list[tuple[str, int]]:
    # Short reconnect backoff: a replica that comes back is used again within seconds, not the
    # default two minutes. Failover itself never waits on this (calls fail fast, not queued).
    return [
        *message_size_options(max_message_mb),
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]


@dataclass(frozen=True)
class ClientTLS:
    """Server verification for a client: the CA (or self-signed cert) PEM file to trust.

    `server_name` overrides the name checked against the certificate (when the target is an IP
    address the certificate does not list).
    """

    root_cert: Path | None = None
    server_name: str | None = None
    # Mutual TLS: this client's own certificate chain and key (both or neither).
    cert: Path | None = None
    key: Path | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        if (self.cert is None) != (self.key is None):
            raise ValueError("a client certificate and its key go together")
        root = Path(self.root_cert).read_bytes() if self.root_cert else None
        if self.cert is None or self.key is None:
            return grpc.ssl_channel_credentials(root_certificates=root)
        return grpc.ssl_channel_credentials(
            root_certificates=root,
            private_key=Path(self.key).read_bytes(),
            certificate_chain=Path(self.cert).read_bytes(),
        )


@dataclass(frozen=True)
class ServerTLS:
    """Server certificate and key; with `client_ca`, mutual TLS: every client must present a
    certificate signed by that CA (checked in the handshake, before any call)."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        files = [("certificate", self.cert), ("private key", self.key)]
        if self.client_ca is not None:
            files.append(("client CA", self.client_ca))
        for name, path in files:
            if not Path(path).is_file():
                raise FileNotFoundError(f"TLS {name} file {path} does not exist")
        pair = [(Path(self.key).read_bytes(), Path(self.cert).read_bytes())]
        if self.client_ca is None:
            return grpc.ssl_server_credentials(pair)
        return grpc.ssl_server_credentials(
            pair,
            root_certificates=Path(self.client_ca).read_bytes(),
            require_client_auth=True,
        )


def bearer_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying the token (works on plaintext loopback and TLS channels alike)."""
    return ((AUTHORIZATION, f"Bearer {token}"),) if token else ()


def create_channel(
    target: str,
    *,
    tls: ClientTLS | None = None,
    max_message_mb: float = DEFAULT_MAX_MESSAGE_MB,
) -> grpc.Channel:
    """A channel to `target` (host:port or a gRPC URI such as dns:///host:port).

    DNS targets that resolve to several addresses spread calls over them with round_robin.
    """
    options: list[tuple[str, int | str]] = list(client_options(max_message_mb))
    options.append(("grpc.lb_policy_name", "round_robin"))
    if tls is None:
        return grpc.insecure_channel(target, options=options)
    if tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.secure_channel(target, tls.credentials(), options=options)
