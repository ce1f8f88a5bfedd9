"""Measure landmark detection on a folder of face images, and the synthetic masks' area and speed.

    python scripts/landmark_rate.py $BENCH_DATA/lfw-gray [--workers 2] [--mean-box]
    python scripts/landmark_rate.py $BENCH_DATA/lfw-gray --mask-stats [--limit 2000]
    python scripts/landmark_rate.py $BENCH_DATA --picture docs/mask_styles.png --faces lfw-gray/A/A_0001.jpg ...

The first form prints the number of images, how many had a face detected (the rest get the
fallback box), the rate and the time per image (detection and landmarks, one process);
``--mean-box`` also prints the mean detected face box divided by each image's width and height
(``bench.landmarks.MEAN_BOX``) and how far the fallback (the predictor run in that box) lands
from the landmarks of the detected box, as a mean point distance over the interocular distance.
The second form detects landmarks, occludes every image with every style and prints the masked
fraction of the image (min, 1st percentile, median, 99th percentile, max) and the images per
second of ``occlude`` in CPU time of one process. The third draws the picture of docs/masks.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.data.imageio import load_rgb  # noqa: E402
from bench.landmarks import MEAN_BOX, LandmarkDetector  # noqa: E402

SUFFIXES = (".jpg", ".jpeg", ".png")


def _images(root: Path, limit: int | None) -> list[Path]:
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES)
    if limit:
        step = max(1, len(paths) // limit)
        paths = paths[::step][:limit]
    return paths


def _detect(job: tuple[LandmarkDetector, Path, bool]) -> dict:
    detector, path, fallback_error = job
    image = load_rgb(path)
    height, width = image.shape[:2]
    start = time.process_time()
    points, found = detector.detect(image)
    result = {"found": found, "seconds": time.process_time() - start}
    if found and fallback_error:
        box = detector.find_face(image)
        result["box"] = np.array(box, dtype=np.float64) / [width, height, width, height]
        guess = detector.landmarks_in_box(image, tuple(MEAN_BOX * [width, height, width, height]))
        interocular = np.linalg.norm(points[36:42].mean(0) - points[42:48].mean(0))
        result["error"] = float(np.linalg.norm(guess - points, axis=1).mean() / interocular)
    return result


def detection_rate(paths: list[Path], workers: int, mean_box: bool) -> None:
    detector = LandmarkDetector()
    jobs = [(detector, p, mean_box) for p in paths]
    with Pool(workers) as pool:
        results = list(tqdm(pool.imap(_detect, jobs, chunksize=16), total=len(jobs), file=sys.stderr))
    found = np.array([r["found"] for r in results])
    seconds = np.array([r["seconds"] for r in results])
    print(f"images {len(paths)}  detected {found.sum()}  fallbacks {(~found).sum()}  "
          f"rate {found.mean():.4%}  {seconds.mean() * 1000:.2f} ms/image (CPU time of one process)")
    for path, result in zip(paths, results):
        if not result["found"]:
            print(f"  fallback: {path}")
    if mean_box:
        box = np.mean([r["box"] for r in results if r["found"]], axis=0)
        print("MEAN_BOX = np.array([" + ", ".join(f"{v:.4f}" for v in box) + "], dtype=np.float32)")
        errors = np.array([r["error"] for r in results if r["found"]])
        print(f"fallback error on detected faces (mean point distance / interocular): "
              f"mean {errors.mean():.4f}  median {np.median(errors):.4f}  p90 {np.percentile(errors, 90):.4f}")


FACE_MASKS = ("surgical", "n95", "kn95", "cloth")


def mask_stats(paths: list[Path], seed: int) -> None:
    from bench.masks import STYLES, occlude

    detector = LandmarkDetector()
    fractions: dict[str, list[float]] = {style: [] for style in STYLES}
    seconds = dict.fromkeys(STYLES, 0.0)
    misses = dict.fromkeys(STYLES, 0)
    for path in tqdm(paths, file=sys.stderr):
        image = load_rgb(path)
        points, _ = detector.detect(image)
        for style in STYLES:
            start = time.process_time()
            _, mask = occlude(image, points, style, seed, path.name)
            seconds[style] += time.process_time() - start
            fractions[style].append(float(mask.mean()))
            if style in FACE_MASKS and not _covers_nose_and_mouth_only(mask, points):
                misses[style] += 1
    print(f"{len(paths)} images, seed {seed}; masked fraction of the image; occlude() images/s (CPU time); "
          "face masks: images where a mouth or nose landmark is left visible or an eye landmark covered")
    for style in STYLES:
        q = np.percentile(fractions[style], [0, 1, 50, 99, 100])
        miss = f"  misses {misses[style]}" if style in FACE_MASKS else ""
        print(f"{style:10s} min {q[0]:.3f}  p1 {q[1]:.3f}  median {q[2]:.3f}  p99 {q[3]:.3f}  max {q[4]:.3f}  "
              f"{len(paths) / seconds[style]:.0f} images/s{miss}")


def _covers_nose_and_mouth_only(mask: np.ndarray, points: np.ndarray) -> bool:
    height, width = mask.shape
    xy = np.rint(points).astype(int)
    xy[:, 0], xy[:, 1] = np.clip(xy[:, 0], 0, width - 1), np.clip(xy[:, 1], 0, height - 1)
    hit = mask[xy[:, 1], xy[:, 0]]
    return bool(hit[30:36].all() and hit[48:68].all() and not hit[36:48].any())


def picture(data: Path, faces: list[str], out: Path, tile: int = 192) -> None:
    """Every style (seed 0) on each face, one face a row, then the surgical mask as a binary image."""
    import cv2
    from PIL import Image

    from bench.masks import STYLES, occlude

    detector = LandmarkDetector()
    header = np.full((28, tile * (len(STYLES) + 2), 3), 255, np.uint8)
    for column, title in enumerate(("original", *STYLES, "surgical mask")):
        cv2.putText(header, title, (column * tile + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    rows = [header]
    for face in faces:
        image = load_rgb(data / face)
        points, _ = detector.detect(image)
        tiles = [image] + [occlude(image, points, style, 0, face)[0] for style in STYLES]
        mask = occlude(image, points, "surgical", 0, face)[1]
        tiles.append(np.repeat(mask[..., None].astype(np.uint8) * 255, 3, axis=2))
        rows.append(np.hstack([cv2.resize(t, (tile, tile), interpolation=cv2.INTER_AREA) for t in tiles]))
    Image.fromarray(np.vstack(rows)).save(out, optimize=True)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path)
    parser.add_argument("--limit", type=int, help="use N images spread evenly over the sorted list")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--mean-box", action="store_true")
    parser.add_argument("--mask-stats", action="store_true")
    parser.add_argument("--seed", type=int, default=0, help="seed of the occlusions for --mask-stats")
    parser.add_argument("--picture", type=Path, metavar="PNG",
                        help="draw every style on the faces given by --faces (paths below ROOT) into PNG")
    parser.add_argument("--faces", nargs="+", default=[])
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.picture:
        picture(args.root, args.faces, args.picture)
        return
    paths = _images(args.root, args.limit)
    if not paths:
        sys.exit(f"no images below {args.root}")
    if args.mask_stats:
        mask_stats(paths, args.seed)
    else:
        detection_rate(paths, args.workers, args.mean_box)


if __name__ == "__main__":
    main()
