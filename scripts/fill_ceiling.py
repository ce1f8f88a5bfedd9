"""What a fill does to verification: the quick protocol's pairs scored with fills that need no
training, beside the masked input and any inpainter named on the command line.

The pairs, masks and scoring are the quick protocol's (pairs.txt fold 1 of LFW-gray, surgical
masks with seed 0, gallery = the clean first face, probe = the condition of the second face,
10 stratified folds with the threshold chosen on the other 9). Every fill is composited into the
mask dilated by 1 pixel and feathered by 2 at 128 x 128 (scaled), as the ``cl-attn`` plugin does:

- ``clean``: the face's own hidden pixels (an oracle: what a perfect inpainter reaches);
- ``clean-128``: the same at the model's 128 x 128 resolution (what resolution alone costs);
- ``mean-face``: the mean of the set's clean faces (a fill without identity);
- ``gray``: flat mid-gray.

    BENCH_DATA=../shared/data python scripts/fill_ceiling.py --methods cl-attn unet-paired
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bench import registry
from bench.api import BenchError
from bench.data.imageio import load_rgb
from bench.data.lfw import LFW
from bench.landmarks import LandmarkDetector
from bench.masks import occlude_batch
from bench.metrics.verification import auc, kfold_accuracy, stratified_folds
from inpaint.data import resize
from inpaint.networks.region import soft_region

MODEL_SIZE = 128
BATCH = 32


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    data = os.environ.get("BENCH_DATA")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(data) / "lfw-gray" if data else None,
                        help="LFW folder (default: $BENCH_DATA/lfw-gray)")
    parser.add_argument("--folds", type=int, nargs="+", default=[1], help="1-based pairs.txt folds")
    parser.add_argument("--recognizers", nargs="+", default=["dlib", "facenet"])
    parser.add_argument("--methods", nargs="*", default=[], help="inpainters to score beside the fills")
    args = parser.parse_args(argv)
    if args.root is None:
        parser.error("set BENCH_DATA or pass --root")
    return args


def composite(fill: np.ndarray, masked: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """``fill`` inside the mask dilated by 1 and feathered by 2 model pixels, ``masked`` elsewhere."""
    scale = masked.shape[1] / MODEL_SIZE
    region = soft_region(torch.from_numpy(masks)[:, None], round(scale), round(2 * scale)).numpy()
    region = region.transpose(0, 2, 3, 1)
    return np.clip(np.rint(region * fill + (1 - region) * masked), 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pairs = LFW(args.root).pairs("pairs", folds=args.folds).pairs
    ids = sorted({p.a for p in pairs} | {p.b for p in pairs})
    index = {face_id: i for i, face_id in enumerate(ids)}
    images = np.stack([load_rgb(args.root / face_id) for face_id in ids])
    landmarks, _ = LandmarkDetector().detect_batch(images)
    landmarks = np.asarray(landmarks, dtype=np.float32)
    masked, masks = occlude_batch(images, landmarks, "surgical", 0, ids)
    same = np.array([p.same for p in pairs])
    folds = stratified_folds(same, n_folds=10, seed=0)
    a = np.array([index[p.a] for p in pairs])
    b = np.array([index[p.b] for p in pairs])
    print(f"{args.root} folds {args.folds}: {len(pairs)} pairs, {len(ids)} faces, surgical masks")

    conditions = {
        "masked input": lambda: masked,
        "clean (oracle)": lambda: composite(images.astype(np.float32), masked, masks),
        "clean at 128x128": lambda: composite(resize(resize(images, MODEL_SIZE), images.shape[1:3]).astype(np.float32),
                                              masked, masks),
        "mean face": lambda: composite(np.broadcast_to(images.astype(np.float32).mean(0), images.shape), masked, masks),
        "gray 128": lambda: composite(np.full(images.shape, 128, np.float32), masked, masks),
    }
    for name in args.methods:
        def run(name=name):
            inpainter = registry.create("inpainter", name)
            return np.concatenate([inpainter(masked[s:s + BATCH], masks[s:s + BATCH]) for s in range(0, len(ids), BATCH)])
        conditions[name] = run

    recognizers = {name: registry.create("recognizer", name) for name in args.recognizers}

    def embed(name: str, faces: np.ndarray) -> np.ndarray:
        return np.concatenate([recognizers[name].embed(faces[s:s + BATCH], landmarks[s:s + BATCH])
                               for s in range(0, len(faces), BATCH)])

    gallery = {name: embed(name, images)[a] for name in recognizers}
    print("| fill | " + " | ".join(f"{n} acc | {n} AUC" for n in recognizers) + " |")
    print("|---|" + "--:|--:|" * len(recognizers))
    for label, make in tqdm(conditions.items(), desc="conditions", file=sys.stderr, disable=not sys.stderr.isatty()):
        probes = make()
        cells = []
        for name in recognizers:
            scores = np.sum(gallery[name] * embed(name, probes)[b], axis=1)
            cells += [f"{100 * kfold_accuracy(scores, same, folds)['mean']:.2f}", f"{100 * auc(scores, same):.2f}"]
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
