"""wf-dynamics: serve one world model as worldflux.v1.DynamicsService.

    wf-dynamics --model tdmpc2:ci --obs-shape 3 --action-dim 1 --port 50061
    wf-dynamics --checkpoint runs/tdmpc2/ckpt --token-file /run/secrets/token --metrics-port 9101

Prints one JSON line {"event": "serving", "port": ..., "metrics_port": ...} on stdout once it
accepts calls (so a supervisor or test can use --port 0), logs JSON lines on stderr, and drains
gracefully on SIGTERM.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

import torch

from worldflux.core import WorldModel, create_world_model
from worldflux.rpc.cli import (
    add_server_arguments,
    announce,
    key_value,
    server_config_from_args,
)
from worldflux.rpc.dynamics_servicer import DynamicsLimits, DynamicsServicer
from worldflux.rpc.logs import configure_json_logging
from worldflux.rpc.server import exit_now, serve_until_signal, start_server

log = logging.getLogger("wf_dynamics")


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.replace("x", ",").split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape {text!r}: use e.g. 24 or 3,64,64") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wf-dynamics",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="model id family:size (fresh weights from --seed)")
    source.add_argument("--checkpoint", type=Path, help="checkpoint directory (save_pretrained)")
    model = parser.add_argument_group("model (with --model)")
    model.add_argument(
        "--obs-shape", type=_shape, help="per-sample observation shape, e.g. 3,64,64"
    )
    model.add_argument(
        "--action-dim", type=int, help="action width (number of choices if discrete)"
    )
    model.add_argument("--action-kind", choices=["continuous", "discrete"])
    model.add_argument(
        "--set",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other config field (repeatable)",
    )
    model.add_argument("--seed", type=int, default=0, help="weight init seed: replicas must match")
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (a family that registers itself); repeatable",
    )
    parser.add_argument("--device", default="cpu")
    add_server_arguments(parser, default_port=50061)
    limits = parser.add_argument_group("request limits (beyond: RESOURCE_EXHAUSTED)")
    limits.add_argument("--max-batch", type=int, default=DynamicsLimits.max_batch)
    limits.add_argument("--max-candidates", type=int, default=DynamicsLimits.max_candidates)
    limits.add_argument("--max-horizon", type=int, default=DynamicsLimits.max_horizon)
    limits.add_argument(
        "--max-request-mb",
        type=float,
        default=DynamicsLimits.max_request_mb,
        help="memory one Rollout/Propose may need, estimated from the model before it runs",
    )
    limits.add_argument(
        "--max-request-s",
        type=float,
        default=DynamicsLimits.max_request_s,
        help="model time one Rollout may take, estimated from a rollout timed at start-up",
    )
    limits.add_argument(
        "--chunk-mb",
        type=float,
        default=DynamicsLimits.chunk_mb,
        help="working set of one chunk of a large rollout (deadlines are checked between chunks)",
    )
    limits.add_argument(
        "--max-queued",
        type=int,
        default=DynamicsLimits.max_queued,
        help="calls that may wait for the model; the next one is refused at once",
    )
    return parser


def load_model(args: argparse.Namespace) -> WorldModel:
    for module in args.plugin:
        importlib.import_module(module)
    if args.checkpoint is not None:
        if not args.checkpoint.is_dir():
            raise SystemExit(f"wf-dynamics: checkpoint directory {args.checkpoint} does not exist")
        return create_world_model(args.checkpoint, device=args.device)
    # The built-in families register on import; the registry also finds entry-point plugins.
    import worldflux.models.catalog  # noqa: F401

    overrides = dict(args.set)
    for flag, key in (
        ("obs_shape", "obs_shape"),
        ("action_dim", "action_dim"),
        ("action_kind", "action_kind"),
    ):
        if getattr(args, flag) is not None:
            overrides[key] = getattr(args, flag)
    torch.manual_seed(args.seed)
    return create_world_model(args.model, device=args.device, **overrides)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_json_logging(args.log_level)
    config = server_config_from_args(args, "wf-dynamics")
    model = load_model(args)
    try:
        limits = DynamicsLimits(
            max_batch=args.max_batch,
            max_candidates=args.max_candidates,
            max_horizon=args.max_horizon,
            max_reply_mb=args.max_message_mb,
            max_request_mb=args.max_request_mb,
            chunk_mb=args.chunk_mb,
            max_queued=args.max_queued,
            max_request_s=args.max_request_s,
        )
    except ValueError as err:
        raise SystemExit(f"wf-dynamics: {err}") from None
    servicer = DynamicsServicer(model, limits)
    running = start_server("dynamics", [servicer.service()], config)
    announce(
        "dynamics",
        config,
        running.port,
        running.metrics_port,
        model_id=model.model_id,
        fingerprint=servicer.fingerprint,
    )
    serve_until_signal(running)
    exit_now(0)
    return 0  # (not reached)


if __name__ == "__main__":
    sys.exit(main())
