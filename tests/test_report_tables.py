"""Report tables (Markdown, LaTeX, CSV), the results loader and ``bench report``, on synthetic runs."""
from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.api import BenchError
from bench.cli import main
from bench.report import render
from bench.report.load import load_run
from bench.report.table_formats import table_markdown, to_latex
from bench.report.tables import MAX_COLUMNS, build_tables
from report_fixture import build_run

NUMBER = re.compile(r"(?:\*\*|<ins>)?(-?\d+\.?\d*)(?:\*\*|</ins>)?(?: ± (\d+\.?\d*))?(†?)$")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return build_run(tmp_path / "run")


def read_metrics(run_dir: Path) -> pd.DataFrame:
    """metrics.csv with empty text fields as "" and empty numbers as NaN."""
    return pd.read_csv(run_dir / "metrics.csv", keep_default_na=False,
                       na_values={c: [""] for c in ("value", "ci_low", "ci_high", "n")})


def inpainters(metrics: pd.DataFrame) -> pd.DataFrame:
    return metrics[~metrics["method"].isin(["masked", "clean"])]


def parse_markdown(md: str) -> list[dict]:
    """Each Markdown table of summary.md as {"title", "header", "rows"} (rows: lists of cell text)."""
    tables, current = [], None
    for line in md.splitlines():
        if line.startswith("### "):
            current = {"title": line[4:], "header": None, "rows": []}
            tables.append(current)
        elif line.startswith("|") and current is not None:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if current["header"] is None:
                current["header"] = cells
            elif not set(line) <= set("|-: "):
                current["rows"].append(cells)
    return tables


def cell_key(table: dict, row: list[str], col: int, recognizer: str) -> tuple[str, str, str, str]:
    """(mask, method, recognizer, metric) of a Markdown cell, from the header and the table title."""
    header = table["header"][col]
    metric_label = header.split(" · ")[1] if " · " in header else table["title"].split(": ")[1].rstrip(".")
    mask = header.split(" · ")[0]
    method = row[table["header"].index("Method")].strip("_").replace(" (input)", "").replace(" (reference)", "")
    return mask, method, recognizer, metric_label


LABEL_TO_METRIC = {"PSNR": "psnr", "SSIM": "ssim", "PSNR (mask)": "psnr-mask", "L1 (mask)": "l1-mask",
                   "LPIPS": "lpips", "FID": "fid", "KID": "kid", "Acc.": "acc", "AUC": "auc",
                   "TAR@FAR=1e-2": "tar@far=1e-2", "TAR@FAR=1e-3": "tar@far=1e-3"}


def markdown_cells(md: str):
    """Yield (mask, method, recognizer, metric, arrow, cell text) for every number cell of summary.md."""
    for table in parse_markdown(md):
        first = 2 if table["header"][0] == "Recognizer" else 1
        recognizer = ""
        for row in table["rows"]:
            if first == 2:
                recognizer = row[0] or recognizer
            for col in range(first, len(row)):
                mask, method, rec, label = cell_key(table, row, col, recognizer)
                name, arrow = label.rsplit(" ", 1)
                yield mask, method, rec, LABEL_TO_METRIC[name], arrow, row[col]


def test_printed_numbers_come_from_metrics_csv(run_dir: Path) -> None:
    render(run_dir, {"md"})
    metrics = read_metrics(run_dir)
    info = json.loads((run_dir / "run.json").read_text())
    seen = 0
    for mask, method, recognizer, metric, arrow, text in markdown_cells((run_dir / "summary.md").read_text()):
        if recognizer == "arcface":
            assert text == "unavailable"
            continue
        assert arrow == ("↑" if info["metrics"][metric]["higher_is_better"] else "↓")
        rows = metrics[(metrics["method"] == method) & (metrics["recognizer"] == recognizer)]
        row = rows[(rows["metric"] == metric) & (rows["mask"] == (mask if method != "clean" else ""))].iloc[0]
        value, spread, _flag = NUMBER.match(text).groups()
        decimals = len(value.split(".")[1]) if "." in value else 0
        scale = 100 if recognizer else 1
        assert abs(float(value) - scale * row["value"]) <= 0.51 * 10 ** -decimals, (mask, method, metric, text)
        if metric == "acc":
            std = rows[(rows["metric"] == "acc_std") & (rows["mask"] == row["mask"])]["value"].iloc[0]
            assert abs(float(spread) - 100 * std) <= 0.51 * 10 ** -decimals
        elif np.isfinite(row["ci_low"]):
            assert abs(float(spread) - scale * (row["ci_high"] - row["ci_low"]) / 2) <= 0.51 * 10 ** -decimals
        else:
            assert spread is None
        seen += 1
    expected = len(metrics[metrics["metric"] != "acc_std"]) + len(metrics[(metrics["method"] == "clean")
                                                                           & (metrics["metric"] != "acc_std")])
    assert seen == expected  # every score once; the clean reference in each mask style's column


@pytest.mark.parametrize("flip", [False, True])
def test_best_bold_second_underlined_per_direction(tmp_path: Path, flip: bool) -> None:
    run_dir = build_run(tmp_path / "run")
    if flip:  # the tables must read each metric's direction from run.json, not assume it
        info = json.loads((run_dir / "run.json").read_text())
        for entry in info["metrics"].values():
            entry["higher_is_better"] = not entry["higher_is_better"]
        (run_dir / "run.json").write_text(json.dumps(info))
    render(run_dir, {"md"})
    info = json.loads((run_dir / "run.json").read_text())
    metrics = inpainters(read_metrics(run_dir))
    bold, underlined = {}, {}
    for mask, method, recognizer, metric, _arrow, text in markdown_cells((run_dir / "summary.md").read_text()):
        if text.startswith("**"):
            bold.setdefault((mask, recognizer, metric), []).append(method)
        if text.startswith("<ins>"):
            underlined.setdefault((mask, recognizer, metric), []).append(method)
    groups = metrics[metrics["metric"] != "acc_std"].groupby(["mask", "recognizer", "metric"])
    for (mask, recognizer, metric), group in groups:
        ranked = group.sort_values("value", ascending=not info["metrics"][metric]["higher_is_better"])
        assert bold[(mask, recognizer, metric)] == [ranked["method"].iloc[0]]
        assert underlined[(mask, recognizer, metric)] == [ranked["method"].iloc[1]]
    assert len(bold) == groups.ngroups  # and nothing else is bold: references are never ranked


def test_footnotes_unavailable_skipped_conventions_and_set_sizes(run_dir: Path) -> None:
    render(run_dir, {"md", "tex", "csv"})
    info = json.loads((run_dir / "run.json").read_text())
    md = (run_dir / "summary.md").read_text()
    tex = (run_dir / "table.tex").read_text()
    reason = info["recognizers"]["arcface"]["reason"]
    assert f"- arcface: unavailable ({reason})" in md
    assert "arcface: unavailable" in tex and r"\textit{unavailable}" in tex
    arcface_rows = [line for line in md.splitlines() if line.startswith("| arcface")]
    assert arcface_rows and not any(re.search(r"\d", line.split("|", 3)[3]) for line in arcface_rows)
    csv = pd.read_csv(run_dir / "table.csv", keep_default_na=False)
    arcface = csv[csv["recognizer"] == "arcface"]
    assert list(arcface["status"]) == [f"unavailable ({reason})"]
    assert (arcface.drop(columns=["dataset", "recognizer", "method", "status"]) == "").all().all()
    assert "3 pairs skipped" in md and "Ann_1/Ann_1_0003.jpg" in md
    for text in info["conventions"].values():
        assert text in md
    assert md.count("- FID computed on 40 images per set.") == 1
    assert md.count("- KID computed on 40 images per set.") == 1


@pytest.mark.parametrize("n_pairs, flagged", [(600, True), (2400, False)])
def test_tar_at_1e3_flagged_below_1000_impostor_pairs(tmp_path: Path, n_pairs: int, flagged: bool) -> None:
    run_dir = build_run(tmp_path / "run", n_pairs=n_pairs, masks=("cloth",), methods=("telea",),
                        recognizers=("dlib",), unavailable={}, n_samples=1)
    render(run_dir, {"md"})
    cells = [(metric, text) for _m, _me, _r, metric, _a, text in markdown_cells((run_dir / "summary.md").read_text())]
    tar3 = [text for metric, text in cells if metric == "tar@far=1e-3"]
    tar2 = [text for metric, text in cells if metric == "tar@far=1e-2"]
    assert tar3 and all(text.endswith("†") == flagged for text in tar3)
    assert not any(text.endswith("†") for text in tar2)
    assert ("fewer than 1,000 impostor pairs (n = 300)" in (run_dir / "summary.md").read_text()) == flagged


def test_wide_runs_split_into_readable_tables(tmp_path: Path) -> None:
    masks = ("surgical", "n95", "kn95", "cloth")
    run = load_run(build_run(tmp_path / "run", masks=masks, n_images=8, n_samples=1))
    tables = build_tables(run)
    shown = set()
    for table in tables:
        assert len(table.masks) * len(table.metrics) <= MAX_COLUMNS
        header = table_markdown(table).splitlines()[0]
        assert header.count("|") - 1 == len(table.masks) * len(table.metrics) + (2 if table.grouped else 1)
        shown |= {(table.dataset, metric) for metric in table.metrics}
    assert shown == {("LFW-gray", m) for m in set(run.metrics["metric"]) - {"acc_std"}}


def test_nan_value_shown_as_na_with_the_runs_reason(run_dir: Path) -> None:
    metrics = pd.read_csv(run_dir / "metrics.csv")
    metrics.loc[(metrics["metric"] == "fid") & (metrics["method"] == "telea"), "value"] = np.nan
    metrics.to_csv(run_dir / "metrics.csv", index=False)
    info = json.loads((run_dir / "run.json").read_text())
    info["notes"] = ["fid: telea has fewer than 2 images"]
    (run_dir / "run.json").write_text(json.dumps(info))
    render(run_dir, {"md"})
    md = (run_dir / "summary.md").read_text()
    telea_fid = [text for _m, method, _r, metric, _a, text in markdown_cells(md)
                 if (method, metric) == ("telea", "fid")]
    assert telea_fid and set(telea_fid) == {"n/a"}
    assert "n/a: no value (fid: telea has fewer than 2 images)" in md


def test_wide_csv_round_trips_every_number(run_dir: Path) -> None:
    render(run_dir, {"csv"})
    wide = pd.read_csv(run_dir / "table.csv", keep_default_na=False, na_values=[""])
    wide["recognizer"] = wide["recognizer"].fillna("")
    metrics = read_metrics(run_dir)
    indexed = wide.set_index(["dataset", "recognizer", "method"])
    for row in metrics.itertuples():
        line = indexed.loc[(row.dataset, row.recognizer, row.method)]
        column = f"{row.mask}:{row.metric}"
        assert math.isclose(line[column], row.value, rel_tol=1e-9)
        assert line[column + ":n"] == row.n
        if np.isfinite(row.ci_low):
            assert math.isclose(line[column + ":ci_low"], row.ci_low, rel_tol=1e-9)
            assert math.isclose(line[column + ":ci_high"], row.ci_high, rel_tol=1e-9)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (apt: texlive-latex-base, "
                                                               "texlive-latex-recommended for booktabs)")
def test_latex_compiles_with_pdflatex(tmp_path: Path) -> None:
    run_dir = build_run(tmp_path / "run", unavailable={"arcface_v2": "model_dir ~/x & 100% missing #1 {a} ^ → ok"})
    run = load_run(run_dir)
    (tmp_path / "table.tex").write_text(to_latex(run, build_tables(run)))
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs,graphicx}\n"
                                      "\\begin{document}\n\\input{table.tex}\n\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    log = (tmp_path / "doc.log").read_text(errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert done.returncode == 0 and not errors, errors or done.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000
    assert "Undefined control sequence" not in log and "Missing $ inserted" not in log


def _drop_column(path: Path) -> None:
    pd.read_csv(path).drop(columns=["ci_low"]).to_csv(path, index=False)


def _bad_number(path: Path) -> None:
    text = path.read_text().splitlines()
    fields = text[1].split(",")
    fields[5] = "abc"
    path.write_text("\n".join([text[0], ",".join(fields), *text[2:]]) + "\n")


@pytest.mark.parametrize("name, corrupt, message", [
    ("metrics.csv", lambda p: p.unlink(), "metrics.csv: missing"),
    ("run.json", lambda p: p.unlink(), "run.json: missing"),
    ("run.json", lambda p: p.write_text("{not json"), "run.json: not valid JSON"),
    ("run.json", lambda p: p.write_text(json.dumps({"metrics": {"psnr": {"higher_is_better": "yes"}}})),
     "metrics.psnr.higher_is_better"),
    ("metrics.csv", _drop_column, "metrics.csv: missing column(s) ci_low"),
    ("metrics.csv", _bad_number, "metrics.csv: column 'value' line 2: 'abc' is not a number"),
    ("metrics.csv", lambda p: p.write_bytes(b"\xff\xfe\x00garbage\n\x00"), "metrics.csv"),
    ("roc.csv", lambda p: p.write_text("dataset,mask\n"), "roc.csv: missing column(s)"),
    ("samples/n95/1_telea.png", lambda p: p.unlink(), "n95/1_telea.png is missing"),
])
def test_bad_results_name_the_file(run_dir: Path, name: str, corrupt, message: str) -> None:
    corrupt(run_dir / name)
    with pytest.raises(BenchError, match=re.escape(message)):
        render(run_dir, {"md"})


def test_scores_for_an_unavailable_recognizer_are_refused(run_dir: Path) -> None:
    metrics = pd.read_csv(run_dir / "metrics.csv")
    extra = metrics[metrics["recognizer"] == "dlib"].assign(recognizer="arcface")
    pd.concat([metrics, extra]).to_csv(run_dir / "metrics.csv", index=False)
    with pytest.raises(BenchError, match="arcface.*unavailable"):
        render(run_dir, {"md"})


def test_metric_without_direction_is_refused(run_dir: Path) -> None:
    info = json.loads((run_dir / "run.json").read_text())
    del info["metrics"]["lpips"]
    (run_dir / "run.json").write_text(json.dumps(info))
    with pytest.raises(BenchError, match="lpips have no entry in run.json 'metrics'"):
        render(run_dir, {"md"})


def test_fractions_expected_for_verification_scores(run_dir: Path) -> None:
    metrics = pd.read_csv(run_dir / "metrics.csv")
    metrics.loc[metrics["metric"] == "acc", "value"] *= 100
    metrics.to_csv(run_dir / "metrics.csv", index=False)
    with pytest.raises(BenchError, match=r"acc values must be fractions in \[0, 1\]"):
        render(run_dir, {"md"})


def test_command_prints_files_and_time(run_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(run_dir), "--format", "md,csv,tex"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [str(run_dir / "summary.md"), str(run_dir / "table.tex"), str(run_dir / "table.csv")]
    assert re.fullmatch(r"bench report: wrote 3 files in \d+\.\d s", out[3])
    assert not (run_dir / "report.html").exists() and not (run_dir / "plots").exists()


def test_command_errors_are_clear(tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(tmp_path / "nowhere")]) == 1
    assert "nowhere: no such run folder" in capsys.readouterr().err
    assert main(["report", str(run_dir), "--format", "md,docx"]) == 1
    assert "unknown report format(s) docx" in capsys.readouterr().err


def test_optional_files_absent_and_every_recognizer_unavailable(tmp_path: Path) -> None:
    run_dir = build_run(tmp_path / "run", recognizers=(), unavailable={"dlib": "no weights", "arcface": "missing"})
    for name in ("roc.csv", "bins.csv"):
        (run_dir / name).unlink()
    shutil.rmtree(run_dir / "samples")
    written = render(run_dir, {"md", "plots"})
    assert sorted(p.name for p in written) == ["bars_lfw-gray.pdf", "bars_lfw-gray.png", "summary.md",
                                               "train_cl-attn.pdf", "train_cl-attn.png"]
    md = (run_dir / "summary.md").read_text()
    assert "| dlib | _unavailable_ | unavailable |" in md and "| arcface | _unavailable_ | unavailable |" in md
    assert "- dlib: unavailable (no weights)" in md and "- arcface: unavailable (missing)" in md
