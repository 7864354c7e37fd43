"""Command line of wf-gate."""

from __future__ import annotations

import argparse
import sys

import torch

import worldflux


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wf-gate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the library and torch versions")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(f"worldflux {worldflux.__version__} torch {torch.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
