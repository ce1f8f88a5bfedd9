"""``bench report RUN_DIR``: re-render the tables, plots and HTML report of a finished run."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.api import BenchError
from bench.report import FORMATS, render


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="results folder of a finished run (results/<protocol name>)")
    parser.add_argument("--format", default=",".join(FORMATS), metavar="LIST",
                        help=f"comma-separated subset of {','.join(FORMATS)} (default: all); "
                             "md: summary.md, tex: table.tex, csv: table.csv, html: report.html, "
                             "plots: plots/*.png and *.pdf")


def run(args: argparse.Namespace) -> int:
    formats = {f.strip() for f in args.format.split(",") if f.strip()}
    if not formats:
        raise BenchError("--format: name at least one of " + ", ".join(FORMATS))
    start = time.perf_counter()
    written = render(args.run_dir, formats)
    elapsed = time.perf_counter() - start
    for path in written:
        print(path)
    print(f"bench report: wrote {len(written)} files in {elapsed:.1f} s")
    return 0
