"""``bench inpaint METHOD IN_DIR OUT_DIR``: remove the masks from a folder of photos, or of face crops.

Photos (the default): any JPEG/PNG below ``IN_DIR``, any size, colour or gray, any number of
faces. Every face YuNet finds is aligned to the frame the model was trained on, its mask region
found (:mod:`bench.photos.region`, or ``--masks DIR`` at the photo's resolution), inpainted and
pasted back with a feathered seam (:mod:`bench.photos.pipeline`); colour for a luminance model is
handled as :mod:`bench.photos.colour` says. Writes the photos under their relative paths,
``faces.csv`` and ``faces.json`` (each face's box, landmarks, region source and status) and a
contact sheet of the aligned faces before and after.

``--crops``: ``IN_DIR`` holds face crops already in the benchmark's frame (as ``bench mask``
writes them); each goes through the method at its own size, its mask from ``--masks DIR``
(``DIR/<relative path>.png``, non-zero = hidden), and is written as ``OUT_DIR/<path>.png``.

Unreadable images, missing or misfitting masks and photos without a face are counted, listed
and skipped; the others are written.
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
    parser.add_argument("in_dir", type=Path, metavar="IN_DIR", help="folder of photos (searched recursively)")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="where the outputs, faces.csv/json and the sheet go")
    parser.add_argument("--masks", type=Path, metavar="DIR",
                        help="binary masks, DIR/<relative path>.png at the image's size, non-zero = hidden "
                             "(photos: replaces the region found on each face)")
    parser.add_argument("--crops", action="store_true",
                        help="IN_DIR holds aligned face crops (the benchmark's frame), not photos: no detection")
    parser.add_argument("--checkpoint", type=Path, metavar="PATH", help="model checkpoint (same as --option checkpoint=PATH)")
    parser.add_argument("--device", metavar="D", help="torch device for the model, e.g. cpu or cuda (default: cuda if present)")
    parser.add_argument("--sheet", type=Path, metavar="FILE",
                        help="contact sheet of the faces before and after (default: OUT_DIR/contact_sheet.jpg)")
    parser.add_argument("--min-eyes", type=float, default=None, metavar="PX",
                        help="photos: leave faces whose eyes are under PX pixels apart as they are (default 6)")
    parser.add_argument("--option", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the inpainter (YAML value), e.g. --option flip_average=false")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N images (sorted by path)")


def _options(args: argparse.Namespace) -> dict:
    options = {}
    for item in args.options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BenchError(f"--option {item!r}: expected KEY=VALUE")
        try:
            options[key] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise BenchError(f"--option {item!r}: value is not valid YAML ({exc})") from None
    if args.checkpoint is not None:
        if not args.checkpoint.is_file():
            raise BenchError(f"--checkpoint: {args.checkpoint} not found")
        options["checkpoint"] = str(args.checkpoint)
    if args.device is not None:
        options["device"] = args.device
    return options


def run(args: argparse.Namespace) -> int:
    in_dir, out_dir = Path(args.in_dir), Path(args.out_dir)
    if not in_dir.is_dir():
        raise BenchError(f"input folder {in_dir} does not exist")
    if args.masks is not None and not Path(args.masks).is_dir():
        raise BenchError(f"--masks: folder {args.masks} does not exist")
    if args.limit is not None and args.limit < 1:
        raise BenchError(f"--limit must be at least 1, got {args.limit}")
    method = registry.create("inpainter", args.method, **_options(args))
    if args.crops and method.needs_mask and args.masks is None:
        raise BenchError(f"inpainter {args.method!r} needs the mask of each face: give --masks DIR")
    exclude = [out_dir] + ([Path(args.masks)] if args.masks is not None else [])
    ids = find_images(in_dir, *exclude)[: args.limit]
    if not ids:
        raise BenchError(f"input folder {in_dir}: no .jpg, .jpeg or .png images found")
    if args.crops:
        return _run_crops(args, method, in_dir, out_dir, ids)
    from bench.photos.folder import inpaint_folder
    from bench.photos.pipeline import PhotoInpainter

    sheet = args.sheet or out_dir / "contact_sheet.jpg"
    pipeline = PhotoInpainter(method) if args.min_eyes is None else PhotoInpainter(method, min_eye_distance=args.min_eyes)
    summary = inpaint_folder(pipeline, in_dir, out_dir, ids, args.masks, sheet, args.method)
    print(f"{args.method}: {in_dir} -> {out_dir}  (faces.csv, faces.json, sheet {sheet})")
    for line in summary.lines():
        print(line)
    return 0


def _run_crops(args: argparse.Namespace, method, in_dir: Path, out_dir: Path, ids: list[str]) -> int:
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
