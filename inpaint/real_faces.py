"""Real masked faces for the occluded domain: the ``train`` half of a folder of real masked photos.

Each photo goes through the real-photo path of ``bench inpaint`` (YuNet detection, 68 landmarks,
alignment to the LFW-gray 160x160 frame, the mask region from colour segmentation:
:func:`bench.photos.faces.collect_faces`), so a real crop looks to the generator like a synthetic
one: same frame, a mask region to fill. Only photos of the ``train`` subset
(:mod:`bench.photos.subsets`) are used; the ``held-out`` half is what the real-mask protocol
scores. The crops are cached in an npz keyed by the photo list.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from bench.api import BenchError
from bench.data.imageio import list_images
from bench.photos.faces import FaceSet, collect_faces
from bench.photos.subsets import select


def real_root(folder: str) -> Path:
    """``data.real_masked`` as a path: absolute, or relative to ``$BENCH_DATA``."""
    path = Path(folder)
    if not path.is_absolute():
        base = os.environ.get("BENCH_DATA")
        if not base:
            raise BenchError(f"data.real_masked {folder!r} is relative and BENCH_DATA is not set")
        path = Path(base) / path
    if not path.is_dir():
        raise BenchError(f"data.real_masked: {path} is not a folder")
    return path


def training_photos(root: Path) -> list[str]:
    """The photos of the folder that a model may train on (its ``train`` subset)."""
    return select(list_images(root), "train")


def load_real_faces(folder: str, cache_dir: Path | None = None) -> FaceSet:
    """The aligned crops and mask regions of the ``train`` photos under ``folder`` (cached)."""
    root = real_root(folder)
    photos = training_photos(root)
    key = hashlib.sha256("\n".join([str(root.resolve()), *photos]).encode()).hexdigest()
    cache = cache_dir / f"real-faces-{key[:16]}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        faces = FaceSet.load(cache)
        if faces.key == key:
            return faces
    faces = collect_faces(root, photos, key)
    if len(faces.crops) == 0:
        raise BenchError(f"data.real_masked: no masked face found in the {len(photos)} training photos of {root}")
    if cache is not None:
        faces.save(cache)
    return faces
