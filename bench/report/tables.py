"""Paper tables of a run: the table model (cells, rows, ranking, notes) built from its results.

``bench.report.table_formats`` renders these tables as Markdown, LaTeX and CSV.

Image tables: per dataset, methods as rows, mask styles as column groups, metrics inside each
group. Verification tables: recognizers x methods as rows, the same column groups. The best
inpainting result of each column is bold and the second underlined; the "masked" input (lower
bound) and the "clean" faces (reference) are shown apart and never ranked.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.report.load import REFERENCES, RunResults

#: Widest table (number columns) before a table is split by metric group.
MAX_COLUMNS = 8
#: TAR at this FAR needs at least 1/FAR impostor pairs for one false accept to exist.
TAR_FLAG = "†"
LABELS = {"psnr": "PSNR", "ssim": "SSIM", "psnr-mask": "PSNR (mask)", "l1-mask": "L1 (mask)",
          "lpips": "LPIPS", "fid": "FID", "kid": "KID", "acc": "Acc.", "auc": "AUC"}
REGION_TITLES = {"full": "Image quality (whole image)", "mask": "Image quality (hidden region)",
                 "set": "Distribution distance to the clean faces", "pairs": "Face verification (%)"}
REFERENCE_LABELS = {"masked": "masked (input)", "clean": "clean (reference)"}


@dataclass
class Cell:
    text: str  # the number as printed
    spread: str = ""  # printed after "±", or empty
    rank: int = 0  # 1 best, 2 second, 0 neither
    flag: str = ""  # a footnote mark


@dataclass
class Row:
    group: str  # recognizer name, "" for image tables
    label: str
    kind: str  # "method", "reference" or "unavailable"
    cells: list[Cell | None]


@dataclass
class Table:
    dataset: str
    title: str
    masks: list[str]
    metrics: list[str]
    headers: list[str]  # one per metric, with its arrow
    rows: list[Row]
    notes: list[str] = field(default_factory=list)

    @property
    def grouped(self) -> bool:
        return any(row.group for row in self.rows)


def metric_label(metric: str, run: RunResults) -> str:
    label = LABELS.get(metric) or (metric.replace("tar@far", "TAR@FAR") if metric.startswith("tar@far") else metric)
    return f"{label} {'↑' if run.direction(metric) else '↓'}"


def ordered(values: pd.Series, preferred: list[str] = ()) -> list[str]:
    """Distinct non-empty values, those in ``preferred`` first in its order, the rest as they appear."""
    present = [v for v in dict.fromkeys(values) if v]
    return [v for v in preferred if v in present] + [v for v in present if v not in preferred]


def method_order(run: RunResults, frame: pd.DataFrame) -> list[str]:
    """Inpainters in run.json order, then the references (masked, clean)."""
    methods = ordered(frame["method"], list(run.info.get("methods", {})))
    return [m for m in methods if m not in REFERENCES] + [m for m in REFERENCES if m in methods]


def _scale(run: RunResults, metric: str) -> float:
    return 100.0 if run.region(metric) == "pairs" else 1.0


def _decimals(values: np.ndarray) -> int:
    """Four significant digits for the typical (median) value, between 0 and 4 decimals."""
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0 or np.median(finite) == 0:
        return 2
    return int(np.clip(3 - math.floor(math.log10(np.median(finite))), 0, 4))


class _Lookup:
    """metrics.csv indexed by (mask, method, recognizer, metric) for one dataset."""

    def __init__(self, frame: pd.DataFrame):
        self.rows = {(r.mask, r.method, r.recognizer, r.metric): r for r in frame.itertuples(index=False)}

    def get(self, mask: str, method: str, recognizer: str, metric: str):
        # The clean reference may be scored once for all mask styles (mask left empty).
        return self.rows.get((mask, method, recognizer, metric)) or self.rows.get(("", method, recognizer, metric))


def _cell(run: RunResults, lookup: _Lookup, mask: str, method: str, recognizer: str, metric: str,
          decimals: int) -> Cell | None:
    row = lookup.get(mask, method, recognizer, metric)
    if row is None:
        return None
    if not math.isfinite(row.value):
        return Cell("n/a")
    scale = _scale(run, metric)
    spread = math.nan
    if metric == "acc":
        std = lookup.get(mask, method, recognizer, "acc_std")
        spread = std.value if std is not None else math.nan
    elif math.isfinite(row.ci_low) and math.isfinite(row.ci_high):
        spread = (row.ci_high - row.ci_low) / 2
    cell = Cell(f"{row.value * scale:.{decimals}f}",
                f"{spread * scale:.{decimals}f}" if math.isfinite(spread) else "")
    if metric == "tar@far=1e-3" and math.isfinite(row.n) and row.n < 1000:
        cell.flag = TAR_FLAG
    return cell


def _rank(rows: list[Row], run: RunResults, metrics: list[str]) -> None:
    """Bold the best and underline the second inpainting method of each column (printed values)."""
    groups = dict.fromkeys(row.group for row in rows)
    for group in groups:
        members = [row for row in rows if row.group == group and row.kind == "method"]
        for col in range(len(members[0].cells) if members else 0):
            metric = metrics[col % len(metrics)]
            values = sorted({float(r.cells[col].text) for r in members
                             if r.cells[col] is not None and r.cells[col].text != "n/a"},
                            reverse=run.direction(metric))
            if len(values) < 2:
                continue
            for r in members:
                cell = r.cells[col]
                if cell is not None and cell.text != "n/a":
                    value = float(cell.text)
                    cell.rank = 1 if value == values[0] else 2 if len(values) > 2 and value == values[1] else 0


def _chunks(run: RunResults, metrics: list[str], n_masks: int) -> list[list[str]]:
    """Metrics grouped by region, each group cut so that a table has at most MAX_COLUMNS columns."""
    per_table = max(1, MAX_COLUMNS // max(1, n_masks))
    chunks = []
    for region in dict.fromkeys(run.region(m) for m in metrics):
        group = [m for m in metrics if run.region(m) == region]
        chunks += [group[i:i + per_table] for i in range(0, len(group), per_table)]
    return chunks


def _general_notes(run: RunResults, metrics: list[str], frame: pd.DataFrame) -> list[str]:
    notes = []
    for metric in [m for m in ("fid", "kid") if m in metrics]:
        counts = frame[frame["metric"] == metric].groupby("mask")["n"].first().dropna()
        if len(counts):
            if counts.nunique() == 1:
                notes.append(f"{LABELS[metric]} computed on {int(counts.iloc[0]):,} images per set.")
            else:
                per = ", ".join(f"{mask}: {int(n):,}" for mask, n in counts.items())
                notes.append(f"{LABELS[metric]} images per set: {per}.")
    if (frame["value"].isna() & frame["metric"].isin(metrics)).any():
        reasons = "; ".join(run.info.get("notes", [])) or "no reason recorded in run.json"
        notes.append(f"n/a: no value ({reasons}).")
    notes += [f"{key}: {text}" for key, text in run.info.get("conventions", {}).items() if key in metrics]
    return notes


def _image_tables(run: RunResults, dataset: str, frame: pd.DataFrame) -> list[Table]:
    frame = frame[frame["recognizer"] == ""]
    metrics = [m for m in run.info["metrics"] if m in set(frame["metric"])]
    masks = ordered(frame["mask"])
    methods = method_order(run, frame)
    lookup = _Lookup(frame)
    tables = []
    for chunk in _chunks(run, metrics, len(masks)):
        decimals = {m: _decimals(frame.loc[frame["metric"] == m, "value"].to_numpy() * _scale(run, m)) for m in chunk}
        rows = [Row("", REFERENCE_LABELS.get(method, method), "reference" if method in REFERENCES else "method",
                    [_cell(run, lookup, mask, method, "", m, decimals[m]) for mask in masks for m in chunk])
                for method in methods]
        _rank(rows, run, chunk)
        notes = ["Best inpainting result per column in bold, second underlined; the masked input is a "
                 "lower bound, shown apart and not ranked."]
        if any(cell is not None and cell.spread for row in rows for cell in row.cells):
            notes.append("± half the width of the 95% interval of the mean (ci_low, ci_high in metrics.csv).")
        title = REGION_TITLES.get(run.region(chunk[0]), "Scores")
        tables.append(Table(dataset, title, masks, chunk, [metric_label(m, run) for m in chunk], rows,
                            notes + _general_notes(run, chunk, frame)))
    return tables


def _pair_notes(run: RunResults, dataset: str, frame: pd.DataFrame, chunk: list[str], single: bool) -> list[str]:
    notes = ["Best inpainting result per recognizer and column in bold, second underlined; masked input "
             "(lower bound) and clean faces (reference) shown apart and not ranked."]
    if "acc" in chunk:
        notes.append("Acc.: mean ± standard deviation over the verification folds.")
    pairs = frame.loc[frame["metric"] == "acc", "n"].dropna()
    if len(pairs) and pairs.nunique() == 1:
        notes.append(f"Verification on {int(pairs.iloc[0]):,} pairs.")
    tar = frame[(frame["metric"] == "tar@far=1e-3") & (frame["n"] < 1000)]
    if "tar@far=1e-3" in chunk and len(tar):
        notes.append(f"{TAR_FLAG} TAR@FAR=1e-3 rests on fewer than 1,000 impostor pairs "
                     f"(n = {int(tar['n'].min()):,}): less than one false accept sets its threshold.")
    info = run.info.get("dataset", {})
    if info.get("skipped_pairs") and (single or info.get("name") == dataset):
        examples = ", ".join(map(str, info.get("skipped_pairs_examples", [])[:3]))
        notes.append(f"{int(info['skipped_pairs']):,} pairs skipped (images missing or unreadable)"
                     + (f", e.g. {examples}." if examples else "."))
    notes += [f"{name}: unavailable ({reason})" for name, reason in run.unavailable().items()]
    return notes + _general_notes(run, chunk, frame)


def _verification_tables(run: RunResults, dataset: str, frame: pd.DataFrame, single: bool) -> list[Table]:
    frame = frame[frame["recognizer"] != ""]
    metrics = [m for m in run.info["metrics"] if m in set(frame["metric"])]
    unavailable = run.unavailable()
    if not metrics and unavailable:  # every recognizer failed: still show the table saying so
        metrics = [m for m in run.info["metrics"] if run.region(m) == "pairs"]
    if not metrics:
        return []
    masks = ordered(frame["mask"]) or ordered(run.metrics.loc[run.metrics["dataset"] == dataset, "mask"])
    recognizers = ordered(pd.concat([frame["recognizer"], pd.Series(list(unavailable))]),
                          list(run.info.get("recognizers", {})))
    methods = method_order(run, frame)
    lookup = _Lookup(frame)
    tables = []
    for chunk in _chunks(run, metrics, len(masks)):
        decimals = {m: _decimals(frame.loc[frame["metric"] == m, "value"].to_numpy() * 100) for m in chunk}
        rows = []
        for recognizer in recognizers:
            if recognizer in unavailable:
                rows.append(Row(recognizer, "unavailable", "unavailable", [None] * (len(masks) * len(chunk))))
                continue
            rows += [Row(recognizer, REFERENCE_LABELS.get(method, method),
                         "reference" if method in REFERENCES else "method",
                         [_cell(run, lookup, mask, method, recognizer, m, decimals.get(m, 2))
                          for mask in masks for m in chunk])
                     for method in methods]
        _rank(rows, run, chunk)
        tables.append(Table(dataset, REGION_TITLES["pairs"], masks, chunk, [metric_label(m, run) for m in chunk],
                            rows, _pair_notes(run, dataset, frame, chunk, single)))
    return tables


def build_tables(run: RunResults) -> list[Table]:
    """Every table of the run, per dataset: image-quality tables first, then verification."""
    datasets = ordered(run.metrics["dataset"])
    tables = []
    for dataset in datasets:
        frame = run.metrics[run.metrics["dataset"] == dataset]
        tables += _image_tables(run, dataset, frame)
        tables += _verification_tables(run, dataset, frame, single=len(datasets) == 1)
    other = [f"{k}: {v}" for k, v in run.info.get("conventions", {}).items() if k not in run.info["metrics"]]
    for dataset in datasets:
        first = next((t for t in tables if t.dataset == dataset), None)
        if first is not None:
            first.notes += other
    return tables
