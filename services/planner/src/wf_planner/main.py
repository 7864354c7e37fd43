"""wf-planner: plan actions over one or more wf-dynamics replicas.

    wf-planner --dynamics 127.0.0.1:50061 --dynamics 127.0.0.1:50062 --port 50071
    WF_TOKEN=... WF_DYNAMICS_TOKEN=... wf-planner --dynamics dyn:50061 --planner mppi --horizon 3

The planner is chosen per model from its action kind unless --planner says otherwise ("auto":
MPPI with TD-MPC2's defaults for continuous actions, categorical CEM for discrete ones), so the
same command line serves whatever family the dynamics service hosts. Prints one JSON ready line
on stdout, logs JSON on stderr, drains on SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from wf_planner.readiness import Readiness
from wf_planner.servicer import PlannerServicer
from worldflux.core import ContractError
from worldflux.planners import AutoPlanner, Planner, make_planner, planner_names
from worldflux.rpc.channel import ClientTLS
from worldflux.rpc.cli import (
    StartupError,
    add_server_arguments,
    announce,
    key_value,
    read_token,
    server_config_from_args,
)
from worldflux.rpc.logs import configure_json_logging
from worldflux.rpc.remote import CALLER_INPUT, POLICIES, RemoteDynamics
from worldflux.rpc.server import exit_now, serve_until_signal, start_server

log = logging.getLogger("wf_planner")

# Flag -> planner config field; only flags given on the command line are passed, so every
# other setting keeps the planner's own default (MPPI: TD-MPC2's).
PLANNER_FLAGS = {
    "horizon": "horizon",
    "iterations": "iterations",
    "samples": "num_samples",
    "elites": "num_elites",
    "pi_trajs": "num_pi_trajs",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wf-planner",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    dyn = parser.add_argument_group("dynamics replicas")
    dyn.add_argument(
        "--dynamics",
        action="append",
        required=True,
        metavar="HOST:PORT",
        help="a wf-dynamics replica (repeatable; or one dns:///name:port target)",
    )
    dyn.add_argument("--dynamics-policy", choices=POLICIES, default="round_robin")
    dyn.add_argument(
        "--dynamics-timeout-s",
        type=float,
        default=5.0,
        help="deadline of one dynamics call (a hung replica costs at most this)",
    )
    dyn.add_argument("--dynamics-token", help=argparse.SUPPRESS)  # refused: see dynamics_token
    dyn.add_argument(
        "--dynamics-token-file",
        type=Path,
        help="token the planner sends to the dynamics (or env WF_DYNAMICS_TOKEN)",
    )
    dyn.add_argument("--dynamics-tls-ca", type=Path, help="PEM to verify TLS dynamics replicas")
    dyn.add_argument("--dynamics-tls-server-name", help="name to verify in their certificate")
    dyn.add_argument("--dynamics-tls-cert", type=Path, help="client certificate (mutual TLS)")
    dyn.add_argument("--dynamics-tls-key", type=Path, help="its private key (mutual TLS)")
    plan = parser.add_argument_group("planner")
    plan.add_argument("--planner", default="auto", help=f"one of {', '.join(planner_names())}")
    plan.add_argument("--horizon", type=int)
    plan.add_argument("--iterations", type=int)
    plan.add_argument("--samples", type=int, help="candidates per state and iteration")
    plan.add_argument("--elites", type=int)
    plan.add_argument("--pi-trajs", type=int, help="policy-prior candidates (MPPI)")
    plan.add_argument("--objective", choices=["auto", "return", "goal"], default="auto")
    plan.add_argument("--seed", type=int, default=0)
    plan.add_argument(
        "--set",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other planner setting, e.g. temperature=0.5 (repeatable)",
    )
    plan.add_argument(
        "--default-deadline-s",
        type=float,
        default=30.0,
        help="time budget of a plan whose caller sets no deadline",
    )
    add_server_arguments(parser, default_port=50071)
    return parser


def build_planner(args: argparse.Namespace) -> Planner | AutoPlanner:
    settings: dict[str, Any] = dict(args.set)
    for flag, key in PLANNER_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            settings[key] = value
    settings["seed"] = args.seed
    if args.objective != "auto":
        settings["objective"] = args.objective
    return make_planner(args.planner, **settings)


def dynamics_token(args: argparse.Namespace) -> str | None:
    """From a file or WF_DYNAMICS_TOKEN only (argv shows in `ps`); empty or unreadable fails."""
    if args.dynamics_token is not None:
        raise StartupError(
            "wf-planner: --dynamics-token on the command line is visible in `ps`; use "
            "--dynamics-token-file PATH or the WF_DYNAMICS_TOKEN environment variable"
        )
    return read_token(
        "wf-planner", args.dynamics_token_file, "WF_DYNAMICS_TOKEN", "--dynamics-token-file"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_json_logging(args.log_level)
    config = server_config_from_args(args, "wf-planner")
    try:
        planner = build_planner(args)
    except ContractError as err:
        raise SystemExit(f"wf-planner: {err}") from None
    if (args.dynamics_tls_cert is None) != (args.dynamics_tls_key is None):
        raise StartupError("wf-planner: --dynamics-tls-cert and --dynamics-tls-key go together")
    tls = (
        ClientTLS(
            args.dynamics_tls_ca,
            args.dynamics_tls_server_name,
            cert=args.dynamics_tls_cert,
            key=args.dynamics_tls_key,
        )
        if args.dynamics_tls_ca or args.dynamics_tls_server_name or args.dynamics_tls_cert
        else None
    )
    dynamics = RemoteDynamics(
        args.dynamics,
        token=dynamics_token(args),
        tls=tls,
        timeout_s=args.dynamics_timeout_s,
        policy=args.dynamics_policy,
        max_message_mb=args.max_message_mb,
        # Rollout/Propose requests are the planner's own: their refusal is a replica fault.
        caller_input=CALLER_INPUT,
    )
    servicer = PlannerServicer(
        planner,
        dynamics,
        seed=args.seed,
        default_deadline_s=args.default_deadline_s,
    )
    running = start_server("planner", [servicer.service()], config)
    readiness = Readiness(dynamics, running.health, servicer.service().descriptor.full_name).start()
    announce(
        "planner",
        config,
        running.port,
        running.metrics_port,
        planner=args.planner,
        dynamics=args.dynamics,
        dynamics_ready=readiness.ready,
    )
    serve_until_signal(running)
    readiness.stop()
    dynamics.close()
    exit_now(0)
    return 0  # (not reached)


if __name__ == "__main__":
    sys.exit(main())
