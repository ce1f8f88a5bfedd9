"""CelebA in its standard layout, with verification pairs built deterministically from identities.

Layout (torchvision's ``celeba/``): ``ROOT/img_align_celeba/*.jpg``, ``list_eval_partition.txt``
(``file split`` with 0 train, 1 valid, 2 test), ``identity_CelebA.txt`` (``file identity``) and
``list_landmarks_align_celeba.txt`` (two header lines, then ``file x1 y1 ... x5 y5``).
Pairs are drawn with a seeded generator, half same-identity and half different, and written
to the results so that others can reuse them.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from bench.api import BenchError, Face, Pair
from bench.data.lfw import PairList

SPLITS = {"train": 0, "valid": 1, "test": 2}
REQUIRED = ("img_align_celeba", "list_eval_partition.txt", "identity_CelebA.txt")


class CelebA:
    """The images of one CelebA split and seeded, balanced verification pairs among them."""

    name = "CelebA"

    def __init__(self, root: Path | str, split: str = "test") -> None:
        self.root = Path(root)
        if split not in SPLITS:
            raise BenchError(f"CelebA split {split!r} unknown; choose from {sorted(SPLITS)}")
        missing = [name for name in REQUIRED if not (self.root / name).exists()]
        if missing:
            raise BenchError(f"CelebA root {self.root}: missing {', '.join(missing)}")
        self.split = split
        self._faces: list[Face] | None = None

    def _read_table(self, filename: str, skip: int = 0) -> list[list[str]]:
        path = self.root / filename
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()[skip:], start=skip + 1):
            parts = line.split()
            if not parts:
                continue
            if "/" in parts[0] or "\\" in parts[0] or parts[0].startswith("."):
                raise BenchError(f"{path} line {number}: file name {parts[0]!r} escapes the image folder")
            rows.append(parts)
        return rows

    def faces(self) -> list[Face]:
        """Present images of the split, sorted by file name; missing ones are not listed."""
        if self._faces is None:
            wanted = {row[0] for row in self._read_table("list_eval_partition.txt") if row[1] == str(SPLITS[self.split])}
            identities = {row[0]: row[1] for row in self._read_table("identity_CelebA.txt")}
            images = self.root / "img_align_celeba"
            self._faces = [
                Face(id=f"img_align_celeba/{name}", identity=identities.get(name, ""), path=images / name)
                for name in sorted(wanted)
                if (images / name).is_file()
            ]
            if not self._faces:
                raise BenchError(f"CelebA root {self.root}: no images of the {self.split} split are present")
        return self._faces

    def face(self, face_id: str) -> Face:
        by_id = {face.id: face for face in self.faces()}
        return by_id[face_id]

    def landmarks5(self) -> dict[str, np.ndarray]:
        """CelebA's own 5 aligned landmarks per image (left eye, right eye, nose, mouth corners)."""
        path = self.root / "list_landmarks_align_celeba.txt"
        if not path.is_file():
            return {}
        rows = self._read_table(path.name, skip=2)
        return {f"img_align_celeba/{r[0]}": np.asarray(r[1:11], dtype=np.float32).reshape(5, 2) for r in rows}

    def pairs(self, n_pairs: int = 6000, seed: int = 0) -> PairList:
        """``n_pairs`` pairs (half same, half different identity), deterministic for ``seed``."""
        rng = np.random.default_rng(seed)
        by_identity: dict[str, list[str]] = {}
        for face in self.faces():
            if face.identity:
                by_identity.setdefault(face.identity, []).append(face.id)
        people = sorted(by_identity)
        repeated = [p for p in people if len(by_identity[p]) >= 2]
        if not repeated or len(people) < 2:
            raise BenchError(f"CelebA {self.split} split: too few identities with two images to build pairs")
        half = n_pairs // 2
        seen: set[tuple[str, str]] = set()
        same: list[Pair] = []
        for _ in range(half * 20):
            if len(same) == half:
                break
            ids = by_identity[repeated[rng.integers(len(repeated))]]
            a, b = sorted(rng.choice(len(ids), size=2, replace=False))
            key = (ids[a], ids[b])
            if key not in seen:
                seen.add(key)
                same.append(Pair(a=ids[a], b=ids[b], same=True))
        different: list[Pair] = []
        for _ in range(half * 20):
            if len(different) == len(same):
                break
            pa, pb = rng.choice(len(people), size=2, replace=False)
            ids_a, ids_b = by_identity[people[pa]], by_identity[people[pb]]
            key = (ids_a[rng.integers(len(ids_a))], ids_b[rng.integers(len(ids_b))])
            if key not in seen:
                seen.add(key)
                different.append(Pair(a=key[0], b=key[1], same=False))
        return PairList(pairs=same + different)


def write_pairs(path: Path, pairs: list[Pair]) -> None:
    """Save pairs as CSV (a, b, same) so that other work can reuse exactly the same pairs."""
    from bench.atomic import atomic_write

    def _write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["a", "b", "same"])
            for pair in pairs:
                writer.writerow([pair.a, pair.b, int(pair.same)])

    atomic_write(path, _write)
