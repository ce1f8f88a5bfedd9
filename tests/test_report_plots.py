"""Report figures: their drawn data against the run's files, grayscale-safe styles, PNG/PDF output."""
from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.report import render
from bench.report.load import load_run
from bench.report.plots import (bar_figure, bins_figure, method_styles, roc_figure, sample_grid, train_figure,
                                train_logs)
from bench.report.tables import method_order
from report_fixture import build_run


@pytest.fixture
def run(tmp_path: Path):
    return load_run(build_run(tmp_path / "run", image_size=100))


def styles_of(run) -> dict:
    return method_styles(method_order(run, run.metrics))


def lines_by_label(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines()}


@pytest.mark.parametrize("n", [3, 8, 12])
def test_methods_differ_in_more_than_colour(n: int) -> None:
    methods = [f"m{i}" for i in range(n)] + ["masked", "clean"]
    styles = method_styles(methods)
    keys = [(styles[m]["marker"], str(styles[m]["linestyle"]), styles[m]["hatch"]) for m in methods]
    assert len(set(keys)) == len(methods)
    if n <= 8:  # each cue alone tells the inpainters apart in grayscale
        for cue in ("marker", "linestyle", "hatch"):
            assert len({str(styles[m][cue]) for m in methods[:n]}) == n


def test_roc_curves_are_the_runs_points_on_a_log_far_axis(run) -> None:
    fig = roc_figure(run, "LFW-gray", "dlib", styles_of(run))
    roc = run.roc[(run.roc["recognizer"] == "dlib")]
    masks = ["surgical", "n95"]
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == masks
    for ax, mask in zip(axes, masks):
        assert ax.get_xscale() == "log"
        lines = lines_by_label(ax)
        assert set(lines) == {"telea", "navier-stokes", "cl-attn", "masked (input)", "clean (reference)"}
        for label, method in [("telea", "telea"), ("masked (input)", "masked"), ("clean (reference)", "clean")]:
            curve = roc[(roc["method"] == method) & (roc["mask"] == ("" if method == "clean" else mask))]
            curve = curve[curve["fpr"] > 0].sort_values(["fpr", "tpr"])
            np.testing.assert_allclose(lines[label].get_xdata(), curve["fpr"])
            np.testing.assert_allclose(lines[label].get_ydata(), 100 * curve["tpr"])
    plt.close(fig)


def test_bars_and_whiskers_are_the_runs_means_and_intervals(run) -> None:
    fig = bar_figure(run, "LFW-gray", styles_of(run))
    metrics = run.metrics[run.metrics["recognizer"] == ""]
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    assert set(panels) == {"PSNR ↑", "SSIM ↑", "PSNR (mask) ↑", "L1 (mask) ↓", "LPIPS ↓", "FID ↓",
                           "KID ↓"}
    ax = panels["PSNR ↑"]
    psnr = metrics[metrics["metric"] == "psnr"]
    methods = ["telea", "navier-stokes", "cl-attn", "masked"]
    heights = [patch.get_height() for patch in ax.patches]
    expected = [psnr[(psnr["method"] == m) & (psnr["mask"] == mask)]["value"].iloc[0]
                for m in methods for mask in ("surgical", "n95")]
    np.testing.assert_allclose(heights, expected)
    whiskers = [seg for coll in ax.collections for seg in coll.get_segments()]
    tops = sorted(float(seg[:, 1].max()) for seg in whiskers)
    np.testing.assert_allclose(tops, sorted(psnr["ci_high"]))
    bottoms = sorted(float(seg[:, 1].min()) for seg in whiskers)
    np.testing.assert_allclose(bottoms, sorted(psnr["ci_low"]))
    assert not panels["FID ↓"].collections  # FID has no interval: no whisker drawn
    plt.close(fig)


def test_accuracy_by_mask_area_is_the_runs_bins(run) -> None:
    fig = bins_figure(run, "LFW-gray", styles_of(run))
    bins = run.bins[(run.bins["metric"] == "acc")]
    ax = fig.axes[0]  # first recognizer, first mask style
    assert ax.get_title() == "surgical" and ax.get_ylabel().startswith("dlib")
    line = lines_by_label(ax)["cl-attn"]
    part = bins[(bins["recognizer"] == "dlib") & (bins["mask"] == "surgical") & (bins["method"] == "cl-attn")]
    np.testing.assert_allclose(line.get_xdata(), 50 * (part["bin_low"] + part["bin_high"]))
    np.testing.assert_allclose(line.get_ydata(), 100 * part["value"])
    assert "clean (reference)" in lines_by_label(ax)
    plt.close(fig)


def test_sample_grid_places_each_face_in_its_row_and_column(run) -> None:
    mosaic, columns, rows, width = sample_grid(run, "n95")
    assert columns == ["clean (reference)", "masked (input)", "telea", "navier-stokes", "cl-attn"]
    assert rows == ["Person_0_0001", "Person_1_0001", "Person_2_0001"] and width == 100
    index = run.samples[run.samples["mask"] == "n95"]
    methods = ["clean", "masked", "telea", "navier-stokes", "cl-attn"]
    gap = (mosaic.shape[1] - len(methods) * width) // (len(methods) - 1)
    for r in range(3):
        for c, method in enumerate(methods):
            file = index[(index["row"] == r) & (index["method"] == method)]["file"].iloc[0]
            expected = np.asarray(Image.open(run.root / "samples" / file).convert("RGB"))
            tile = mosaic[r * (width + gap):r * (width + gap) + width, c * (width + gap):c * (width + gap) + width]
            np.testing.assert_array_equal(tile, expected)


def test_large_samples_are_scaled_down(tmp_path: Path) -> None:
    run = load_run(build_run(tmp_path / "run", image_size=320, n_samples=1, masks=("cloth",)))
    mosaic, _columns, _rows, width = sample_grid(run, "cloth")
    assert width == 160 and mosaic.shape[0] == 160


def test_training_curves_from_the_model_card_log(run) -> None:
    logs, problems = train_logs(run)
    assert problems == [] and list(logs) == ["cl-attn"]
    expected = pd.read_csv(run.root / "cards" / "cl-attn_log.csv")
    fig = train_figure("cl-attn", logs["cl-attn"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["loss_G", "loss_D", "loss_NCE"]
    raw = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(raw.get_xdata(), expected["step"])
    np.testing.assert_allclose(raw.get_ydata(), expected["loss_G"])
    plt.close(fig)


def test_missing_training_log_is_reported_not_fatal(run) -> None:
    (run.root / "cards" / "cl-attn_log.csv").unlink()
    logs, problems = train_logs(run)
    assert logs == {} and len(problems) == 1 and "cl-attn_log.csv" in problems[0]
    info = json.loads((run.root / "run.json").read_text())
    info["train_cards"]["cl-attn"] = "nowhere/card.json"
    (run.root / "run.json").write_text(json.dumps(info))
    _logs, problems = train_logs(load_run(run.root))
    assert problems == ["training curves of cl-attn: model card nowhere/card.json not found"]


def test_render_writes_png_and_pdf_and_drops_stale_figures(tmp_path: Path) -> None:
    run = load_run(build_run(tmp_path / "run", masks=("cloth",), methods=("telea", "cl-attn"), recognizers=("dlib",),
                             unavailable={}, n_samples=2, n_images=10))
    stale = run.root / "plots" / "roc_lfw-gray_retired.png"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    unrelated = run.root / "plots" / "notes.txt"
    unrelated.write_text("keep")
    written = render(run.root, {"plots"})
    stems = sorted({p.stem for p in written})
    assert stems == ["bars_lfw-gray", "bins_lfw-gray", "roc_lfw-gray_dlib", "samples_cloth", "train_cl-attn"]
    for path in written:
        if path.suffix == ".png":
            with Image.open(path) as image:
                assert image.format == "PNG" and min(image.size) > 150
        else:
            assert path.suffix == ".pdf" and path.read_bytes().startswith(b"%PDF")
    assert not stale.exists() and unrelated.exists()
    first = {p: p.read_bytes() for p in written}
    render(run.root, {"plots"})
    assert {p: p.read_bytes() for p in written} == first  # same run, same files


@pytest.mark.slow
def test_quick_sized_run_renders_every_file(tmp_path: Path) -> None:
    """6 methods x 4 mask styles x 3 recognizers, ROC from 600 pairs: every format (the time is printed;
    `bench perf` measures it)."""
    run_dir = build_run(tmp_path / "run", masks=("surgical", "n95", "kn95", "cloth"),
                        methods=("telea", "navier-stokes", "cl-attn", "cut", "lama", "mat"),
                        recognizers=("dlib", "facenet", "arcface"), unavailable={}, n_pairs=600, n_images=300,
                        n_samples=6, image_size=112)
    wall, cpu = time.perf_counter(), time.process_time()
    written = render(run_dir)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"quick-sized render: {len(written)} files, {wall:.1f} s wall, {cpu:.1f} s CPU")
    assert len(written) == 2 * 10 + 4
