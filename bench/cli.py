"""The ``bench`` command line: one sub-command per module in ``bench/commands``."""
from __future__ import annotations

import argparse
import importlib
import sys

from bench.api import BenchError

COMMANDS = {
    "run": "Run a benchmark protocol (YAML) end to end; resumes a killed run.",
    "report": "Re-render tables, plots and the HTML report of a finished run.",
    "score": "Score a folder of candidate images against a folder of references.",
    "mask": "Occlude the faces of a folder with synthetic face masks.",
    "inpaint": "Remove the masks from a folder of photos (detect, align, inpaint, paste back), or of face crops.",
    "data": "Check or fetch datasets (LFW, CelebA).",
    "assets": "List, fetch and verify model weights.",
    "list": "List registered inpainters, recognizers and metrics.",
    "train": "Train the unpaired contrastive inpainting model.",
    "export": "Export a trained generator to ONNX, checked against torch.",
    "perf": "Measure the speed of every stage.",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``only``, just that sub-command's module is imported (fast start)."""
    parser = argparse.ArgumentParser(
        prog="bench",
        description="Masked-face inpainting benchmark: occlude faces, inpaint them, score the results.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text)
            continue
        try:
            module = importlib.import_module(f"bench.commands.{name.replace('-', '_')}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.commands.{name}":
                raise
            continue
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(first if first in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except BenchError as exc:
        print(f"bench {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"bench {args.command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
