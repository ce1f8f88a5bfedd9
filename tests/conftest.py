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
