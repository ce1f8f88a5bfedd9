"""Speed of every stage on the same LFW-gray images, and side-by-side ratios with references.

Each stage reports images per second. References run in the same process on the same images:
scikit-image's SSIM per image, the ``lpips`` package pair by pair, pytorch-fid's own activation
loop, and a large fp32 matrix product (the machine's practical arithmetic peak) against which
the generator's achieved GFLOP/s is measured.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from bench.data.imageio import load_rgb
from bench.data.lfw import LFW

REPO = Path(__file__).resolve().parents[1]


def timed(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls (the least disturbed by other processes) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def matmul_gflops(n: int = 4096, repeats: int = 3) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    seconds, _ = timed(lambda: torch.mm(a, b), repeats)
    return 2 * n**3 / seconds / 1e9


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.cuda.is_available()}


class Perf:
    """Collects rows ``{stage, images, seconds, images_per_s, ...}``."""

    def __init__(self, images: np.ndarray, log: Callable[[str], None]) -> None:
        self.images = images
        self.rows: list[dict[str, Any]] = []
        self.log = log

    def add(self, stage: str, count: int, seconds: float, **extra: Any) -> None:
        row = {"stage": stage, "images": count, "seconds": round(seconds, 4),
               "images_per_s": round(count / seconds, 2) if seconds > 0 else None, **extra}
        self.rows.append(row)
        self.log(f"  {stage:<34} {row['images_per_s']:>9} img/s" + "".join(f"  {k}={v}" for k, v in extra.items()))


def load_images(root: Path, count: int) -> tuple[list[str], np.ndarray]:
    pairs = LFW(root).pairs(folds=[1]).pairs
    ids = sorted({p.a for p in pairs} | {p.b for p in pairs})[:count]
    return ids, np.stack([load_rgb(root / i) for i in ids])


def stage_speeds(perf: Perf, ids: list[str]) -> dict[str, np.ndarray]:
    """Landmarks, masks, inpainters, image metrics, Inception features and recognizers."""
    from bench import registry
    from bench.api import Unavailable
    from bench.landmarks import LandmarkDetector
    from bench.masks import STYLES, occlude_batch

    images, n = perf.images, len(perf.images)
    detector = LandmarkDetector()
    seconds, (landmarks, _) = timed(lambda: detector.detect_batch(images), 1)
    perf.add("landmarks (dlib 68-point)", n, seconds)
    occluded = masks = None
    for style in STYLES:
        seconds, (o, m) = timed(lambda: occlude_batch(images, landmarks, style, 0, ids))
        perf.add(f"mask synthesis: {style}", n, seconds)
        if style == "surgical":
            occluded, masks = o, m
    for name in ("masked", "telea", "navier-stokes", "cl-attn", "cut", "unet-paired"):
        try:
            method = registry.create("inpainter", name)
        except Unavailable as exc:
            perf.log(f"  inpainter {name}: unavailable ({exc})")
            continue
        method(occluded[:2], masks[:2])
        seconds, _ = timed(lambda: method(occluded, masks), 2)
        perf.add(f"inpaint: {name}", n, seconds)
    for name in ("psnr", "psnr-mask", "l1-mask"):
        metric = registry.create("metric", name)
        seconds, _ = timed(lambda: metric.per_image(images, occluded, masks))
        perf.add(f"metric: {name}", n, seconds)
    for name in ("dlib", "facenet", "arcface"):
        try:
            recognizer = registry.create("recognizer", name)
        except Unavailable as exc:
            perf.log(f"  recognizer {name}: unavailable ({exc})")
            perf.rows.append({"stage": f"embed: {name}", "unavailable": str(exc)})
            continue
        recognizer.embed(images[:2], landmarks[:2])
        seconds, _ = timed(lambda: recognizer.embed(images, landmarks), 2)
        perf.add(f"embed: {name}", n, seconds)
    return {"occluded": occluded, "masks": masks, "landmarks": landmarks}


def ssim_vs_skimage(perf: Perf, candidate: np.ndarray) -> dict[str, Any]:
    from skimage.metrics import structural_similarity

    from bench.metrics.pixel import ssim

    images = perf.images
    ours_s, ours = timed(lambda: ssim(images, candidate))
    ref_s, ref = timed(lambda: np.array([structural_similarity(a, b, channel_axis=-1, data_range=255, gaussian_weights=True,
                                                               sigma=1.5, use_sample_covariance=False)
                                          for a, b in zip(images, candidate)]))
    perf.add("metric: ssim (ours, batched)", len(images), ours_s)
    perf.add("reference: skimage ssim per image", len(images), ref_s)
    return {"speedup": round(ref_s / ours_s, 2), "max_abs_diff": float(np.abs(ours - ref).max()), "goal": ">= 5x, diff <= 1e-4"}


def lpips_vs_package(perf: Perf, candidate: np.ndarray) -> dict[str, Any]:
    """Ours cold (every reference through the backbone) and as the runner uses it (reference
    features reused across the methods scored against them), against the package pair by pair."""
    from bench.metrics.lpips_metric import LPIPS, lpips_distances, lpips_network

    images = perf.images
    metric = LPIPS()
    cold_s, ours = timed(lambda: lpips_distances(metric.model, images, candidate, metric.batch_size, cache=None), 2)
    metric.per_image(images, candidate, None)
    warm_s, _ = timed(lambda: metric.per_image(images, candidate, None), 2)
    model = lpips_network("alex")

    def pair_by_pair() -> np.ndarray:
        out = []
        with torch.no_grad():
            for a, b in zip(images, candidate):
                ta = torch.from_numpy(a).permute(2, 0, 1)[None].float() / 127.5 - 1
                tb = torch.from_numpy(b).permute(2, 0, 1)[None].float() / 127.5 - 1
                out.append(float(model(ta, tb).item()))
        return np.array(out)

    ref_s, ref = timed(pair_by_pair, 2)
    perf.add("metric: lpips (ours, batched)", len(images), cold_s)
    perf.add("metric: lpips (ours, references reused)", len(images), warm_s)
    perf.add("reference: lpips package per pair", len(images), ref_s)
    return {"speedup": round(ref_s / cold_s, 2), "speedup_references_reused": round(ref_s / warm_s, 2),
            "max_abs_diff": float(np.abs(ours - ref).max()), "goal": ">= 2x, same values"}


def fid_vs_pytorch_fid(perf: Perf) -> dict[str, Any]:
    from pytorch_fid.fid_score import get_activations

    from bench.data.imageio import save_png
    from bench.metrics.fid import inception, inception_features

    images = perf.images
    inception_features(images[:2])
    ours_s, ours = timed(lambda: inception_features(images), 2)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, image in enumerate(images):
            files.append(str(Path(tmp) / f"{i:04d}.png"))
            save_png(files[-1], image)
        model = inception("cpu")
        ref_s, ref = timed(lambda: get_activations(files, model, batch_size=50, dims=2048, device="cpu", num_workers=0), 2)
    perf.add("FID features (ours)", len(images), ours_s)
    perf.add("reference: pytorch-fid get_activations", len(images), ref_s)
    rel = float(np.abs(ours - ref).max() / (np.abs(ref).max() + 1e-12))
    return {"speedup": round(ref_s / ours_s, 2), "max_rel_diff": rel, "goal": ">= 1x, identical features"}


def generator_efficiency(peak: float, quick: bool) -> dict[str, Any]:
    """Achieved GFLOP/s of the cl-attn generator at batch 16, 128x128, with each execution option."""
    from inpaint.benchmark import _inputs, generator_flops
    from inpaint.checkpoint import load_generator

    path = REPO / "inpaint" / "weights" / "cl-attn.safetensors"
    if not path.is_file():
        return {"unavailable": f"{path} not found"}
    generator, info = load_generator(path, torch.device("cpu"))
    generator.eval()
    flops = generator_flops(generator, info["config"])
    x, mask = _inputs(info["config"], 16)
    variants: dict[str, Callable[[], Any]] = {}

    def eager(model, inp):
        def call():
            with torch.no_grad():
                return model(inp, mask)
        return call

    def inference(model, inp):
        def call():
            with torch.inference_mode():
                return model(inp, mask)
        return call

    variants["no_grad NCHW"] = eager(generator, x)
    variants["inference_mode NCHW"] = inference(generator, x)
    nhwc = load_generator(path, torch.device("cpu"))[0].eval().to(memory_format=torch.channels_last)
    variants["inference_mode channels_last"] = inference(nhwc, x.contiguous(memory_format=torch.channels_last))
    result: dict[str, Any] = {"gflop_per_image": round(flops / 1e9, 3), "batch": 16, "matmul_gflops": round(peak, 1), "variants": {}}
    for name, call in variants.items():
        call()
        seconds, _ = timed(call, 2 if quick else 3)
        gflops = flops * 16 / seconds / 1e9
        result["variants"][name] = {"seconds": round(seconds, 3), "gflops": round(gflops, 1),
                                    "fraction_of_matmul": round(gflops / peak, 3)}
    return result


def end_to_end(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Run the quick protocol in a child process from an empty results folder (assets cached)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "bench.cli", "run", str(REPO / "protocols" / "lfw_masked_quick.yaml"),
               "--out", str(Path(tmp) / "run")] + (["--limit", "40"] if quick else [])
        log("  end to end: " + " ".join(cmd[2:]))
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            return {"failed": done.stderr[-2000:]}
        import json

        info = json.loads((Path(tmp) / "run" / "run.json").read_text())
        start = time.perf_counter()
        report = subprocess.run([sys.executable, "-m", "bench.cli", "report", str(Path(tmp) / "run")],
                                cwd=REPO, capture_output=True, text=True)
        report_s = time.perf_counter() - start
    return {"command": "bench run protocols/lfw_masked_quick.yaml" + (" --limit 40" if quick else ""),
            "seconds": round(seconds, 1), "faces": info["dataset"]["n_faces"], "pairs": info["dataset"]["n_pairs"],
            "peak_memory_mb": info["peak_memory_mb"], "stage_seconds": info["timings"],
            "report_seconds": round(report_s, 1), "report_ok": report.returncode == 0}
