"""Tables, plots and an HTML report of a finished run, made from its results files alone.

``render(run_dir)`` is what ``bench run`` calls at its end and what ``bench report`` calls on
any finished run; it never recomputes a score.
"""
from __future__ import annotations

import sys
from pathlib import Path

from bench.api import BenchError
from bench.atomic import write_text
from bench.report.html import to_html
from bench.report.load import RunResults, load_run
from bench.report.plots import PREFIXES, render_plots, train_logs
from bench.report.table_formats import to_csv, to_latex, to_markdown
from bench.report.tables import build_tables

#: What ``render`` can write: summary.md, table.tex, table.csv, report.html and plots/ (PNG + PDF).
FORMATS = ("md", "tex", "csv", "html", "plots")

__all__ = ["FORMATS", "RunResults", "load_run", "render"]


def _remove_stale_plots(folder: Path, written: list[Path]) -> None:
    """Drop figures of an earlier rendering that this one no longer makes (e.g. a method removed)."""
    keep = set(written)
    for path in folder.glob("*"):
        if path.suffix in (".png", ".pdf") and path.stem.startswith(PREFIXES) and path not in keep:
            path.unlink()


def render(run_dir: Path, formats: set[str] | None = None) -> list[Path]:
    """Write the report files of the run in ``run_dir``; return their paths.

    ``formats`` is a subset of ``FORMATS`` (default: all). Raises ``BenchError`` naming the
    missing or corrupt results file.
    """
    formats = set(FORMATS) if formats is None else set(formats)
    unknown = formats - set(FORMATS)
    if unknown:
        raise BenchError(f"unknown report format(s) {', '.join(sorted(unknown))}; choose from {', '.join(FORMATS)}")
    run = load_run(Path(run_dir))
    tables = build_tables(run)
    written = []
    for fmt, name, make in (("md", "summary.md", lambda: to_markdown(run, tables)),
                            ("tex", "table.tex", lambda: to_latex(run, tables)),
                            ("csv", "table.csv", lambda: to_csv(run))):
        if fmt in formats:
            write_text(run.root / name, make())
            written.append(run.root / name)
    if formats & {"plots", "html"}:
        logs, problems = train_logs(run)
        for problem in problems:
            print(f"bench report: warning: {problem}", file=sys.stderr)
        folder = run.root / "plots" if "plots" in formats else None
        plots = render_plots(run, folder, logs)
        if folder is not None:
            files = [path for plot in plots for path in plot.files]
            _remove_stale_plots(folder, files)
            written += files
        if "html" in formats:
            write_text(run.root / "report.html", to_html(run, tables, plots, problems))
            written.append(run.root / "report.html")
    return written
