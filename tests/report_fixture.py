"""A synthetic finished run folder laid out as the runner writes it (notes: results format).

Numbers are drawn from a seeded generator but are internally consistent: means and bootstrap
intervals come from per-image draws, ROC points, AUC and TAR from simulated pair scores, so the
report's tables and plots can be checked against this folder's own files.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.metrics import roc_auc_score, roc_curve

IMAGE_METRICS = {"psnr": (True, "full"), "ssim": (True, "full"), "psnr-mask": (True, "mask"),
                 "l1-mask": (False, "mask"), "lpips": (False, "full")}
SET_METRICS = {"fid": (False, "set"), "kid": (False, "set")}
PAIR_METRICS = {"acc": (True, "pairs"), "auc": (True, "pairs"), "tar@far=1e-2": (True, "pairs"),
                "tar@far=1e-3": (True, "pairs")}
BINS = [(0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5)]


def _bootstrap(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    means = rng.choice(values, size=(200, values.size)).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _per_image(metric: str, quality: float, n: int, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0, 1, n)
    return {"psnr": 18 + 10 * quality + 2 * noise, "ssim": np.clip(0.6 + 0.3 * quality + 0.05 * noise, 0, 1),
            "psnr-mask": 10 + 8 * quality + 2 * noise, "l1-mask": np.abs(0.3 - 0.2 * quality + 0.05 * noise),
            "lpips": np.abs(0.25 - 0.2 * quality + 0.03 * noise)}[metric]


def _verification(quality: float, n_pairs: int, rng: np.random.Generator) -> tuple[dict, np.ndarray, np.ndarray]:
    same = np.arange(n_pairs) % 2 == 0
    scores = rng.normal(0, 1, n_pairs) + same * (1 + 3 * quality)
    folds = np.arange(n_pairs) % 10
    accs = []
    for fold in range(10):
        train, test = folds != fold, folds == fold
        grid = np.quantile(scores[train], np.linspace(0.02, 0.98, 49))
        hits = (scores[train][None, :] > grid[:, None]) == same[train][None, :]
        best = grid[np.argmax(hits.mean(axis=1))]
        accs.append(((scores[test] > best) == same[test]).mean())
    fpr, tpr, _ = roc_curve(same, scores)
    values = {"acc": float(np.mean(accs)), "acc_std": float(np.std(accs)), "auc": float(roc_auc_score(same, scores)),
              "tar@far=1e-2": float(np.interp(1e-2, fpr, tpr)), "tar@far=1e-3": float(np.interp(1e-3, fpr, tpr))}
    return values, fpr, tpr


def _sample_png(path: Path, row: int, column: int, size: int) -> None:
    y, x = np.mgrid[0:size, 0:size]
    image = np.stack([(x * 255 // size), np.full_like(x, 40 * row % 256), np.full_like(x, 30 * column % 256)], -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.astype(np.uint8)).save(path)


def build_run(root: Path, *, datasets: tuple[str, ...] = ("LFW-gray",), masks: tuple[str, ...] = ("surgical", "n95"),
              methods: tuple[str, ...] = ("telea", "navier-stokes", "cl-attn"),
              recognizers: tuple[str, ...] = ("dlib", "facenet"),
              unavailable: dict[str, str] | None = None, n_pairs: int = 600, n_images: int = 40,
              n_samples: int = 3, image_size: int = 24, seed: int = 0, train_log: bool = True) -> Path:
    """Write a finished run into ``root`` and return it. ``unavailable`` maps recognizer -> reason."""
    rng = np.random.default_rng(seed)
    unavailable = {"arcface": "w600k_r50.onnx not found in ~/.insightface/models/buffalo_l"} \
        if unavailable is None else unavailable
    root.mkdir(parents=True, exist_ok=True)
    quality = {"masked": 0.0, **{m: (i + 1) / (len(methods) + 1) for i, m in enumerate(methods)}}
    metrics, bins, roc = [], [], []
    for dataset in datasets:
        for mask_index, mask in enumerate(masks):
            for method, q in quality.items():
                q = q * (1 - 0.1 * mask_index)
                for metric in IMAGE_METRICS:
                    values = _per_image(metric, q, n_images, rng)
                    low, high = _bootstrap(values, rng)
                    metrics.append((dataset, mask, method, "", metric, values.mean(), low, high, n_images))
                    for b, (lo, hi) in enumerate(BINS):
                        part = values[b::len(BINS)]
                        bins.append((dataset, mask, method, "", metric, b, lo, hi, part.mean(), part.size))
                fid = 80 * (1 - q) + rng.uniform(1, 5)
                kid = 0.05 * (1 - q) + rng.uniform(0.001, 0.004)
                metrics.append((dataset, mask, method, "", "fid", fid, np.nan, np.nan, n_images))
                metrics.append((dataset, mask, method, "", "kid", kid, kid - 0.002, kid + 0.002, n_images))
            for recognizer in recognizers:
                for method, q in [*quality.items(), ("clean", 1.2)]:
                    if method == "clean" and mask_index:
                        continue  # the clean faces are scored once, for every mask style
                    row_mask = "" if method == "clean" else mask
                    values, fpr, tpr = _verification(q * (1 - 0.1 * mask_index), n_pairs, rng)
                    for metric, value in values.items():
                        n = n_pairs // 2 if metric.startswith("tar") else n_pairs
                        ci = (np.nan, np.nan)
                        if metric == "acc":
                            half = 1.96 * values["acc_std"] / np.sqrt(10)
                            ci = (value - half, value + half)
                        metrics.append((dataset, row_mask, method, recognizer, metric, value, *ci, n))
                    roc += [(dataset, row_mask, method, recognizer, f, t) for f, t in zip(fpr, tpr)]
                    for b, (lo, hi) in enumerate(BINS):
                        bins.append((dataset, row_mask, method, recognizer, "acc", b, lo, hi,
                                     float(np.clip(values["acc"] - 0.04 * b + rng.normal(0, 0.01), 0, 1)), 60))
    pd.DataFrame(metrics, columns=["dataset", "mask", "method", "recognizer", "metric", "value", "ci_low", "ci_high",
                                   "n"]).to_csv(root / "metrics.csv", index=False)
    pd.DataFrame(bins, columns=["dataset", "mask", "method", "recognizer", "metric", "bin", "bin_low", "bin_high",
                                "value", "n"]).to_csv(root / "bins.csv", index=False)
    pd.DataFrame(roc, columns=["dataset", "mask", "method", "recognizer", "fpr", "tpr"]).to_csv(root / "roc.csv",
                                                                                              index=False)
    samples = []
    columns = ["clean", "masked", *methods]
    for mask in masks:
        for row in range(n_samples):
            for column, method in enumerate(columns):
                file = f"{mask}/{row}_{method}.png"
                _sample_png(root / "samples" / file, row, column, image_size)
                samples.append((row, f"Person_{row}/Person_{row}_0001.jpg", mask, method, file))
    pd.DataFrame(samples, columns=["row", "face_id", "mask", "method", "file"]).to_csv(root / "samples" / "index.csv",
                                                                                     index=False)
    cards = {m: None for m in methods}
    if train_log and methods:
        method = methods[-1]
        steps = np.arange(0, 2000, 50)
        log = pd.DataFrame({"step": steps, "time": steps * 0.4, "loss_G": 2 * np.exp(-steps / 700) + 0.3,
                            "loss_D": 0.5 + 0.05 * np.sin(steps / 100), "loss_NCE": 4 * np.exp(-steps / 400) + 1})
        (root / "cards").mkdir(exist_ok=True)
        log.to_csv(root / "cards" / f"{method}_log.csv", index=False)
        (root / "cards" / f"{method}.json").write_text(json.dumps({"name": method, "train_log": f"{method}_log.csv"}))
        cards[method] = f"cards/{method}.json"
    directions = {**IMAGE_METRICS, **SET_METRICS, **PAIR_METRICS}
    info = {
        "protocol": {"name": "synthetic", "masks": {"styles": list(masks)}},
        "protocol_name": "synthetic",
        "dataset": {"name": datasets[0], "root": "/data/lfw", "n_faces": 2 * n_images, "n_pairs": n_pairs,
                    "skipped_pairs": 3, "skipped_pairs_examples": ["Ann_1/Ann_1_0003.jpg", "Bo_2/Bo_2_0001.jpg"],
                    "checksums": {"pairs.txt": "ok"}},
        "landmarks": {"detected": 2 * n_images - 2, "fallback": 2},
        "methods": {"masked": {}, **{m: {"options": {}} for m in methods}},
        "recognizers": {**{r: {"available": True, "reason": "", "dim": 128} for r in recognizers},
                        **{r: {"available": False, "reason": why, "dim": 512} for r, why in unavailable.items()}},
        "metrics": {m: {"higher_is_better": up, "region": region} for m, (up, region) in directions.items()},
        "conventions": {"psnr": "PSNR on uint8 RGB, data range 255, mean over images.",
                        "acc": "10 folds; threshold chosen on the other 9 folds (insightface protocol).",
                        "landmarks": "5 points from the clean original for every method."},
        "versions": {"python": "3.11", "torch": "2.4"}, "git": "0123abc", "seeds": {"masks": 0},
        "assets": {}, "timings": {"inpaint": 12.5, "metrics": 30.25}, "peak_memory_mb": 812.0,
        "notes": [], "train_cards": cards,
    }
    (root / "run.json").write_text(json.dumps(info, indent=2))
    return root
