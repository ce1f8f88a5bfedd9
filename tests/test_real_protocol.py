"""The real-mask protocol (dataset kind `photos`): faces found, regions, FID/KID and HOG rate, cached reruns."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from bench.cli import main as bench_main
from bench.data.imageio import save_png
from bench.photos.evaluate import wilson


def test_wilson_interval_matches_the_published_formula():
    # 8 of 10: Wilson 95% interval (0.490, 0.943), as in Newcombe (1998), method 3.
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 10)[0] == pytest.approx(0.0, abs=1e-12)


@pytest.fixture()
def photo_protocol(bench_data, tmp_path):
    photos = tmp_path / "photos"
    (photos / "a").mkdir(parents=True)
    shutil.copy(bench_data / "masked-real-dev" / "0002" / "0001.jpg", photos / "a" / "one.jpg")
    shutil.copy(bench_data / "masked-real-dev" / "0002" / "0008.jpg", photos / "a" / "two.jpg")
    yy, xx = np.mgrid[0:120, 0:200]
    save_png(photos / "none.png", np.stack([xx, yy, xx + yy], -1).astype(np.uint8))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    reference = tmp_path / "reference"
    for name in ("Aaron_Peirsol", "Abdullah_Gul", "AJ_Cook", "Aaron_Sorkin"):
        for path in sorted((bench_data / "lfw-gray" / name).glob("*.jpg"))[:3]:
            (reference / name).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, reference / name)
    protocol = tmp_path / "real.yaml"
    protocol.write_text(f"""
name: real_test
dataset: {{kind: photos, root: "{photos}", display_name: test-photos}}
reference: {{kind: folder, root: "{reference}", display_name: LFW-gray}}
methods: [masked, telea]
metrics: [fid, kid, hog-rate]
""")
    return protocol


def test_real_protocol_scores_every_method_and_caches(photo_protocol, tmp_path, capsys):
    out = tmp_path / "out"
    assert bench_main(["run", str(photo_protocol), "--out", str(out)]) == 0
    printed = capsys.readouterr().err
    assert "photos: 4" in printed and "unreadable photos: 1" in printed and "photos without a face: 1" in printed
    metrics = pd.read_csv(out / "metrics.csv")
    table = metrics.set_index(["method", "metric"])["value"]
    assert set(table.index) == {("masked", "fid"), ("masked", "kid"), ("masked", "hog-rate"), ("telea", "fid"),
                                ("telea", "kid"), ("telea", "hog-rate"), ("clean", "hog-rate")}
    faces = pd.read_csv(out / "faces.csv")
    assert len(faces) == 2 and set(faces["photo"]) == {"a/one.jpg", "a/two.jpg"}
    assert (metrics.loc[metrics["method"] != "clean", "n"] == 2).all()
    assert metrics.loc[metrics["method"] == "clean", "n"].item() == len(list((tmp_path / "reference").rglob("*.jpg")))
    for method in ("masked", "telea"):  # the rate is the share of faces found, as faces.csv lists them
        assert table[(method, "hog-rate")] == pytest.approx(faces[f"hog:{method}"].mean())
    assert table[("telea", "fid")] != table[("masked", "fid")]
    assert (out / "contact_sheet.png").is_file() and (out / "summary.md").is_file()
    assert "hog-rate" in (out / "summary.md").read_text()
    before = (out / "cache" / "methods" / "telea.npz").stat().st_mtime_ns
    assert bench_main(["run", str(photo_protocol), "--out", str(out)]) == 0
    assert (out / "cache" / "methods" / "telea.npz").stat().st_mtime_ns == before  # reused, not recomputed
    assert pd.read_csv(out / "metrics.csv").equals(metrics)


def test_real_protocol_refuses_metrics_that_need_ground_truth(photo_protocol, tmp_path, capsys):
    text = photo_protocol.read_text().replace("metrics: [fid, kid, hog-rate]", "metrics: [psnr, kid]")
    photo_protocol.write_text(text)
    assert bench_main(["run", str(photo_protocol), "--out", str(tmp_path / "o")]) == 1
    assert "psnr cannot be scored without ground truth" in capsys.readouterr().err


def test_real_protocol_scores_only_the_chosen_subset(photo_protocol, tmp_path, capsys):
    shutil.copy(tmp_path / "photos" / "a" / "two.jpg", tmp_path / "photos" / "a" / "five.jpg")
    out = tmp_path / "held"
    assert bench_main(["run", str(photo_protocol), "--out", str(out), "--set", "dataset.subset=held-out",
                       "--no-report"]) == 0
    # held out: a/five.jpg, a/one.jpg, none.png; a/two.jpg and broken.jpg are in the train half
    assert "photos: 3" in capsys.readouterr().err
    faces = pd.read_csv(out / "faces.csv")
    assert list(faces["photo"]) == ["a/five.jpg", "a/one.jpg"]


def test_real_protocol_dry_run_computes_nothing(photo_protocol, tmp_path, capsys):
    out = tmp_path / "dry"
    assert bench_main(["run", str(photo_protocol), "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "subset all: 4 of 4" in printed and "faces no" in printed and "methods masked, telea" in printed
    assert not out.exists()
