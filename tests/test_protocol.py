"""Protocol files: the shipped ones load; bad ones fail with the key path and line named."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench import protocol as protocol_io
from bench.api import BenchError

REPO = Path(__file__).resolve().parents[1]

GOOD = """\
name: tiny
dataset:
  kind: lfw
  root: ${BENCH_DATA}/lfw-gray
  folds: [1]
masks:
  styles: [surgical]
methods: [masked, {name: telea, options: {radius: 3}, label: telea-r3}]
metrics: [psnr]
"""


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "protocols").glob("*.yaml")))
def test_shipped_protocols_load(name, monkeypatch, bench_data):
    monkeypatch.setenv("CELEBA_ROOT", "/nonexistent/celeba")
    protocol = protocol_io.load(REPO / "protocols" / f"{name}.yaml")
    assert protocol.name == name and protocol.methods


def test_good_protocol_expands_environment(tmp_path, bench_data):
    path = tmp_path / "p.yaml"
    path.write_text(GOOD)
    protocol = protocol_io.load(path)
    assert Path(protocol.dataset.root).resolve() == (bench_data / "lfw-gray").resolve()
    assert protocol.methods[1].options == {"radius": 3} and protocol.methods[1].display == "telea-r3"
    assert protocol.batch_size == 32 and protocol.bins[0] == 0.0


@pytest.mark.parametrize("text, message", [
    (GOOD.replace("  folds: [1]", "  foldz: [1]"), r"dataset.foldz: unknown key"),
    (GOOD.replace("metrics: [psnr]", "metrics: [psnr]\nbatch_size: many"), r"batch_size: expected int"),
    (GOOD.replace("metrics: [psnr]", "metrics: [psnr]\nbatch_size: true"), r"batch_size: expected an integer"),
    (GOOD.replace("  folds: [1]", "  folds: [one]"), r"dataset.folds\[0\]: expected int"),
    (GOOD.replace("  kind: lfw", "  kind: lfwx"), r"dataset.kind: 'lfwx' unknown"),
    (GOOD.replace("  kind: lfw\n", ""), r"dataset.kind: required key is missing"),
    (GOOD.replace("methods: [masked,", "methods: [masked, masked,"), r"'masked' is listed twice"),
    (GOOD.replace("  root: ${BENCH_DATA}", "  root: ${NO_SUCH_VARIABLE_X}"), r"dataset.root: environment variable NO_SUCH_VARIABLE_X"),
    (GOOD.replace("  folds: [1]", "\tfolds: [1]"), r"line 5.*tabs"),
    (GOOD + "bins: [0.5, 0.2]\n", r"bins: need at least two increasing edges"),
    ("- just\n- a list\n", r"expected a mapping"),
    (GOOD.replace("name: tiny", "name: ../escape"), r"name: '../escape'"),
])
def test_bad_protocols_name_the_key(tmp_path, bench_data, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(BenchError, match=message) as info:
        protocol_io.load(path)
    assert "bad.yaml" in str(info.value)


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("!!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(BenchError, match="evil.yaml"):
        protocol_io.load(path)


def test_missing_protocol_file(tmp_path):
    with pytest.raises(BenchError, match="not found"):
        protocol_io.load(tmp_path / "nope.yaml")


def test_command_line_overrides(tmp_path, bench_data):
    path = tmp_path / "p.yaml"
    path.write_text(GOOD)
    protocol = protocol_io.load(path, ["masks.styles=[n95, cloth]", "dataset.folds=[2]", "batch_size=8"])
    assert protocol.masks.styles == ["n95", "cloth"] and protocol.dataset.folds == [2] and protocol.batch_size == 8
    with pytest.raises(BenchError, match=r"dataset.foldz: unknown key"):
        protocol_io.load(path, ["dataset.foldz=[2]"])
    with pytest.raises(BenchError, match=r"expected KEY=VALUE"):
        protocol_io.load(path, ["masks.styles"])
    with pytest.raises(BenchError, match=r"batch_size: expected int"):
        protocol_io.load(path, ["batch_size=lots"])
