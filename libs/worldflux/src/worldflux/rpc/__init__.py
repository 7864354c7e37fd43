"""The wire API in Python: tensor codec, core <-> proto conversions, RemoteDynamics, servers."""

from worldflux.rpc.channel import ClientTLS, ServerTLS, bearer_metadata, create_channel
from worldflux.rpc.codec import TensorCodecError, TensorTooLargeError, decode_tensor, encode_tensor
from worldflux.rpc.errors import (
    ContractChangedError,
    DeadlineError,
    NoReplicaError,
    RemoteError,
    RequestTooLargeError,
    status_for,
)
from worldflux.rpc.remote import CallScope, RemoteDynamics
from worldflux.rpc.server import (
    RunningServer,
    ServerConfig,
    Service,
    guarded,
    serve_until_signal,
    start_server,
)

__all__ = [
    "CallScope",
    "ClientTLS",
    "ContractChangedError",
    "DeadlineError",
    "NoReplicaError",
    "RemoteDynamics",
    "RemoteError",
    "RequestTooLargeError",
    "RunningServer",
    "ServerConfig",
    "ServerTLS",
    "Service",
    "TensorCodecError",
    "TensorTooLargeError",
    "bearer_metadata",
    "create_channel",
    "decode_tensor",
    "encode_tensor",
    "guarded",
    "serve_until_signal",
    "start_server",
    "status_for",
]
