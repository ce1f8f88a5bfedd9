"""A self-contained HTML report of a run: tables, figures as inline base64 PNG, no scripts, no
external requests, so that the one file opens in any browser, offline.
"""
from __future__ import annotations

import base64
from html import escape

from bench.report.load import RunResults
from bench.report.plots import Plot
from bench.report.table_formats import caption, header_rows
from bench.report.tables import Cell, Table

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 78em;
       padding: 0 1em; color: #111; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
nav ul { columns: 2; }
figure { margin: 1.5em 0; }
figcaption { font-weight: 600; margin: .4em 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: .92em; }
th, td { padding: .25em .6em; text-align: right; white-space: nowrap; } th { white-space: normal; }
th { border-bottom: 1px solid #333; } thead tr:first-child th { border-top: 2px solid #111; }
tbody tr:last-child td { border-bottom: 2px solid #111; }
td.label, th.label { text-align: left; }
tr.reference td { font-style: italic; color: #333; } tr.reference td.label { color: #555; }
tr.first-reference td { border-top: 1px solid #777; } tr.first-of-group td { border-top: 1px solid #333; }
tr.unavailable td { color: #7a1f1f; text-align: center; font-style: italic; }
th.group-start, td.group-start { border-left: 1px solid #ccc; }
thead tr:first-child th.group-start { text-align: center; }
.pm { color: #555; font-size: .85em; }
ul.notes { font-size: .85em; color: #333; margin-top: .3em; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; } dt { font-weight: 600; }
.warning { color: #7a1f1f; }
"""


def _cell(cell: Cell | None, group_start: bool) -> str:
    opening = '<td class="group-start">' if group_start else "<td>"
    if cell is None:
        return f"{opening}–</td>"
    text = escape(cell.text)
    text = {1: f"<strong>{text}</strong>", 2: f"<u>{text}</u>"}.get(cell.rank, text)
    spread = f' <span class="pm">± {escape(cell.spread)}</span>' if cell.spread else ""
    return f"{opening}{text}{spread}{escape(cell.flag)}</td>"


def table_html(table: Table, number: int, element_id: str) -> str:
    groups, columns = header_rows(table)
    lead = ["Recognizer", "Method"] if table.grouped else ["Method"]
    head = []
    if groups:
        head.append("<tr>" + "".join("<th></th>" for _ in lead)
                    + "".join(f'<th colspan="{len(table.metrics)}" class="group-start">{escape(g)}</th>'
                              for g in groups) + "</tr>")
    head.append("<tr>" + "".join(f'<th class="label">{h}</th>' for h in lead)
                + "".join(f'<th{" class=group-start" if i % len(table.metrics) == 0 else ""}>{escape(c)}</th>'
                          for i, c in enumerate(columns)) + "</tr>")
    body, previous = [], None
    for index, row in enumerate(table.rows):
        classes = [row.kind]
        if index and row.group != previous:
            classes.append("first-of-group")
        elif index and row.kind == "reference" and table.rows[index - 1].kind == "method":
            classes.append("first-reference")
        group = escape(row.group) if row.group != previous else ""
        first = [f'<td class="label">{group}</td>'] if table.grouped else []
        previous = row.group
        if row.kind == "unavailable":
            cells = [f'<td colspan="{len(columns)}">unavailable</td>']
        else:
            cells = [_cell(c, i % len(table.metrics) == 0) for i, c in enumerate(row.cells)]
        body.append(f'<tr class="{" ".join(classes)}">' + "".join(first)
                    + f'<td class="label">{escape(row.label)}</td>' + "".join(cells) + "</tr>")
    notes = "".join(f"<li>{escape(note)}</li>" for note in table.notes)
    return (f'<figure class="table"><figcaption>Table {number}. {escape(caption(table))}</figcaption>'
            f'<div class="scroll"><table id="{element_id}"><thead>{"".join(head)}</thead>'
            f'<tbody>{"".join(body)}</tbody></table></div><ul class="notes">{notes}</ul></figure>')


def _facts(run: RunResults, problems: list[str]) -> str:
    info = run.info
    items = []
    dataset = info.get("dataset", {})
    if dataset:
        items.append(("Dataset", ", ".join(f"{k}: {dataset[k]}" for k in ("name", "n_faces", "n_pairs", "skipped_pairs")
                                           if k in dataset)))
        bad = [f for f, state in dataset.get("checksums", {}).items() if state != "ok"]
        if bad:
            items.append(("Checksum mismatch", ", ".join(bad)))
    if info.get("landmarks"):
        items.append(("Landmarks", ", ".join(f"{k}: {v}" for k, v in info["landmarks"].items())))
    for name, entry in info.get("recognizers", {}).items():
        state = "available" if entry.get("available", True) else f"unavailable ({entry.get('reason', '')})"
        items.append((f"Recognizer {name}", state))
    items += [(f"Convention: {k}", v) for k, v in info.get("conventions", {}).items()]
    items += [("Note", note) for note in info.get("notes", [])]
    if info.get("timings"):
        items.append(("Timings (s)", ", ".join(f"{k}: {v:.1f}" if isinstance(v, (int, float)) else f"{k}: {v}"
                                               for k, v in info["timings"].items())))
    if info.get("peak_memory_mb") is not None:
        items.append(("Peak memory (MB)", str(info["peak_memory_mb"])))
    items += [(label, ", ".join(f"{k}: {v}" for k, v in info[key].items()))
              for key, label in (("seeds", "Seeds"), ("versions", "Versions")) if info.get(key)]
    if info.get("git"):
        items.append(("Code revision", info["git"]))
    rows = "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>" for k, v in items)
    warnings = "".join(f'<p class="warning">{escape(p)}</p>' for p in problems)
    return f"<dl>{rows}</dl>{warnings}"


def to_html(run: RunResults, tables: list[Table], plots: list[Plot], problems: list[str]) -> str:
    """The whole report as one HTML document; the first table has the id ``main-table``."""
    parts, toc, dataset = [], [], None
    for number, table in enumerate(tables, 1):
        if table.dataset != dataset:
            dataset = table.dataset
            parts.append(f'<h2 id="tables-{number}">{escape(dataset)}</h2>')
            toc.append(f'<li><a href="#tables-{number}">Tables: {escape(dataset)}</a></li>')
        parts.append(table_html(table, number, "main-table" if number == 1 else f"table-{number}"))
    if plots:
        parts.append('<h2 id="figures">Figures</h2>')
        toc.append('<li><a href="#figures">Figures</a></li>')
    for number, plot in enumerate(plots, 1):
        data = base64.b64encode(plot.png).decode("ascii")
        parts.append(f'<figure id="{escape(plot.name)}"><img src="data:image/png;base64,{data}" '
                     f'alt="{escape(plot.caption)}"><figcaption>Figure {number}. {escape(plot.caption)}'
                     "</figcaption></figure>")
    parts.append(f'<h2 id="run">The run</h2>{_facts(run, problems)}')
    toc.append('<li><a href="#run">The run</a></li>')
    title = f"Results: {run.name}"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
            f'<body><h1>{escape(title)}</h1><nav><ul>{"".join(toc)}</ul></nav>\n'
            + "\n".join(parts) + "\n</body></html>\n")
