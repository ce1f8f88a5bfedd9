"""A fixed split of a folder of real masked photos into a training half and a held-out half.

Models that train on real masked faces (``data.real_masked`` in a training config) draw only
from ``train``; the real-mask protocol scores them on ``held-out`` (``dataset.subset`` of a
photos protocol). A photo's half depends only on its relative path (the first byte of its
SHA-256), so it never changes when photos are added to the folder, and a new photo is as
likely to land in either half.
"""
from __future__ import annotations

import hashlib

from bench.api import BenchError

SUBSETS = ("all", "train", "held-out")


def subset_of(photo_id: str) -> str:
    """``train`` or ``held-out`` for a photo's path relative to its folder (``/`` separators)."""
    return "held-out" if hashlib.sha256(photo_id.encode("utf-8")).digest()[0] % 2 == 0 else "train"


def select(photo_ids: list[str], subset: str) -> list[str]:
    """The photos of ``subset`` (``all`` keeps every one), in their given order."""
    if subset not in SUBSETS:
        raise BenchError(f"subset {subset!r} unknown; choose from {', '.join(SUBSETS)}")
    return list(photo_ids) if subset == "all" else [p for p in photo_ids if subset_of(p) == subset]
