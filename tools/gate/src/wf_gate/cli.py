"""wf-gate: trains each model family over several seeds and says, with honest statistics,
whether it is ready to release (see docs/content/quality-gates.md)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import worldflux
from wf_gate import display, markdown, models, plots
from wf_gate.extensibility import core_untouched
from worldflux.core import UnknownModelError
from worldflux.gates import (
    GateSettings,
    MeasureError,
    MeasureSettings,
    Report,
    ReportError,
    Shard,
    estimate,
    failures,
    measure,
    merge_reports,
    model_rates,
    not_measured,
    parse_scenarios,
    read_report,
    write_report,
)
from worldflux.gates.contract import run_contract_suite
from worldflux.gates.estimate import wall_seconds
from worldflux.gates.measure import import_families
from worldflux.gates.settings import DEFAULT_SKILL_HORIZON, SCHEDULES, ControlSettings

DEFAULT_OUTPUT = Path("reports/quality-gates/seed_runs.json")
# The short measurement of the README's main job: both reference families, three seeds.
DEFAULT_MODELS = models.REFERENCE
DEFAULT_SEEDS = "0,1,2"
DEFAULT_STEPS = 1000
# `measure` keeps every family's own configuration, tuned for hundreds of thousands of updates.
# The short main job (`demo`) trains with a short-run optimizer (cosine decay over the run, and
# the learning rates below) unless --config / --schedule / --steps / --family-steps are given;
# the report records all of it and its Markdown says these are not the family's own values.
# Measured on pendulum, 2-core CPU, prediction skill over 10 open-loop steps (gates.skill):
# DreamerV3's official lr 4e-5 after 1000 warmup steps barely moves in 400 steps, while lr 1e-3
# without warmup reaches obs skill 44% and reward skill 54% by step 300. TD-MPC2 at its own lr
# 3e-4 needs about 900 steps before its predictions depend on the actions (+3% error with
# shuffled actions at step 800, +16% at 900); at lr 1e-3 with a constant rate seed 1 fell back
# to +0.1% at step 500 after +8% at step 400, with cosine decay it ended at +10% (seed 2: +20%).
# Seed variance needs longer: at 800 steps DreamerV3's final held-out loss (its critic terms)
# varied by 10.7% over 3 seeds, at 1000 steps (16 held-out batches) by 5.4%; TD-MPC2 at 1000
# steps by 13.9%, at 2000 by 3.5%.
DEMO_CONFIG = ("dreamerv3.lr=1e-3", "dreamerv3.warmup=0", "tdmpc2.lr=1e-3")
DEMO_FAMILY_STEPS = ("tdmpc2=2000",)
DEMO_SCHEDULE = "cosine"
DEFAULT_SCENARIOS = "5x5000,7x10000,10x10000,7x20000,10x20000"
EXIT_FAIL = 1
EXIT_ERROR = 2
EXIT_INSUFFICIENT = 3


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return values


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


# Every GateSettings field is a CLI option of measure, check, report and demo; the values used
# are recorded in the report's gate_settings.
GATE_OPTION_HELP = {
    "min_success_rate": "share of seeds that must succeed",
    "min_loss_drop": "held-out loss drop that a successful run needs",
    "min_skill": "skill (1 - model error / best baseline error) every primary metric needs",
    "min_action_gain": "rise of the prediction error with shuffled actions that shows action "
    "dependence",
    "min_seeds": "seeds a verdict needs (fewer: insufficient evidence, exit 3)",
    "min_ci_low": "least exact (Clopper-Pearson) lower bound of the success rate",
    "confidence": "confidence level of both intervals",
    "bootstrap_resamples": "bootstrap resamples",
    "bootstrap_seed": "bootstrap random seed",
    "family_min_fraction": "share of seeds that must meet the family criterion",
    "trend_min_drop": "relative fall of a family trend metric (token, diffusion, JEPA)",
    "min_embedding_std": "embedding spread below which a JEPA representation has collapsed",
    "max_seed_cv": "largest coefficient of variation of final losses",
    "stability_tolerance": "largest relative difference of a rerun seed (off CPU)",
    "require_identical_on_cpu": "a deterministic CPU rerun must repeat bit for bit",
    "parity_atol": "absolute tolerance of save/load parity",
    "parity_rtol": "relative tolerance of save/load parity",
}


def _add_gate_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("gate thresholds (defaults from the quality-gates policy)")
    defaults = GateSettings()
    for f in dataclasses.fields(GateSettings):
        default = getattr(defaults, f.name)
        text = f"{GATE_OPTION_HELP[f.name]} (default {default})"
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            group.add_argument(flag, type=type(default), default=None, help=text)


def _gate_settings(args: argparse.Namespace, base: GateSettings | None = None) -> GateSettings:
    base = base or GateSettings()
    changes = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(GateSettings)
        if getattr(args, f.name, None) is not None
    }
    return dataclasses.replace(base, **changes)


def _add_measure_options(parser: argparse.ArgumentParser, output: bool = True) -> None:
    parser.add_argument(
        "--models",
        type=_csv,
        default=_csv(DEFAULT_MODELS),
        help="families or aliases (trained at --size), family:size ids, 'all', or "
        "'reference' (the families of the reference gate kind; the default)",
    )
    parser.add_argument("--size", default="ci", help="size for models named without one (ci)")
    parser.add_argument("--seeds", type=_int_list, default=_int_list(DEFAULT_SEEDS))
    parser.add_argument(
        "--steps", type=int, default=None, help=f"training steps per run (default {DEFAULT_STEPS})"
    )
    parser.add_argument(
        "--family-steps",
        action="append",
        default=[],
        metavar="FAMILY=STEPS",
        help="another step budget for one family (repeatable; recorded in the report)",
    )
    parser.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=None,
        help="learning rate after each family's warmup: its own constant rate, or cosine decay "
        "over the run so that a short run ends settled (measure: constant; demo: cosine)",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=16)
    parser.add_argument(
        "--eval-batches", type=int, default=16, help="held-out batches per evaluation"
    )
    parser.add_argument(
        "--curve-points", type=int, default=5, help="held-out evaluations along a run"
    )
    parser.add_argument(
        "--skill-horizon",
        type=int,
        default=None,
        help="open-loop steps of the prediction-skill metrics, at most --seq-len - 2 (default "
        f"{DEFAULT_SKILL_HORIZON}, or --seq-len - 2 when that is shorter)",
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... or auto")
    parser.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="FAMILY=DATASET",
        help="train FAMILY on another bundled dataset, or on your own recordings: a .npz file "
        "or a folder with train.npz and heldout.npz (repeatable; format in the docs)",
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FAMILY.FIELD=VALUE",
        help="override a family's config field (repeatable; recorded in the report)",
    )
    parser.add_argument(
        "--rerun-seed", type=int, default=None, help="seed rerun for seed stability (first seed)"
    )
    parser.add_argument("--no-rerun", action="store_true", help="skip the seed-stability rerun")
    parser.add_argument(
        "--checks",
        type=_csv,
        default=["contract", "save_load_parity", "planner"],
        help="per-run checks (contract,save_load_parity,planner)",
    )
    parser.add_argument(
        "--no-deterministic", action="store_true", help="allow nondeterministic kernels"
    )
    control = parser.add_argument_group("control gate (online runs on a gymnasium env)")
    control.add_argument(
        "--control",
        default=None,
        metavar="ENV:THRESHOLD",
        help="also train each seed's model online on ENV and gate on its mean evaluation "
        "return being above THRESHOLD (e.g. Pendulum-v1:-250)",
    )
    control.add_argument(
        "--control-env-steps", type=int, default=None, help="env steps of each online run (5000)"
    )
    control.add_argument(
        "--control-seed-steps",
        type=int,
        default=None,
        help="random-action env steps before the agent acts (1000)",
    )
    control.add_argument(
        "--control-set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="another online-run setting, VALUE as JSON: utd_ratio, batch_size, seq_len, "
        "eval_episodes, num_envs, max_episode_steps, planner, planner_settings (repeatable)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="parallel worker processes; 0 runs in this process (debugging)",
    )
    parser.add_argument("--threads-per-worker", type=int, default=None, help="torch threads each")
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (registers a family that is not installed as a plugin)",
    )
    parser.add_argument(
        "--backend",
        default=None,
        metavar="NAME",
        help="a registered training backend (default: library); --import loads one's module",
    )
    parser.add_argument("--no-progress", action="store_true", help="no live progress display")
    if output:
        parser.add_argument("--output", "-o", type=Path, default=DEFAULT_OUTPUT)
        parser.add_argument("--append", action="store_true", help="resume: skip recorded runs")
        parser.add_argument("--overwrite", action="store_true", help="replace an existing report")
        parser.add_argument("--shard", type=_shard, default=None, metavar="I/N")
        parser.add_argument(
            "--no-report",
            action="store_true",
            help="skip summary.md and the plots beside --output (e.g. for shards)",
        )
    _add_gate_options(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wf-gate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the library and torch versions")
    sub.add_parser("list", help="families, their gate criteria and default datasets")
    sub.add_parser("gates", help="every registered gate and gate kind, in report order")
    p = sub.add_parser(
        "contract", help="the contract suite (spec, parity, planner, served, one step) per model"
    )
    p.add_argument("--models", type=_csv, default=_csv(models.ALL), help="ids (default: all)")
    p.add_argument("--size", default="ci", help="size for models named without one (ci)")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE")

    p = sub.add_parser(
        "extensibility",
        help="a family variant needs no core edit: git diff against --base, and its contract suite",
    )
    p.add_argument("--models", type=_csv, required=True, help="the variant's model ids")
    p.add_argument("--base", default="origin/main", help="revision the variant is added on top of")
    p.add_argument("--repo", type=Path, default=Path("."), help="the git checkout (default: .)")
    p.add_argument("--size", default="ci", help="size for models named without one (ci)")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE")

    p = sub.add_parser("measure", help="train every (model, seed) and record seed_runs.json")
    _add_measure_options(p)

    p = sub.add_parser("merge", help="combine shard reports into one")
    p.add_argument("inputs", nargs="+", type=Path)
    p.add_argument("--output", "-o", type=Path, default=DEFAULT_OUTPUT)

    p = sub.add_parser("estimate", help="runtime of bigger measurements from measured s/step")
    p.add_argument("--input", "-i", type=Path, default=DEFAULT_OUTPUT)
    p.add_argument("--scenarios", default=DEFAULT_SCENARIOS, help="SEEDSxSTEPS,...")
    p.add_argument("--workers", type=int, default=1, help="parallel workers for the wall time")

    p = sub.add_parser("check", help="exit 1 when any gate fails, printing which and why")
    p.add_argument("--input", "-i", type=Path, default=DEFAULT_OUTPUT)
    _add_gate_options(p)

    p = sub.add_parser("report", help="write the Markdown report and plots (PNG and SVG)")
    p.add_argument("--input", "-i", type=Path, default=DEFAULT_OUTPUT)
    p.add_argument("--output-dir", type=Path, default=None, help="default: beside the input")
    _add_gate_options(p)

    p = sub.add_parser(
        "demo", help="the main job: a short measure of the reference families, report and check"
    )
    _add_measure_options(p, output=False)
    p.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT.parent)
    return parser


# -- commands ---------------------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> MeasureSettings:
    import_families(args.imports)
    model_ids = models.resolve_models(args.models, args.size)
    datasets = models.datasets_for(model_ids, models.parse_dataset_overrides(args.dataset))

    rerun = (
        None
        if args.no_rerun
        else (args.rerun_seed if args.rerun_seed is not None else args.seeds[0])
    )
    return MeasureSettings(
        models=model_ids,
        seeds=args.seeds,
        steps=args.steps or DEFAULT_STEPS,
        family_steps=models.parse_family_steps(args.family_steps),
        schedule=args.schedule or "constant",
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        eval_batches=args.eval_batches,
        skill_horizon=args.skill_horizon,
        curve_points=args.curve_points,
        device=models.resolve_device(args.device),
        deterministic=not args.no_deterministic,
        datasets=datasets,
        rerun_seed=rerun,
        checks=args.checks,
        overrides=models.parse_config_overrides(args.config),
        control=_control(args),
    )


def _control(args: argparse.Namespace) -> dict[str, Any] | None:
    """--control and its options as ControlSettings (a dict), or None without --control."""
    extra: dict[str, Any] = {}
    for item in args.control_set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--control-set {item!r}: use FIELD=VALUE")
        try:
            extra[key] = json.loads(value)
        except json.JSONDecodeError:
            extra[key] = value
    if args.control_env_steps is not None:
        extra["env_steps"] = args.control_env_steps
    if args.control_seed_steps is not None:
        extra["seed_steps"] = args.control_seed_steps
    if args.control is None:
        if extra:
            raise ValueError("--control-* options need --control ENV:THRESHOLD")
        return None
    unknown = sorted(set(extra) - {f.name for f in dataclasses.fields(ControlSettings)})
    if unknown or {"env_id", "threshold"} & set(extra):
        raise ValueError(
            f"--control-set: unknown or reserved field(s) {unknown or ['env_id/threshold']}; "
            "give the env and threshold with --control ENV:THRESHOLD"
        )
    return ControlSettings.parse(args.control, **extra).to_dict()


def _measure(args: argparse.Namespace, output: Path, overwrite: bool) -> Report:
    console = display.make_console()
    settings = _settings(args)
    console.print(
        f"measuring {', '.join(settings.models)} on "
        f"{', '.join(f'{k}={v}' for k, v in settings.datasets.items())}: seeds {settings.seeds}, "
        f"{settings.steps} steps, device {settings.device}, {args.workers} worker(s) -> {output}"
    )
    for family, fields in settings.overrides.items():
        console.print(f"config overrides for {family}: {fields}", markup=False)
    with display.ProgressDisplay(console, enabled=not args.no_progress) as progress:
        report = measure(
            settings,
            _gate_settings(args),
            output,
            append=getattr(args, "append", False),
            overwrite=overwrite,
            workers=args.workers,
            shard=getattr(args, "shard", None),
            backend=args.backend,
            imports=args.imports,
            threads_per_worker=args.threads_per_worker,
            events=progress,
        )
    console.print(display.summary_table(report.summary()))
    missing = report.missing_ids()
    if missing:
        console.print(f"{len(missing)} planned run(s) not recorded: {', '.join(missing)}")
    return report


def cmd_measure(args: argparse.Namespace) -> int:
    report = _measure(args, args.output, args.overwrite)
    if not args.no_report:
        path = write_markdown_report(report, args.output.parent)
        display.make_console().print(f"wrote {path} and its figures")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    merged = merge_reports(read_report(path) for path in args.inputs)
    write_report(merged, args.output)
    console = display.make_console()
    console.print(
        f"merged {len(args.inputs)} report(s), {len(merged.runs)} run(s) -> {args.output}"
        + ("" if merged.complete else f"; still missing: {', '.join(merged.missing_ids())}")
    )
    return 0


def cmd_estimate(args: argparse.Namespace) -> int:
    report = read_report(args.input)
    rates = model_rates(report.runs.values())
    if not rates:
        raise ReportError(f"{args.input}: no finished training run to take a rate from")
    scenarios = parse_scenarios(args.scenarios)
    estimates = estimate(rates, scenarios)
    console = display.make_console()
    console.print(display.estimate_table(rates, estimates))
    for scenario in scenarios:
        group = [e for e in estimates if e.scenario == scenario]
        total = sum(e.total_seconds for e in group)
        evals = sum(e.eval_seconds for e in group)
        console.print(
            f"{scenario}: all models {display.duration(total)} in one process "
            f"(of which evaluation {display.duration(evals)}); with {args.workers} worker(s) "
            f"about {display.duration(wall_seconds(group, args.workers))}"
        )
    console.print(
        f"rates measured on device {report.settings.device} from {len(report.runs)} run(s); "
        "a seed-stability rerun adds one more run per model"
    )
    return 0


def _judged(args: argparse.Namespace) -> Report:
    """The report under its recorded thresholds and the ones given now; the seeds a verdict
    needs are the policy's unless given now (a short run's setting never carries over)."""
    report = read_report(args.input)
    recorded = dataclasses.replace(report.gate_settings, min_seeds=GateSettings().min_seeds)
    return report.with_gate_settings(_gate_settings(args, recorded))


def _print_check(report: Report, table: bool = True, release: bool = True) -> int:
    """Print every failing and unmeasured gate and one verdict line per model; return the exit
    status: 1 when a gate fails, 3 when nothing failed but the evidence is insufficient."""
    console = display.make_console()
    summary = report.summary()
    if table:  # (a measurement has just printed it)
        console.print(display.summary_table(summary))
    problems = failures(summary)
    for line in problems:
        console.print(f"FAIL {line}", markup=False, highlight=False)
    for line in not_measured(summary):
        console.print(f"NOT MEASURED {line}", markup=False, highlight=False)
    for model, block in summary.items():
        common = block["gates"]["common"]
        console.print(
            f"verdict {model}: {block['verdict'].upper()} ({block['successes']}/{block['runs']} "
            f"seeds succeeded; exact {common['confidence']:.0%} lower bound of the success rate "
            f"{common['exact_ci_low']:.3f})",
            markup=False,
            highlight=False,
        )
    if problems:
        console.print(f"{len(problems)} gate failure(s)")
        return EXIT_FAIL
    if any(block["verdict"] != "pass" for block in summary.values()):
        console.print(
            "insufficient evidence: no gate failed, but a verdict needs every gate measured "
            f"and at least {report.gate_settings.min_seeds} seeds"
            + ("" if release else " (set --min-seeds for a shorter run)")
        )
        return EXIT_INSUFFICIENT
    console.print("all gates passed")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    return _print_check(_judged(args))


def write_markdown_report(report: Report, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    figures = plots.loss_curves(report, directory)
    figures += plots.success_rates(
        report.summary(), report.gate_settings.min_success_rate, directory
    )
    path = directory / "summary.md"
    path.write_text(markdown.render(report, figures))
    return path


def cmd_report(args: argparse.Namespace) -> int:
    report = _judged(args)
    path = write_markdown_report(report, args.output_dir or args.input.parent)
    display.make_console().print(f"wrote {path} and its figures")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if not args.config:  # the short-run optimizer, for the measured families it concerns
        measured = {m.partition(":")[0] for m in models.resolve_models(args.models, args.size)}
        args.config = [c for c in DEMO_CONFIG if c.partition(".")[0] in measured]
    if args.steps is None and not args.family_steps:
        measured = {m.partition(":")[0] for m in models.resolve_models(args.models, args.size)}
        args.family_steps = [f for f in DEMO_FAMILY_STEPS if f.partition("=")[0] in measured]
    args.schedule = args.schedule or DEMO_SCHEDULE
    if args.min_seeds is None:  # a demo's verdict is over the seeds it ran, not a release's
        args.min_seeds = len(args.seeds)
    report = _measure(args, args.output_dir / DEFAULT_OUTPUT.name, overwrite=True)
    path = write_markdown_report(report, args.output_dir)
    code = _print_check(report, table=False, release=False)
    display.make_console().print(f"report: {path}; wall time {time.perf_counter() - start:.0f} s")
    return code


def cmd_extensibility(args: argparse.Namespace) -> int:
    """Exit 1 when the variant changed core files or fails its contract suite, 3 when the diff
    could not be measured."""
    import_families(args.imports)
    untouched = core_untouched(args.base, args.repo)
    verdict = {True: "pass", False: "FAIL", None: "NOT MEASURED"}[untouched.passed]
    print(f"{verdict} core untouched: {untouched.detail}")
    contract_code = cmd_contract(args)
    if untouched.passed is False or contract_code:
        return EXIT_FAIL
    return 0 if untouched.passed else EXIT_INSUFFICIENT


def cmd_contract(args: argparse.Namespace) -> int:
    """Exit 1 when any model fails a check of the contract suite."""
    import_families(args.imports)
    failures_seen = 0
    for model in models.resolve_models(args.models, args.size):
        for name, result in run_contract_suite(model).items():
            verdict = {True: "pass", False: "FAIL", None: "n/a"}[result.passed]
            failures_seen += result.passed is False
            print(f"{verdict} {model}: {name}: {result.detail}")
    return 1 if failures_seen else 0


COMMANDS = {
    "measure": cmd_measure,
    "merge": cmd_merge,
    "estimate": cmd_estimate,
    "check": cmd_check,
    "report": cmd_report,
    "demo": cmd_demo,
    "contract": cmd_contract,
    "extensibility": cmd_extensibility,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(f"worldflux {worldflux.__version__} torch {torch.__version__}")
        return 0
    if args.command in ("list", "gates"):
        rows = models.family_rows() if args.command == "list" else models.gate_rows()
        for row in rows:
            print("\t".join(row))
        return 0
    try:
        return COMMANDS[args.command](args)
    except (ReportError, MeasureError, UnknownModelError, ValueError) as err:
        print(f"wf-gate {args.command}: error: {err}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
