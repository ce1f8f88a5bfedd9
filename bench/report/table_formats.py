"""The paper tables of a run written out: Markdown (summary.md), LaTeX (table.tex, booktabs) and CSV."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

from bench.report.load import RunResults
from bench.report.tables import Cell, Table, method_order, ordered


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
