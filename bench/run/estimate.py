"""``bench run --dry-run``: the plan of a run and its expected time per worker count.

The time comes from the stage speeds that ``bench perf`` measured on this machine (kept in the
cache folder as ``perf.json``). Stages that run one thread (dlib's landmarks, OpenCV inpainting,
mask synthesis, pixel metrics) divide among ``min(workers, cores)`` processes; threaded stages
(the torch networks: FID features, LPIPS, the recognizers, the models) were measured with every
core and keep their time. Worker start-up is not counted.
"""
from __future__ import annotations

import json
from pathlib import Path

from bench.api import BenchError
from bench.protocol import Protocol
from bench.run.executors import machine_cores
from bench.run.plan import Plan
from bench.run.runner import pending_work, style_names

SINGLE_THREADED = ("landmarks (dlib 68-point)", "mask synthesis:", "inpaint: masked", "inpaint: telea", "inpaint: navier-stokes",
                   "metric: psnr", "metric: psnr-mask", "metric: l1-mask")
METRIC_STAGES = {"ssim": "metric: ssim (ours, batched)", "lpips": "metric: lpips (ours, references reused)",
                 "fid": "FID features (ours)", "kid": "FID features (ours)"}


def perf_cache_path() -> Path:
    from bench.assets import cache_dir

    return cache_dir() / "perf.json"


def load_speeds(path: Path | None = None) -> dict[str, float] | None:
    """Images per second of every measured stage, or None when ``bench perf`` never ran here."""
    path = path or perf_cache_path()
    if not path.is_file():
        return None
    try:
        rows = json.loads(path.read_text())["stages"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"{path}: not a bench perf result ({exc}); run `bench perf` again") from None
    return {row["stage"]: row["images_per_s"] for row in rows if row.get("images_per_s")}


def stage_images(protocol: Protocol, plan: Plan, cache: Path) -> dict[str, int]:
    """Images each ``bench perf`` stage will process for the work left in ``cache``."""
    methods = {spec.display: spec.name for spec in protocol.methods}
    chunks = plan.chunks(protocol.batch_size)
    counts: dict[str, int] = {}

    def add(stage: str, n: int) -> None:
        counts[stage] = counts.get(stage, 0) + n

    def scored(n: int) -> None:
        for stage in {METRIC_STAGES.get(m, f"metric: {m}") for m in protocol.metrics}:
            add(stage, n)

    for index, clean_missing, missing in pending_work(protocol, plan, list(methods), cache):
        n = len(chunks[index])
        if clean_missing:
            add("landmarks (dlib 68-point)", n)
            if {"fid", "kid"} & set(protocol.metrics):
                add("FID features (ours)", n)
        for style in sorted({s for s, _ in missing}):
            add(f"mask synthesis: {style}", n)
        for _, label in missing:
            add(f"inpaint: {methods[label]}", n)
            scored(n)
        for spec in protocol.recognizers:
            add(f"embed: {spec.name}", n * (len(missing) + clean_missing))
    return {stage: n for stage, n in counts.items() if n}


def single_threaded(stage: str) -> bool:
    return any(stage == s or (s.endswith(":") and stage.startswith(s)) for s in SINGLE_THREADED)


def estimate(counts: dict[str, int], speeds: dict[str, float], workers: int, cores: int,
             measured_cores: int | None = None) -> tuple[float, list[str]]:
    """Seconds with ``workers`` local workers on ``cores`` cores, and the stages that were never
    measured. Threaded stages were measured on ``measured_cores`` (default: ``cores``); on fewer
    cores their time grows in proportion."""
    serial = threaded = 0.0
    unmeasured = []
    for stage, n in counts.items():
        speed = speeds.get(stage)
        if not speed:
            unmeasured.append(stage)
        elif single_threaded(stage):
            serial += n / speed
        else:
            threaded += n / speed
    threaded *= max(1.0, (measured_cores or cores) / cores)
    return serial / min(workers, cores) + threaded, unmeasured


def worker_counts(cores: int, requested: int | None) -> list[int]:
    counts = {1, cores} | ({requested} if requested else set())
    counts |= {2**k for k in range(1, 8) if 2**k < cores}
    return sorted(counts)


def describe(protocol: Protocol, plan: Plan, cache: Path, requested: int | None = None,
             speeds_path: Path | None = None) -> str:
    """The plan and the estimate, as printed by ``bench run --dry-run``."""
    chunks = plan.chunks(protocol.batch_size)
    styles, methods = style_names(protocol), [spec.display for spec in protocol.methods]
    work = pending_work(protocol, plan, methods, cache)
    left = sum(clean + len(missing) for _, clean, missing in work)
    lines = [
        f"protocol {protocol.name}: {plan.dataset_name}",
        f"  faces {len(plan.faces)}, pairs {len(plan.pairs)}"
        + (f" ({plan.skipped_pairs} skipped, images missing)" if plan.skipped_pairs else ""),
        f"  chunks {len(chunks)} of at most {protocol.batch_size} faces",
        f"  conditions {len(styles)} styles x {len(methods)} methods = {len(styles) * len(methods)}: "
        f"styles {', '.join(styles)}; methods {', '.join(methods)}",
        f"  recognizers {', '.join(s.display for s in protocol.recognizers) or 'none'}; metrics {', '.join(protocol.metrics)}",
        f"  work left: {left} of {len(chunks) * (1 + len(styles) * len(methods))} chunk tasks "
        f"({len(work)} chunks to run, the rest cached in {cache})",
    ]
    speeds = load_speeds(speeds_path)
    if speeds is None:
        lines.append(f"no stage speeds measured on this machine ({speeds_path or perf_cache_path()} is missing): "
                     "run `bench perf --skip-end-to-end --skip-model` once for time estimates")
        return "\n".join(lines)
    counts = stage_images(protocol, plan, cache)
    cores = machine_cores()
    lines.append(f"estimated time on this machine ({cores} cores; stage speeds from {speeds_path or perf_cache_path()}):")
    unmeasured: list[str] = []
    for workers in worker_counts(cores, requested):
        seconds, unmeasured = estimate(counts, speeds, workers, cores)
        lines.append(f"  {workers:>3} worker{'s' if workers > 1 else ' '}  {seconds:8.0f} s")
    if unmeasured:
        lines.append(f"  not counted (no speed measured): {', '.join(sorted(unmeasured))}")
    return "\n".join(lines)
