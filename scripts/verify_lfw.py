"""Clean-vs-clean face verification on LFW pairs: the accuracy each recognizer reaches unmasked.

Reads pairs.txt folds (default 1-2) of an LFW folder (default ``$BENCH_DATA/lfw-gray``), skips
and counts pairs with a missing image, detects 68 landmarks with :class:`bench.landmarks.LandmarkDetector`
(counting the images where no face was found and the mean shape was used), embeds every image
with each recognizer, and reports insightface-style 10-fold accuracy (stratified folds unless
pairs.txt's own folds are complete), ROC AUC and embedding speed (wall clock, and per second of
this process's CPU time, which is steadier on a shared machine). Unavailable recognizers are
reported and skipped.

    BENCH_DATA=../shared/data python scripts/verify_lfw.py --recognizers dlib facenet
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench import registry
from bench.api import BenchError, Unavailable
from bench.data.imageio import load_rgb
from bench.data.lfw import LFW
from bench.landmarks import LandmarkDetector
from bench.metrics.verification import auc, cosine_scores, kfold_accuracy, protocol_folds


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    data = os.environ.get("BENCH_DATA")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(data) / "lfw-gray" if data else None,
                        help="LFW folder (default: $BENCH_DATA/lfw-gray)")
    parser.add_argument("--folds", type=int, nargs="+", default=[1, 2], help="1-based pairs.txt folds")
    parser.add_argument("--recognizers", nargs="+", default=["dlib", "facenet"])
    parser.add_argument("--n-folds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="seed of the stratified folds")
    parser.add_argument("--landmarks-cache", type=Path, help="npz file keeping landmarks between runs")
    args = parser.parse_args(argv)
    if args.root is None:
        parser.error("set BENCH_DATA or pass --root")
    return args


def landmarks_for(ids: list[str], images: np.ndarray, cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    if cache is not None and cache.is_file():
        stored = np.load(cache)
        if list(stored["ids"]) == ids:
            return stored["landmarks"], stored["detected"]
    detector = LandmarkDetector()
    points = np.empty((len(ids), 68, 2), np.float32)
    detected = np.empty(len(ids), bool)
    for i in tqdm(range(len(ids)), desc="landmarks", file=sys.stderr, disable=not sys.stderr.isatty()):
        points[i], detected[i] = detector.detect(images[i])
    if cache is not None:
        np.savez(cache, ids=np.array(ids), landmarks=points, detected=detected)
    return points, detected


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pair_list = LFW(args.root).pairs("pairs", folds=args.folds)
    pairs = pair_list.pairs
    print(f"{args.root} folds {args.folds}: {len(pairs)} pairs with both images, {pair_list.skipped} skipped")
    ids = sorted({p.a for p in pairs} | {p.b for p in pairs})
    index = {face_id: i for i, face_id in enumerate(ids)}
    images = np.stack([load_rgb(args.root / face_id) for face_id in ids])
    landmarks, detected = landmarks_for(ids, images, args.landmarks_cache)
    print(f"{len(ids)} images; no face found in {int((~detected).sum())} (mean-shape landmarks)")

    same = np.array([p.same for p in pairs])
    folds = protocol_folds(np.array([p.fold for p in pairs]), same, n_folds=args.n_folds, seed=args.seed)
    a = np.array([index[p.a] for p in pairs])
    b = np.array([index[p.b] for p in pairs])
    for name in args.recognizers:
        try:
            recognizer = registry.create("recognizer", name)
        except Unavailable as exc:
            print(exc)  # the message names the recognizer
            continue
        batch = 32
        chunks = []
        wall, cpu = time.perf_counter(), time.process_time()
        for s in tqdm(range(0, len(ids), batch), desc=name, file=sys.stderr, disable=not sys.stderr.isatty()):
            chunks.append(recognizer.embed(images[s:s + batch], landmarks[s:s + batch]))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        emb = np.concatenate(chunks)
        scores = cosine_scores(emb[a], emb[b])
        acc = kfold_accuracy(scores, same, folds)
        print(f"{name}: accuracy {100 * acc['mean']:.2f} +- {100 * acc['std']:.2f} % "
              f"({args.n_folds} folds, {int(same.sum())} same / {int((~same).sum())} different), "
              f"AUC {auc(scores, same):.4f}, {len(ids) / wall:.1f} images/s "
              f"({len(ids) / cpu:.1f} per CPU-second)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
