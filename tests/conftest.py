"""Shared fixtures: where the real face data is, and small datasets built from it."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BENCH_DATA") or REPO.parent / "shared" / "data").resolve()
os.environ.setdefault("BENCH_DATA", str(DATA))


@pytest.fixture(scope="session")
def bench_data() -> Path:
    if not (DATA / "lfw-gray" / "pairs.txt").is_file():
        pytest.fail(f"face data not found at {DATA}; set BENCH_DATA")
    return DATA


@pytest.fixture(scope="session")
def lfw_root(bench_data: Path) -> Path:
    return bench_data / "lfw-gray"


def make_mini_lfw(dst: Path, src: Path, people: dict[str, int], pairs_lines: list[str], header: str) -> Path:
    """Copy a few real LFW-gray images into a tiny LFW layout with its own pairs.txt."""
    for name, count in people.items():
        (dst / name).mkdir(parents=True, exist_ok=True)
        for k in range(1, count + 1):
            image = src / name / f"{name}_{k:04d}.jpg"
            if image.exists():
                shutil.copy(image, dst / name / image.name)
    (dst / "pairs.txt").write_text(header + "\n" + "\n".join(pairs_lines) + "\n")
    return dst


def fold1_pairs(lfw_root: Path, n_pairs: int) -> tuple:
    """Images, landmarks, pair indices (a, b) and labels of the first ``n_pairs`` same and
    ``n_pairs`` different pairs of fold 1 of pairs.txt whose images are present."""
    import numpy as np

    from bench.data.imageio import load_rgb
    from bench.data.lfw import LFW
    from bench.landmarks import LandmarkDetector

    pairs = LFW(lfw_root).pairs("pairs", folds=[1]).pairs
    chosen = [p for p in pairs if p.same][:n_pairs] + [p for p in pairs if not p.same][:n_pairs]
    ids = sorted({p.a for p in chosen} | {p.b for p in chosen})
    images = np.stack([load_rgb(lfw_root / face_id) for face_id in ids])
    landmarks, _ = LandmarkDetector().detect_batch(images)
    index = {face_id: i for i, face_id in enumerate(ids)}
    a = np.array([index[p.a] for p in chosen])
    b = np.array([index[p.b] for p in chosen])
    return images, landmarks, a, b, np.array([p.same for p in chosen])
