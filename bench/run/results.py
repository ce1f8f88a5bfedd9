"""Write a run's results folder: metrics.csv, bins.csv, roc.csv, samples/index.csv, run.json."""
from __future__ import annotations

import csv
from pathlib import Path

from bench.atomic import atomic_write, write_json
from bench.run.aggregate import Tables
from bench.run.chunk import CLEAN, safe_name
from bench.run.plan import Plan


def write_csv(path: Path, frame) -> None:
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.6g"))


def write_sample_index(out_dir: Path, plan: Plan, styles: list[str], methods: list[str]) -> None:
    """Index of the example images: per style, the clean face, the occluded input, each method."""
    rows = []
    for style in styles:
        for row, face_id in enumerate(plan.sample_ids):
            entries = [(CLEAN, f"clean/{row:02d}_{CLEAN}.png"), ("masked", f"{safe_name(style)}/{row:02d}_masked.png")]
            entries += [(m, f"{safe_name(style)}/{row:02d}_{safe_name(m)}.png") for m in methods if m != "masked"]
            for method, file in entries:
                if (out_dir / "samples" / file).exists():
                    rows.append([row, face_id, style, method, file])

    def _write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["row", "face_id", "mask", "method", "file"])
            writer.writerows(rows)

    atomic_write(out_dir / "samples" / "index.csv", _write)


def write_results(out_dir: Path, tables: Tables, run_info: dict) -> list[Path]:
    paths = [out_dir / "metrics.csv", out_dir / "bins.csv", out_dir / "roc.csv", out_dir / "run.json"]
    write_csv(paths[0], tables.metrics)
    write_csv(paths[1], tables.bins)
    write_csv(paths[2], tables.roc)
    write_json(paths[3], run_info)
    return paths
