"""Validation curves of training runs against CPU time, and the table of equal-budget pilots.

``python -m inpaint.curves RUN.val.csv[=LABEL] ... --out curves.png`` draws KID, LPIPS, PSNR
inside the mask and, where logged, dlib identity similarity to the clean face (the columns
:mod:`inpaint.validate` writes; the occluded input's level as a dotted line) against the CPU minutes each run
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
IDENTITY = ("id_dlib", "dlib cosine to the clean face (higher is better)")  # logs from before it lack it


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


def equal_budget_table(runs: dict[str, pd.DataFrame], window: float = 0.0) -> str:
    """Markdown: each run's validation nearest to the smallest final CPU time of all runs, or, with
    ``window`` (CPU minutes), the mean of its validations in the last ``window`` minutes up to it
    (validation scores swing between checkpoints; a mean over several compares runs more fairly)."""
    budget = min(frame["cpu_seconds"].max() for frame in runs.values())
    identity = _has_identity(runs)
    how = (f"mean of each run's validations from {(budget - 60 * window) / 60:.1f} to {budget / 60:.1f} CPU min"
           if window else "each run's validation nearest to it")
    head = "| run | steps | CPU min | KID | LPIPS | PSNR (mask) |" + (" dlib id (masked input) |" if identity else "")
    lines = [f"CPU budget: {budget / 60:.1f} min ({how})", "",
             head, "|---|--:|--:|--:|--:|--:|" + ("--:|" if identity else "")]
    for label, frame in runs.items():
        if window:
            rows = frame[(frame["cpu_seconds"] <= budget + 1) & (frame["cpu_seconds"] >= budget - 60 * window)]
            if rows.empty:
                raise BenchError(f"{label}: no validation in the last {window} CPU minutes before {budget / 60:.1f}")
            row = rows.mean(numeric_only=True)
            steps = f"{int(rows['step'].min())}-{int(rows['step'].max())} ({len(rows)})"
        else:
            row = frame.loc[(frame["cpu_seconds"] - budget).abs().idxmin()]
            steps = str(int(row["step"]))
        line = (f"| {label} | {steps} | {row['cpu_seconds'] / 60:.1f} | {row['kid']:.4f} | "
                f"{row['lpips']:.4f} | {row['psnr_mask']:.2f} |")
        if identity:
            line += f" {row['id_dlib']:.4f} ({row['id_dlib_masked']:.4f}) |"
        lines.append(line)
    return "\n".join(lines)


def _has_identity(runs: dict[str, pd.DataFrame]) -> bool:
    return all({"id_dlib", "id_dlib_masked"} <= set(f.columns) and f["id_dlib"].notna().all() for f in runs.values())


def plot(runs: dict[str, pd.DataFrame], out: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = PANELS + ((IDENTITY,) if any("id_dlib" in f.columns for f in runs.values()) else ())
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), constrained_layout=True)
    for ax, (column, label) in zip(axes, panels):
        for name, frame in runs.items():
            if column not in frame.columns:
                continue
            line, = ax.plot(frame["cpu_seconds"] / 60, frame[column], marker="o", markersize=3, label=name)
            if column == "id_dlib":
                ax.plot(frame["cpu_seconds"] / 60, frame["id_dlib_masked"], ls=":", color=line.get_color())
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
    parser.add_argument("--window", type=float, default=0.0, metavar="CPU_MIN",
                        help="average each run's validations over the last CPU_MIN minutes of the common budget "
                             "(default: the one validation nearest to it)")
    args = parser.parse_args(argv)
    try:
        runs = read_runs(args.logs)
    except BenchError as exc:
        parser.exit(1, f"inpaint.curves: error: {exc}\n")
    try:
        print(equal_budget_table(runs, args.window))
    except BenchError as exc:
        parser.exit(1, f"inpaint.curves: error: {exc}\n")
    if args.out:
        plot(runs, args.out, args.title)
        print(f"curves: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
