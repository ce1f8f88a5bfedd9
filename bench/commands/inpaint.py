"""``bench inpaint METHOD IN_DIR OUT_DIR [--masks DIR]``: inpaint a folder of face crops.

Every jpg/jpeg/png below ``IN_DIR`` (already a face crop, masked) goes through the inpainter
``METHOD`` at its own size; the result is written to ``OUT_DIR/<relative path>.png``. Masks
come from ``--masks DIR`` (``DIR/<relative path>.png``, non-zero = hidden: the ``masks/``
folder that ``bench mask`` writes); a method that needs a mask refuses to start without one, a
method that does not (``masked``, a blind model) ignores them. Unreadable images and missing or
misfitting masks are counted, listed and skipped; the others are written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path, PurePosixPath

import numpy as np
import yaml
from tqdm import tqdm

from bench import registry
from bench.api import BenchError
from bench.commands.mask import find_images
from bench.data.imageio import load_rgb, save_png
from bench.occlusion_folder import load_mask


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method", metavar="METHOD", help="inpainter name (see `bench list inpainter`) or module:Class")
    parser.add_argument("in_dir", type=Path, metavar="IN_DIR", help="folder of masked face crops (searched recursively)")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="where the inpainted images are written (PNG)")
    parser.add_argument("--masks", type=Path, metavar="DIR",
                        help="folder of binary masks, DIR/<relative path>.png, non-zero = hidden")
    parser.add_argument("--option", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the inpainter (YAML value), e.g. --option checkpoint=PATH --option device=cuda")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N images (sorted by path)")


def _options(items: list[str]) -> dict:
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BenchError(f"--option {item!r}: expected KEY=VALUE")
        try:
            options[key] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise BenchError(f"--option {item!r}: value is not valid YAML ({exc})") from None
    return options


def run(args: argparse.Namespace) -> int:
    in_dir, out_dir = Path(args.in_dir), Path(args.out_dir)
    if not in_dir.is_dir():
        raise BenchError(f"input folder {in_dir} does not exist")
    if args.masks is not None and not Path(args.masks).is_dir():
        raise BenchError(f"--masks: folder {args.masks} does not exist")
    if args.limit is not None and args.limit < 1:
        raise BenchError(f"--limit must be at least 1, got {args.limit}")
    method = registry.create("inpainter", args.method, **_options(args.options))
    if method.needs_mask and args.masks is None:
        raise BenchError(f"inpainter {args.method!r} needs the mask of each face: give --masks DIR")
    exclude = [out_dir] + ([Path(args.masks)] if args.masks is not None else [])
    ids = find_images(in_dir, *exclude)[: args.limit]
    if not ids:
        raise BenchError(f"input folder {in_dir}: no .jpg, .jpeg or .png images found")

    written, skipped = 0, []
    for face_id in tqdm(ids, desc=f"inpaint {args.method}", unit="image", file=sys.stderr, disable=None):
        try:
            image = load_rgb(in_dir / face_id)
            if args.masks is not None:
                mask_file = Path(args.masks) / PurePosixPath(face_id).with_suffix(".png")
                mask = load_mask(mask_file)
                if mask.shape != image.shape[:2]:
                    raise BenchError(f"{mask_file}: mask is {mask.shape[1]}x{mask.shape[0]}, "
                                     f"the image is {image.shape[1]}x{image.shape[0]}")
            else:
                mask = np.zeros(image.shape[:2], bool)
        except BenchError as exc:
            skipped.append(str(exc))
            continue
        out = np.asarray(method(image[None], mask[None]))
        if out.shape != (1, *image.shape) or out.dtype != np.uint8:
            raise BenchError(f"inpainter {args.method!r} returned {out.dtype} {out.shape} for {face_id}, "
                             f"expected uint8 {(1, *image.shape)}")
        save_png(out_dir / PurePosixPath(face_id).with_suffix(".png"), out[0])
        written += 1

    print(f"inpainted {written} of {len(ids)} images with {args.method}  skipped {len(skipped)}  -> {out_dir}")
    for message in skipped:
        print(f"  skipped: {message}")
    return 0
