"""gRPC health probe for the service images: exit status 0 only when the server says SERVING.

    python3 -m wf_grpc_health [--service NAME] [--timeout SECONDS] [--tls-ca PEM
                              [--tls-server-name NAME]] [HOST:PORT]

Docker's HEALTHCHECK, the compose file's health checks and the container smoke tests run it (the
Kubernetes manifests use the kubelet's built-in gRPC probe instead). It is a module of the image's
venv rather than a subcommand of the services so that one probe serves every service image and
speaks only the standard grpc.health.v1 protocol.
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def _channel(args: argparse.Namespace) -> grpc.Channel:
    if args.tls_ca is None:
        return grpc.insecure_channel(args.target)
    with open(args.tls_ca, "rb") as handle:
        credentials = grpc.ssl_channel_credentials(root_certificates=handle.read())
    options = []
    if args.tls_server_name:
        options.append(("grpc.ssl_target_name_override", args.tls_server_name))
    return grpc.secure_channel(args.target, credentials, options=options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wf_grpc_health", description=__doc__.splitlines()[0])
    # The service images set WF_GRPC_HEALTH_TARGET to their own default port (docker/service).
    default = os.environ.get("WF_GRPC_HEALTH_TARGET", "127.0.0.1:50061")
    parser.add_argument("target", nargs="?", default=default, help=f"HOST:PORT (default {default})")
    parser.add_argument("--service", default="", help="service name; empty: the whole server")
    parser.add_argument("--timeout", type=float, default=3.0, help="deadline in seconds")
    parser.add_argument("--tls-ca", help="PEM to verify a TLS server (plaintext without)")
    parser.add_argument("--tls-server-name", help="name to check in the server's certificate")
    args = parser.parse_args(argv)
    request = health_pb2.HealthCheckRequest(service=args.service)
    try:
        with _channel(args) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(request, timeout=args.timeout)
    except grpc.RpcError as exc:
        print(f"{args.target}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{args.target}: {status}")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
