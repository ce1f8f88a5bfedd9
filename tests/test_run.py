"""`bench run` end to end on a few real LFW-gray faces: results, resume after SIGKILL, locking,
plugins from outside the repository, and plugins that misbehave."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main

REPO = Path(__file__).resolve().parents[1]

PROTOCOL = """\
name: tiny
dataset:
  kind: lfw
  root: ${{BENCH_DATA}}/lfw-gray
  display_name: LFW-gray
  folds: [1]
  limit: {limit}
masks:
  styles: [{styles}]
  seed: 0
methods: [{methods}]
metrics: [{metrics}]
batch_size: {batch}
samples: 2
bootstrap: 200
"""


def write_protocol(tmp_path: Path, limit=12, styles="surgical", methods="masked, telea",
                   metrics="psnr-mask, tests.plugins:SlowMAE", batch=8) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(PROTOCOL.format(limit=limit, styles=styles, methods=methods, metrics=metrics, batch=batch))
    return path


def run_cli(args: list[str], env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, **kwargs)


@pytest.mark.slow
def test_tiny_run_writes_results(tmp_path, bench_data):
    out = tmp_path / "out"
    assert main(["run", str(write_protocol(tmp_path)), "--out", str(out), "--no-report"]) == 0
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics.columns) == ["dataset", "mask", "method", "recognizer", "metric", "value", "ci_low", "ci_high", "n"]
    psnr = metrics[metrics.metric == "psnr-mask"].set_index("method")["value"]
    assert psnr["telea"] > psnr["masked"] + 1  # diffusion fills beat leaving the mask in place
    assert (metrics.n[metrics.metric == "psnr-mask"] == metrics.n.iloc[0]).all()
    index = pd.read_csv(out / "samples" / "index.csv")
    assert set(index.method) == {"clean", "masked", "telea"} and index.row.nunique() == 2
    assert all((out / "samples" / f).exists() for f in index.file)
    info = json.loads((out / "run.json").read_text())
    assert info["dataset"]["n_pairs"] == 12 and info["landmarks"]["detected"] + info["landmarks"]["fallback"] == info["dataset"]["n_faces"]
    # A second invocation reuses the cache and reproduces the same numbers.
    assert main(["run", str(write_protocol(tmp_path)), "--out", str(out), "--no-report"]) == 0
    assert pd.read_csv(out / "metrics.csv").equals(metrics)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"run ended before the kill point: {proc.stderr.read()}")
        if time.time() > deadline:
            proc.kill()
            raise AssertionError("kill point never reached")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["inpainting", "metrics", "aggregation"])
def test_resume_after_sigkill_matches_uninterrupted(tmp_path, bench_data, phase):
    protocol = write_protocol(tmp_path, limit=16, methods="masked, tests.plugins:MeanFill", batch=6,
                              metrics="psnr-mask, tests.plugins:SlowMAE, tests.plugins:SlowMeanDistance")
    reference = tmp_path / "reference"
    done = run_cli(["run", str(protocol), "--out", str(reference), "--no-report"])
    assert done.returncode == 0, done.stderr

    out = tmp_path / "killed"
    env = {"inpainting": {"TEST_PLUGIN_DELAY": "0.4"}, "metrics": {"TEST_METRIC_DELAY": "0.4"},
           "aggregation": {"TEST_AGGREGATE_DELAY": "5"}}[phase]
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", str(protocol), "--out", str(out), "--no-report"],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    conditions = out / "cache" / "conditions"
    plan = out / "cache" / "plan.json"

    def ready() -> bool:
        if not plan.exists() or not conditions.exists():
            return False
        # aggregation: wait until every chunk of both methods is cached
        needed = 2 if phase != "aggregation" else 2 * json.loads(plan.read_text())["chunks"]
        return len(list(conditions.rglob("c*.npz"))) >= needed

    _kill_when(proc, ready)
    if phase == "aggregation":
        time.sleep(1.0)  # inside the slow set metric, before any result file is written
    assert not (out / "metrics.csv").exists()
    assert not list(out.rglob("*.tmp")) or all(p.stat().st_size >= 0 for p in out.rglob("*.tmp"))
    resumed = run_cli(["run", str(protocol), "--out", str(out), "--no-report"])
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()


@pytest.mark.slow
def test_second_run_on_same_folder_is_refused(tmp_path, bench_data):
    protocol = write_protocol(tmp_path, methods="tests.plugins:MeanFill")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", str(protocol), "--out", str(out), "--no-report"],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), "TEST_PLUGIN_DELAY": "2"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not (out / ".lock").exists() or not (out / ".lock").read_text().strip():
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.05)
        second = run_cli(["run", str(protocol), "--out", str(out), "--no-report"])
        assert second.returncode == 1
        assert "in use by a running bench process" in second.stderr and str(proc.pid) in second.stderr
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # The dead process holds no lock any more: the next run goes through.
    third = run_cli(["run", str(protocol), "--out", str(out), "--no-report"], env={"TEST_PLUGIN_DELAY": "0"})
    assert third.returncode == 0, third.stderr


@pytest.mark.parametrize("plugin, message", [
    ("Raises", r"method 'tests.plugins:Raises' failed on .*jpg and \d+ more: RuntimeError: model exploded"),
    ("ReturnsNaN", r"method 'tests.plugins:ReturnsNaN' returned NaN"),
    ("WrongShape", r"method 'tests.plugins:WrongShape' returned shape \(\d+, 159, 160, 3\), expected"),
    ("WrongDtype", r"method 'tests.plugins:WrongDtype' returned dtype float32, expected uint8"),
])
def test_misbehaving_plugins_are_named(tmp_path, bench_data, capsys, plugin, message):
    protocol = write_protocol(tmp_path, limit=4, methods=f"tests.plugins:{plugin}", metrics="psnr-mask")
    assert main(["run", str(protocol), "--out", str(tmp_path / "out"), "--no-report"]) == 1
    assert pytest.importorskip("re").search(message, capsys.readouterr().err)


def test_unknown_method_is_named(tmp_path, bench_data, capsys):
    protocol = write_protocol(tmp_path, limit=4, methods="masked, no-such-inpainter")
    assert main(["run", str(protocol), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "methods[1]: unknown inpainter 'no-such-inpainter'" in err and "telea" in err


EXTERNAL = '''\
"""A third-party inpainter living outside the repository."""
import numpy as np
from bench.api import Inpainter


class GrayFill(Inpainter):
    name = "gray-fill"

    def __call__(self, images, masks):
        out = images.copy()
        out[masks] = 128
        return out
'''


@pytest.mark.slow
def test_plugin_from_an_installed_distribution(tmp_path, bench_data):
    site = tmp_path / "site"
    (site / "graypkg").mkdir(parents=True)
    (site / "graypkg" / "__init__.py").write_text(EXTERNAL)
    info = site / "graypkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: graypkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[bench.inpainters]\ngray-fill = graypkg:GrayFill\n")
    env = {"PYTHONPATH": f"{site}{os.pathsep}{REPO}"}
    listed = run_cli(["list", "inpainter"], env=env)
    assert listed.returncode == 0 and "gray-fill" in listed.stdout and "graypkg" in listed.stdout
    protocol = write_protocol(tmp_path, limit=4, methods="masked, gray-fill", metrics="psnr-mask")
    done = run_cli(["run", str(protocol), "--out", str(tmp_path / "out"), "--no-report"], env=env)
    assert done.returncode == 0, done.stderr
    metrics = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert set(metrics.method) == {"masked", "gray-fill"}


@pytest.mark.slow
def test_a_changed_method_is_recomputed_not_read_from_the_cache(tmp_path, bench_data, capsys):
    out = tmp_path / "out"

    def run_with(value: int) -> float:
        methods = f"{{name: 'tests.plugins:Constant', options: {{value: {value}}}, label: constant}}"
        assert main(["run", str(write_protocol(tmp_path, limit=4, methods=methods, metrics="l1-mask")),
                     "--out", str(out), "--no-report"]) == 0
        metrics = pd.read_csv(out / "metrics.csv")
        return float(metrics[(metrics.metric == "l1-mask") & (metrics.method == "constant")].value.iloc[0])

    black = run_with(0)
    capsys.readouterr()
    white = run_with(255)
    printed = capsys.readouterr()
    assert "method 'constant' changed" in printed.out + printed.err
    assert white != black
    assert run_with(255) == white  # unchanged options: the cache is used and gives the same number
    printed = capsys.readouterr()
    assert "changed since" not in printed.out + printed.err


@pytest.mark.slow
def test_a_changed_metric_drops_the_cached_scores(tmp_path, bench_data, capsys, monkeypatch):
    out = tmp_path / "out"

    def run_with(scale: str) -> float:
        monkeypatch.setenv("TEST_METRIC_SCALE", scale)
        assert main(["run", str(write_protocol(tmp_path, limit=4, methods="masked", metrics="tests.plugins:SlowMAE")),
                     "--out", str(out), "--no-report"]) == 0
        metrics = pd.read_csv(out / "metrics.csv")
        return float(metrics[(metrics.metric == "tests.plugins:SlowMAE") & (metrics.method == "masked")].value.iloc[0])

    one = run_with("1")
    capsys.readouterr()
    two = run_with("2")
    printed = capsys.readouterr()
    assert "a recognizer or metric changed" in printed.out + printed.err
    assert two == pytest.approx(2 * one, abs=2e-4)  # metrics.csv rounds to 4 decimals
    assert run_with("2") == two
    assert "changed since" not in "".join(capsys.readouterr())
