"""Validation curves of training runs against CPU time, and the table of equal-budget pilots.

``python -m inpaint.curves RUN.val.csv[=LABEL] ... --out curves.png`` draws KID, LPIPS and PSNR
inside the mask (the columns :mod:`inpaint.validate` writes) against the CPU minutes each run
spent in training steps, and prints a markdown table of every run at the largest CPU budget
that all of them reached (each run's validation nearest to it), so variants are compared at
equal compute.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from bench.api import BenchError

PANELS = (("kid", "KID (lower is better)"), ("lpips", "LPIPS (lower is better)"), ("psnr_mask", "PSNR in the mask, dB"))


def read_runs(specs: list[str]) -> dict[str, pd.DataFrame]:
    """``path[=label]`` -> the run's validation rows (label defaults to the file's run name)."""
    runs = {}
    for spec in specs:
        path, _, label = spec.partition("=")
        file = Path(path)
        if not file.is_file():
            raise BenchError(f"{file}: validation log not found")
        frame = pd.read_csv(file)
        missing = {"cpu_seconds", *(k for k, _ in PANELS)} - set(frame.columns)
        if missing:
            raise BenchError(f"{file}: not a validation log (missing columns {sorted(missing)})")
        runs[label or file.name.removesuffix(".val.csv")] = frame
    return runs


def equal_budget_table(runs: dict[str, pd.DataFrame]) -> str:
    """Markdown: each run's validation nearest to the smallest final CPU time of all runs."""
    budget = min(frame["cpu_seconds"].max() for frame in runs.values())
    lines = [f"CPU budget: {budget / 60:.1f} min (each run's validation nearest to it)", "",
             "| run | steps | CPU min | KID | LPIPS | PSNR (mask) |", "|---|--:|--:|--:|--:|--:|"]
    for label, frame in runs.items():
        row = frame.loc[(frame["cpu_seconds"] - budget).abs().idxmin()]
        lines.append(f"| {label} | {int(row['step'])} | {row['cpu_seconds'] / 60:.1f} | {row['kid']:.4f} | "
                     f"{row['lpips']:.4f} | {row['psnr_mask']:.2f} |")
    return "\n".join(lines)


def plot(runs: dict[str, pd.DataFrame], out: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.4), constrained_layout=True)
    for ax, (column, label) in zip(axes, PANELS):
        for name, frame in runs.items():
            ax.plot(frame["cpu_seconds"] / 60, frame[column], marker="o", markersize=3, label=name)
        ax.set_xlabel("CPU minutes in training steps")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpaint.curves", description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", metavar="RUN.val.csv[=LABEL]", help="validation logs of training runs")
    parser.add_argument("--out", type=Path, help="write the curves to this image (PNG or PDF)")
    parser.add_argument("--title", default="", help="figure title")
    args = parser.parse_args(argv)
    try:
        runs = read_runs(args.logs)
    except BenchError as exc:
        parser.exit(1, f"inpaint.curves: error: {exc}\n")
    print(equal_budget_table(runs))
    if args.out:
        plot(runs, args.out, args.title)
        print(f"curves: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
