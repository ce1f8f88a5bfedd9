"""Executors: local process pool and Ray give the metrics.csv of a single-process run, a killed
Ray worker has its task retried, an unreachable cluster fails fast; the dry-run's plan and
time estimate; the task resources declared to Ray."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.api import BenchError
from bench.run.estimate import estimate, single_threaded
from bench.run.executors import machine_cores
from bench.run.ray_executor import check_reachable, task_resources

REPO = Path(__file__).resolve().parents[1]

PROTOCOL = """\
name: exec
dataset: {{kind: lfw, root: "${{BENCH_DATA}}/lfw-gray", folds: [1], limit: {limit}}}
masks: {{styles: [surgical, box], seed: 0}}
methods: [masked, telea, {{name: "tests.plugins:MeanFill", options: {{delay: {delay}}}, label: mean-fill}}]
recognizers: [{recognizers}]
metrics: [psnr-mask, ssim]
batch_size: 4
samples: 2
bootstrap: 100
"""


def protocol_file(tmp_path: Path, limit: int = 6, delay: float = 0.0, recognizers: str = "dlib") -> Path:
    path = tmp_path / "exec.yaml"
    path.write_text(PROTOCOL.format(limit=limit, delay=delay, recognizers=recognizers))
    return path


def bench(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, timeout=timeout)


def run_to(tmp_path: Path, protocol: Path, name: str, *extra: str) -> str:
    done = bench("run", str(protocol), "--out", str(tmp_path / name), "--no-report", *extra)
    assert done.returncode == 0, done.stderr
    return (tmp_path / name / "metrics.csv").read_text()


@pytest.fixture(scope="module")
def single_process(tmp_path_factory, bench_data) -> tuple[Path, str]:
    """The reference: the protocol run in one process."""
    tmp = tmp_path_factory.mktemp("exec")
    protocol = protocol_file(tmp)
    return protocol, run_to(tmp, protocol, "one", "--workers", "1")


@pytest.mark.slow
def test_local_pool_equals_single_process(single_process, tmp_path):
    protocol, reference = single_process
    assert run_to(tmp_path, protocol, "pool", "--workers", "2") == reference
    samples = sorted(p.relative_to(tmp_path / "pool") for p in (tmp_path / "pool" / "samples").rglob("*.png"))
    assert len(samples) == 2 * (1 + 2 * 3)  # clean, and masked + 2 methods per style (masked is its own output)


@pytest.mark.slow
def test_ray_local_cluster_equals_single_process(single_process, tmp_path):
    pytest.importorskip("ray")
    protocol, reference = single_process
    assert run_to(tmp_path, protocol, "ray", "--executor", "ray", "--workers", "2") == reference
    info = json.loads((tmp_path / "ray" / "run.json").read_text())
    assert info["execution"]["executor"] == "ray"


def _ray_task_pids() -> list[int]:
    """Ray worker processes executing a chunk task (Ray titles them ray::run_chunk)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"ray::run_chunk"):
                pids.append(int(entry))
    return pids


@pytest.mark.slow
def test_killed_ray_worker_has_its_task_retried(tmp_path, bench_data):
    pytest.importorskip("ray")
    protocol = protocol_file(tmp_path, limit=6, delay=1.0, recognizers="")
    reference = run_to(tmp_path, protocol, "reference", "--workers", "1")
    out = tmp_path / "ray"
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", str(protocol), "--out", str(out), "--no-report",
                             "--executor", "ray", "--workers", "2"], cwd=REPO, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed = None
    deadline = time.time() + 180
    while killed is None:
        assert proc.poll() is None, f"run ended before a worker was killed: {proc.stderr.read()}"
        assert time.time() < deadline, "no Ray task ever ran"
        cached = list((out / "cache" / "conditions").rglob("c*.npz")) if (out / "cache").exists() else []
        running = _ray_task_pids()
        if cached and running:  # mid-run: some chunks are done, one is being computed
            killed = running[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert killed not in _ray_task_pids()
    assert (out / "metrics.csv").read_text() == reference


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_address_fails_fast_naming_it(tmp_path, bench_data):
    pytest.importorskip("ray")
    address = f"127.0.0.1:{_closed_port()}"
    start = time.time()
    done = bench("run", str(protocol_file(tmp_path)), "--out", str(tmp_path / "out"), "--executor", "ray",
                 "--address", address, timeout=60)
    assert done.returncode == 1
    assert time.time() - start < 30  # start-up of the command included; the check itself takes < 1 s here
    assert f"--address {address}: no Ray cluster reachable there" in done.stderr


def test_check_reachable_rejects_bad_addresses():
    start = time.time()
    with pytest.raises(BenchError, match="no Ray cluster reachable"):
        check_reachable(f"ray://127.0.0.1:{_closed_port()}")
    assert time.time() - start < 5
    with pytest.raises(BenchError, match="expected HOST:PORT"):
        check_reachable("localhost")


def test_address_needs_the_ray_executor(tmp_path, bench_data):
    done = bench("run", str(protocol_file(tmp_path)), "--address", "auto", timeout=60)
    assert done.returncode == 1 and "--address needs --executor ray" in done.stderr


def test_task_resources_share_the_gpus_among_task_slots():
    from bench.protocol import parse

    gpu = parse({"dataset": {"kind": "folder", "root": "x"}, "methods": ["masked"]})
    cpu = parse({"dataset": {"kind": "folder", "root": "x"}, "methods": ["masked"], "device": "cpu"})
    assert task_resources(gpu, {"CPU": 16.0}) == {"num_cpus": 1}
    assert task_resources(gpu, {"CPU": 16.0, "GPU": 2.0}) == {"num_cpus": 1, "num_gpus": 0.125}
    assert task_resources(gpu, {"CPU": 1.0, "GPU": 2.0}) == {"num_cpus": 1, "num_gpus": 1.0}
    assert task_resources(cpu, {"CPU": 16.0, "GPU": 2.0}) == {"num_cpus": 1}


def test_estimate_divides_single_threaded_stages_only():
    counts = {"landmarks (dlib 68-point)": 100, "FID features (ours)": 100, "embed: unknown": 5}
    speeds = {"landmarks (dlib 68-point)": 50.0, "FID features (ours)": 20.0}
    assert single_threaded("mask synthesis: cloth") and not single_threaded("metric: lpips (ours, references reused)")
    assert estimate(counts, speeds, 1, 8) == (2.0 + 5.0, ["embed: unknown"])
    assert estimate(counts, speeds, 4, 8)[0] == pytest.approx(0.5 + 5.0)
    assert estimate(counts, speeds, 16, 8)[0] == pytest.approx(0.25 + 5.0)  # no more workers than cores
    # threaded stages measured on 8 cores take 8 times as long on one
    assert estimate(counts, speeds, 1, 1, measured_cores=8)[0] == pytest.approx(2.0 + 40.0)


def test_scaling_runs_are_workers_on_cores():
    from bench.run.scaling import parse_runs

    assert parse_runs("1,2,1/2", 2) == [(1, 1), (2, 2), (1, 2)]
    for bad in ("1,x", "0", "3", "1/3", "1,1", "2/0"):
        with pytest.raises(BenchError, match="--scaling"):
            parse_runs(bad, 2)


def test_a_child_pinned_to_one_core_sees_one_core(tmp_path):
    from bench.run.scaling import measured_run

    out = tmp_path / "cores.txt"
    code = f"from bench.run.executors import machine_cores; open({str(out)!r}, 'w').write(str(machine_cores()))"
    result = measured_run([sys.executable, "-c", code], Path.cwd(), {sorted(os.sched_getaffinity(0))[0]})
    assert result["returncode"] == 0 and out.read_text() == "1"


def test_dry_run_prints_plan_and_estimate_and_runs_nothing(tmp_path, bench_data):
    speeds = {"landmarks (dlib 68-point)": 10.0, "mask synthesis: surgical": 20.0, "mask synthesis: box": 20.0,
              "inpaint: masked": 1000.0, "inpaint: telea": 5.0, "metric: psnr-mask": 100.0,
              "metric: ssim (ours, batched)": 50.0, "embed: dlib": 4.0}
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "perf.json").write_text(json.dumps(
        {"stages": [{"stage": k, "images_per_s": v} for k, v in speeds.items()]}))
    out = tmp_path / "out"
    done = bench("run", str(protocol_file(tmp_path)), "--out", str(out), "--dry-run", "--workers", "3",
                 env={"BENCH_CACHE": str(tmp_path / "cache")}, timeout=60)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    faces = int(text.split("faces ")[1].split(",")[0])
    assert "pairs 6" in text and "conditions 2 styles x 3 methods = 6" in text
    chunks = -(-faces // 4)
    assert f"chunks {chunks} of at most 4 faces" in text and f"work left: {chunks * 7} of {chunks * 7}" in text
    # per face: landmarks, 2 mask styles, masked + telea for each style, psnr-mask and ssim on 6 outputs,
    # dlib (torch, threaded) on the clean face and the 6 outputs; the mean-fill plugin was never measured
    serial = 1 / 10 + 2 / 20 + 2 / 1000 + 2 / 5 + 6 / 100
    threaded = 6 / 50 + 7 / 4
    cores = machine_cores()
    for workers in (1, 3):
        seconds = faces * (serial / min(workers, cores) + threaded)
        assert f"{workers:>3} worker{'s' if workers > 1 else ' '}  {seconds:8.0f} s" in text
    assert "not counted (no speed measured): inpaint: tests.plugins:MeanFill" in text
    assert not out.exists()
