"""Paper tables of a run: one table model, rendered as Markdown (summary.md), LaTeX (table.tex) and CSV.

Image tables: per dataset, methods as rows, mask styles as column groups, metrics inside each
group. Verification tables: recognizers x methods as rows, the same column groups. The best
inpainting result of each column is bold and the second underlined; the "masked" input (lower
bound) and the "clean" faces (reference) are shown apart and never ranked.
"""
from __future__ import annotations

import io
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


def header_rows(table: Table) -> tuple[list[str], list[str]]:
    """Column group labels (masks) and column labels; with one metric the masks are the columns."""
    if len(table.metrics) == 1:
        return [], list(table.masks)
    return list(table.masks), [h for _ in table.masks for h in table.headers]


def caption(table: Table) -> str:
    return f"{table.dataset}. {table.title}: {', '.join(table.headers)}."


def _md_cell(cell: Cell | None) -> str:
    if cell is None:
        return "–"
    text = {1: f"**{cell.text}**", 2: f"<ins>{cell.text}</ins>"}.get(cell.rank, cell.text)
    return text + (f" ± {cell.spread}" if cell.spread else "") + cell.flag


def table_markdown(table: Table) -> str:
    """One table as GitHub Markdown, followed by its notes as a list."""
    groups, columns = header_rows(table)
    head = (["Recognizer"] if table.grouped else []) + ["Method"]
    if groups:
        columns = [f"{mask} · {label}" for mask, label in zip(np.repeat(groups, len(table.metrics)), columns)]
    lines = ["| " + " | ".join(head + columns) + " |", "|" + "---|" * len(head) + "--:|" * len(columns)]
    previous = None
    for row in table.rows:
        label = f"_{row.label}_" if row.kind != "method" else row.label
        first = ([row.group if row.group != previous else ""] if table.grouped else [])
        previous = row.group
        cells = ["unavailable"] * len(columns) if row.kind == "unavailable" else [_md_cell(c) for c in row.cells]
        lines.append("| " + " | ".join(first + [label] + cells) + " |")
    return "\n".join(lines + [""] + [f"- {note}" for note in table.notes]) + "\n"


def to_markdown(run: RunResults, tables: list[Table]) -> str:
    info = run.info.get("dataset", {})
    parts = [f"# Results: {run.name}\n"]
    if info:
        facts = [f"{info[k]:,} {label}" for k, label in (("n_faces", "faces"), ("n_pairs", "pairs"),
                                                         ("skipped_pairs", "pairs skipped")) if info.get(k)]
        parts.append(f"Dataset {info.get('name', '?')}: {', '.join(facts)}." if facts else "")
    if run.info.get("git"):
        parts.append(f"Code revision {run.info['git']}.")
    dataset = None
    for number, table in enumerate(tables, 1):
        if table.dataset != dataset:
            dataset = table.dataset
            parts.append(f"\n## {dataset}\n")
        parts.append(f"### Table {number}. {caption(table)[len(dataset) + 2:]}\n\n{table_markdown(table)}")
    if run.info.get("notes"):
        parts.append("## Notes\n\n" + "\n".join(f"- {note}" for note in run.info["notes"]) + "\n")
    return "\n".join(p for p in parts if p) + "\n"


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}", "–": "--", "—": "---", "·": r"$\cdot$",
                  "±": r"$\pm$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "†": r"\dag{}",
                  "≥": r"$\geq$", "≤": r"$\leq$", "×": r"$\times$"}


def tex_escape(text: str) -> str:
    """Escape LaTeX specials; characters pdflatex cannot typeset without extra packages become '?'."""
    out = []
    for char in str(text):
        if char in LATEX_SPECIALS:
            out.append(LATEX_SPECIALS[char])
        else:
            out.append(char if ord(char) < 256 else "?")
    return "".join(out)


def _tex_cell(cell: Cell | None) -> str:
    if cell is None:
        return "--"
    text = {1: rf"\textbf{{{cell.text}}}", 2: rf"\underline{{{cell.text}}}"}.get(cell.rank, cell.text)
    spread = rf"\,{{\scriptsize$\pm${cell.spread}}}" if cell.spread else ""
    return text + spread + (r"\dag{}" if cell.flag else "")


def table_latex(table: Table, label: str) -> str:
    """One booktabs table (needs \\usepackage{booktabs,graphicx}), notes set under it in small type."""
    groups, columns = header_rows(table)
    lead = 2 if table.grouped else 1
    width = lead + len(columns)
    lines = [r"\begin{table}[t]", r"\centering", r"\small", rf"\caption{{{tex_escape(caption(table))}}}",
             rf"\label{{{label}}}", r"\sbox0{\begin{tabular}{" + "l" * lead + "c" * len(columns) + "}", r"\toprule"]
    heads = (["Recognizer"] if table.grouped else []) + ["Method"]
    if groups:
        k = len(table.metrics)
        spans = [rf"\multicolumn{{{k}}}{{c}}{{{tex_escape(g)}}}" for g in groups]
        lines.append(" & " * lead + " & ".join(spans) + r" \\")
        lines.append(" ".join(rf"\cmidrule(lr){{{lead + 1 + i * k}-{lead + (i + 1) * k}}}" for i in range(len(groups))))
    lines += [" & ".join(heads + [tex_escape(c) for c in columns]) + r" \\", r"\midrule"]
    previous = None
    for index, row in enumerate(table.rows):
        if index and row.group != previous:
            lines.append(r"\midrule")
        elif index and row.kind == "reference" and table.rows[index - 1].kind == "method":
            lines.append(rf"\cmidrule{{{lead}-{width}}}" if table.grouped else r"\midrule")
        label_text = tex_escape(row.label) if row.kind == "method" else rf"\textit{{{tex_escape(row.label)}}}"
        first = [tex_escape(row.group) if row.group != previous else ""] if table.grouped else []
        previous = row.group
        if row.kind == "unavailable":
            cells = [rf"\multicolumn{{{len(columns)}}}{{c}}{{\textit{{unavailable}}}}"]
        else:
            cells = [_tex_cell(c) for c in row.cells]
        lines.append(" & ".join(first + [label_text] + cells) + r" \\")
    # Shrink to the line width only when the table would overflow it.
    lines += [r"\bottomrule", r"\end{tabular}}",
              r"\ifdim\wd0>\linewidth\resizebox{\linewidth}{!}{\usebox0}\else\usebox0\fi"]
    if table.notes:
        lines += [r"\par\smallskip", r"\begin{minipage}{\linewidth}\footnotesize",
                  " \\\\\n".join(tex_escape(note) for note in table.notes), r"\end{minipage}"]
    return "\n".join(lines + [r"\end{table}"]) + "\n"


def to_latex(run: RunResults, tables: list[Table]) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in run.name)
    header = f"% Tables of run {tex_escape(run.name)}; they need \\usepackage{{booktabs,graphicx}}.\n"
    return header + "\n".join(table_latex(t, f"tab:{slug}-{i}") for i, t in enumerate(tables, 1))


def to_csv(run: RunResults) -> str:
    """A wide table: one row per dataset, recognizer and method; columns ``mask:metric[:ci_low|:ci_high|:n]``."""
    frame = run.metrics.copy()
    frame["column"] = frame["mask"] + ":" + frame["metric"]
    wide = frame.pivot(index=["dataset", "recognizer", "method"], columns="column",
                       values=["value", "ci_low", "ci_high", "n"])
    columns = list(dict.fromkeys(frame["column"]))
    parts = {"value": "", "ci_low": ":ci_low", "ci_high": ":ci_high", "n": ":n"}
    kept = [(part, column) for column in columns for part in parts
            if part == "value" or wide[(part, column)].notna().any()]
    out = wide[kept].copy()
    out.columns = [column + parts[part] for part, column in kept]
    out = out.reset_index()
    order = {m: i for i, m in enumerate(method_order(run, frame))}
    out = out.sort_values(["dataset", "recognizer", "method"], key=lambda s: s.map(order) if s.name == "method" else s,
                          kind="stable")
    out.insert(3, "status", "")
    unavailable = [{"dataset": d, "recognizer": name, "method": "", "status": f"unavailable ({reason})"}
                   for d in ordered(frame["dataset"]) for name, reason in run.unavailable().items()]
    out = pd.concat([out, pd.DataFrame(unavailable, columns=["dataset", "recognizer", "method", "status"])])
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, float_format="%.10g")
    return buffer.getvalue()
