"""``bench mask IN_DIR OUT_DIR``: occlude every face image of a folder with a synthetic mask.

Writes ``OUT_DIR/<relative path>.png`` (the occluded image, extension replaced by .png) and
``OUT_DIR/masks/<relative path>.png`` (255 = hidden), the layout that
:mod:`bench.occlusion_folder` reads, then prints how many images were occluded, how many had a
face detected, how many fell back to the default face box, and which files were unreadable.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from bench.api import BenchError
from bench.data.imageio import load_rgb, save_png
from bench.landmarks import LandmarkDetector
from bench.masks import STYLES, occlude
from bench.occlusion_folder import mask_path

SUFFIXES = (".jpg", ".jpeg", ".png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("in_dir", type=Path, metavar="IN_DIR", help="folder of face images (searched recursively)")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="where occluded images and masks/ are written")
    parser.add_argument("--style", choices=STYLES, default="surgical", help="occlusion style (default: surgical)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random variation (default: 0)")
    parser.add_argument("--limit", type=int, metavar="N", help="occlude only the first N images (sorted by path)")


def find_images(in_dir: Path, *exclude: Path) -> list[str]:
    """Relative posix paths of the jpg/jpeg/png files below ``in_dir``, skipping hidden files and
    anything inside the folders ``exclude`` (outputs, masks)."""
    skip = [folder.resolve() for folder in exclude]
    found = []
    for path in in_dir.rglob("*"):
        rel = path.relative_to(in_dir)
        if (
            path.suffix.lower() in SUFFIXES
            and path.is_file()
            and not any(part.startswith(".") for part in rel.parts)
            and not any(folder in path.resolve().parents for folder in skip)
        ):
            found.append(rel.as_posix())
    return sorted(found)


def run(args: argparse.Namespace) -> int:
    in_dir, out_dir = Path(args.in_dir), Path(args.out_dir)
    if not in_dir.is_dir():
        raise BenchError(f"input folder {in_dir} does not exist")
    if args.limit is not None and args.limit < 1:
        raise BenchError(f"--limit must be at least 1, got {args.limit}")
    ids = find_images(in_dir, out_dir)[: args.limit]
    if not ids:
        raise BenchError(f"input folder {in_dir}: no .jpg, .jpeg or .png images found")
    targets: dict[str, str] = {}
    for face_id in ids:
        target = PurePosixPath(face_id).with_suffix(".png").as_posix()
        if target in targets:
            raise BenchError(f"{in_dir / targets[target]} and {in_dir / face_id} would both be written to {out_dir / target}")
        targets[target] = face_id

    detector = LandmarkDetector()
    detected, fallbacks, unreadable = 0, 0, []
    for face_id in tqdm(ids, desc="mask", unit="image", file=sys.stderr, disable=None):
        try:
            image = load_rgb(in_dir / face_id)
        except BenchError as exc:
            unreadable.append(str(exc))
            continue
        landmarks, found = detector.detect(image)
        detected += found
        fallbacks += not found
        occluded, mask = occlude(image, landmarks, args.style, args.seed, face_id)
        save_png(out_dir / PurePosixPath(face_id).with_suffix(".png"), occluded)
        save_png(mask_path(out_dir, face_id), mask)

    print(f"images {len(ids) - len(unreadable)}  detected {detected}  fallbacks {fallbacks}  "
          f"unreadable skipped {len(unreadable)}  style {args.style}  seed {args.seed}  -> {out_dir}")
    for message in unreadable:
        print(f"  skipped: {message}")
    return 0
