"""``bench perf --scaling 1,2``: the same ``--limit`` run with each worker count, side by side.

A run ``W`` has W local workers on W cores: the child process may run only on the first W
cores of this one (CPU affinity), so one worker is one core and the speedup of 2 over 1 is what
a second core buys. ``W/C`` runs W workers on C cores (``1/2``: one worker process whose torch
stages use both cores, the default of earlier versions). Every run starts from an empty results
folder in a child process (assets cached). While it
runs, the threads of its process tree that are running or runnable are counted every 0.2 s:
their mean is the load the run puts on the machine, which shows whether the workers use the
cores they were given without oversubscribing them. The ``metrics.csv`` of every run is
compared with the first one's.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

SAMPLE_S = 0.2


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def running_threads(root: int) -> int:
    """Threads of ``root`` and its descendants that are running or waiting for a core."""
    tree, stack, count = _children(), [root], 0
    while stack:
        pid = stack.pop()
        stack.extend(tree.get(pid, []))
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                state = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            count += state == "R"
    return count


def parse_runs(spec: str, available: int) -> list[tuple[int, int]]:
    """``"1,2,1/2"`` -> ``[(1, 1), (2, 2), (1, 2)]``: (workers, cores) of each run."""
    from bench.api import BenchError

    runs = []
    for item in spec.split(","):
        workers, _, cores = item.strip().partition("/")
        try:
            pair = (int(workers), int(cores or workers))
        except ValueError:
            raise BenchError(f"--scaling: {item!r} is not W or W/C (workers, cores), e.g. 1,2 or 1/2") from None
        if min(pair) < 1 or pair[1] > available:
            raise BenchError(f"--scaling: {item!r} needs 1 <= workers and 1 <= cores <= {available} (the cores here)")
        runs.append(pair)
    if not runs or len(set(runs)) != len(runs):
        raise BenchError(f"--scaling: {spec!r} must list distinct runs")
    return runs


def measured_run(cmd: list[str], cwd: Path, cores: set[int] | None = None) -> dict[str, Any]:
    """Wall time, CPU time and mean load of one child command (on ``cores`` only, when given)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    pin = (lambda: os.sched_setaffinity(0, cores)) if cores else None
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=pin)
    samples = []
    while proc.poll() is None:
        samples.append(running_threads(proc.pid))
        time.sleep(SAMPLE_S)
    seconds = time.perf_counter() - start
    stderr = proc.stderr.read() if proc.stderr else ""
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"returncode": proc.returncode, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
            "mean_running_threads": round(sum(samples) / max(1, len(samples)), 2),
            "max_running_threads": max(samples, default=0), "stderr": stderr[-2000:]}


def scaling(protocol: Path, limit: int, spec: str, repeats: int, repo: Path,
            log: Callable[[str], None]) -> dict[str, Any]:
    """Run ``bench run PROTOCOL --limit N --workers W`` on C cores for each (W, C) of ``spec``
    (``repeats`` rounds, alternating) and compare wall times, loads and results."""
    from bench import protocol as protocol_io
    from bench.run.estimate import estimate, load_speeds, stage_images
    from bench.run.executors import machine_cores
    from bench.run.plan import make_plan

    loaded = protocol_io.load(protocol)
    plan = make_plan(loaded, limit)
    speeds = load_speeds()
    cores = machine_cores()
    available = sorted(os.sched_getaffinity(0))
    pairs = parse_runs(spec, len(available))
    runs: dict[str, list[dict[str, Any]]] = {f"{w}/{c}": [] for w, c in pairs}
    reference_csv = None
    with tempfile.TemporaryDirectory() as tmp:
        counts = stage_images(loaded, plan, Path(tmp) / "none")
        for round_ in range(repeats):
            for w, c in pairs:
                out = Path(tmp) / f"w{w}-c{c}-r{round_}"
                cmd = [sys.executable, "-m", "bench.cli", "run", str(protocol), "--limit", str(limit),
                       "--workers", str(w), "--out", str(out), "--no-report"]
                log(f"  {' '.join(cmd[2:])} (on {c} core{'s' if c > 1 else ''})")
                result = measured_run(cmd, repo, set(available[:c]))
                if result["returncode"] != 0:
                    raise RuntimeError(f"bench run --workers {w} on {c} cores failed: {result['stderr']}")
                text = (out / "metrics.csv").read_text()
                reference_csv = reference_csv or text
                result["metrics_identical"] = text == reference_csv
                del result["stderr"], result["returncode"]
                runs[f"{w}/{c}"].append(result)
                log(f"    {result}")
    base = min(r["seconds"] for r in runs[f"{pairs[0][0]}/{pairs[0][1]}"])
    rows = []
    for w, c in pairs:
        key = f"{w}/{c}"
        best = min(runs[key], key=lambda r: r["seconds"])
        row = {"workers": w, "cores": c, **best, "speedup": round(base / best["seconds"], 2),
               "metrics_identical": all(r["metrics_identical"] for r in runs[key])}
        if speeds is not None:
            row["estimated_seconds"] = round(estimate(counts, speeds, w, c, measured_cores=cores)[0], 1)
        rows.append(row)
    return {"protocol": str(protocol), "limit": limit, "faces": len(plan.faces), "pairs": len(plan.pairs),
            "cores": cores, "repeats": repeats, "rows": rows, "runs": runs}


def format_scaling(result: dict[str, Any]) -> str:
    lines = [f"`bench run {result['protocol']} --limit {result['limit']}` ({result['faces']} faces, "
             f"{result['cores']} cores, best of {result['repeats']}):", "",
             "| workers | cores | wall s | speedup | CPU s | mean running threads | estimated s | metrics.csv identical |",
             "|--:|--:|--:|--:|--:|--:|--:|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['workers']} | {row.get('cores', result['cores'])} | {row['seconds']} | {row['speedup']}x | "
                     f"{row['cpu_seconds']} | "
                     f"{row['mean_running_threads']} | {row.get('estimated_seconds', 'n/a')} | "
                     f"{'yes' if row['metrics_identical'] else 'NO'} |")
    return "\n".join(lines)
