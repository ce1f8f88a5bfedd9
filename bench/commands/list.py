"""``bench list``: every registered inpainter, recognizer and metric, with the package it comes from."""
from __future__ import annotations

import argparse

from bench import registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", nargs="?", choices=sorted(registry.GROUPS), help="list only this kind")


def run(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else list(registry.GROUPS)
    for kind in kinds:
        print(f"{kind}s ({registry.GROUPS[kind]}):")
        for name, origin in registry.available(kind).items():
            print(f"  {name:<16} {origin}")
    return 0
