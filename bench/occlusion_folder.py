"""Occlusions made by other tools (MaskTheFace, FaceX-Zoo, ``bench mask``) read from a folder.

Layout of an occlusion folder, for a dataset whose face ids are image paths relative to its
root (``Name/Name_0001.jpg``)::

    FOLDER/Name/Name_0001.png         the occluded image, at the face's relative path with its
                                      own extension or with .png, .jpg or .jpeg (first found, in
                                      that order)
    FOLDER/masks/Name/Name_0001.png   the binary mask, always PNG: non-zero = hidden

Both must have the dataset image's height and width. ``bench mask IN_DIR OUT_DIR`` writes
exactly this layout.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.api import BenchError
from bench.data.imageio import load_rgb

_SUFFIXES = (".png", ".jpg", ".jpeg")


def occluded_path(folder: Path, face_id: str) -> Path:
    """Where the occluded image of ``face_id`` is (or the .png path it should have)."""
    rel = PurePosixPath(face_id)
    candidates = [rel] + [rel.with_suffix(s) for s in _SUFFIXES if s != rel.suffix.lower()]
    for candidate in candidates:
        if (folder / candidate).is_file():
            return folder / candidate
    return folder / rel.with_suffix(".png")


def mask_path(folder: Path, face_id: str) -> Path:
    return folder / "masks" / PurePosixPath(face_id).with_suffix(".png")


def load_folder_occlusion(folder: Path, face_id: str, shape) -> tuple[np.ndarray, np.ndarray]:
    """The occluded uint8 ``H x W x 3`` image and bool ``H x W`` mask of ``face_id``.

    ``shape`` is the dataset image's shape (``H x W`` or ``H x W x C``). Raises BenchError
    naming the file when it is missing, unreadable or of another size.
    """
    folder = Path(folder)
    height, width = int(shape[0]), int(shape[1])
    image_file = occluded_path(folder, face_id)
    if not image_file.is_file():
        raise BenchError(
            f"occlusion folder {folder}: no occluded image for {face_id} "
            f"(looked for {', '.join(str(PurePosixPath(face_id).with_suffix(s)) for s in _SUFFIXES)})"
        )
    image = load_rgb(image_file)
    if image.shape[:2] != (height, width):
        raise BenchError(
            f"{image_file}: occluded image is {image.shape[1]}x{image.shape[0]}, "
            f"the dataset image is {width}x{height}"
        )
    mask = load_mask(mask_path(folder, face_id))
    if mask.shape != (height, width):
        raise BenchError(
            f"{mask_path(folder, face_id)}: mask is {mask.shape[1]}x{mask.shape[0]}, "
            f"the dataset image is {width}x{height}"
        )
    return image, mask


def load_mask(path: Path) -> np.ndarray:
    """A bool mask from an image file (non-zero = hidden); BenchError naming the file otherwise."""
    if not path.is_file():
        raise BenchError(f"{path}: mask file not found")
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "F"):
                values = np.asarray(img)
            else:
                values = np.asarray(img.convert("RGB")).max(axis=2)
    except UnidentifiedImageError:
        raise BenchError(f"{path}: mask is not a readable image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BenchError(f"{path}: cannot decode mask ({exc})") from None
    return values != 0
