"""Labeled Faces in the Wild in its standard layout: images, the 10 folds of pairs.txt, View 1.

Layout: ``ROOT/<Name>/<Name>_NNNN.jpg`` with the protocol files (``pairs.txt``,
``pairsDevTrain.txt``, ``pairsDevTest.txt``, ``people*.txt``) in ROOT or its parent (as
torchvision lays out ``lfw-py/``). Works for the grayscale set, ``lfw``, ``lfw_funneled`` and
``lfw-deepfunneled``. Pairs whose images are missing are skipped and counted, never dropped
silently; protocol files are checked against their official md5 sums.
"""
from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from bench.api import BenchError, Face, Pair

# The md5 sums of the official protocol files (the ones torchvision's LFW loader checks).
OFFICIAL_MD5 = {
    "pairs.txt": "9f1ba174e4e1c508ff7cdf10ac338a7d",
    "pairsDevTrain.txt": "4f27cbf15b2da4a85c1907eb4181ad21",
    "pairsDevTest.txt": "5132f7440eb68cf58910c8a45a2ac10b",
    "people.txt": "450f0863dd89e85e73936a6d71a3474b",
    "peopleDevTrain.txt": "54eaac34beb6d042ed3a7d883e247a21",
    "peopleDevTest.txt": "e4bf5be0a43b5dcd9dc5ccfcb8fb19c5",
    "lfw-names.txt": "a6d0a479bd074669f656265a6e693f6d",
}
PAIR_FILES = {"pairs": "pairs.txt", "dev-train": "pairsDevTrain.txt", "dev-test": "pairsDevTest.txt"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.']*$")


@dataclass
class PairList:
    """Pairs whose two images are present, plus what was skipped and why."""

    pairs: list[Pair]
    skipped: int = 0
    skipped_examples: list[str] = field(default_factory=list)
    duplicates: int = 0


def image_id(name: str, number: int | str, source: str = "pairs.txt") -> str:
    """``Name/Name_NNNN.jpg`` for a person and image number; refuses names that escape the root."""
    if not _NAME.match(name) or ".." in name:
        raise BenchError(f"{source}: invalid person name {name!r} (must not contain path separators or '..')")
    try:
        num = int(number)
    except ValueError:
        raise BenchError(f"{source}: invalid image number {number!r} for {name}") from None
    if num < 1:
        raise BenchError(f"{source}: invalid image number {number!r} for {name}")
    return f"{name}/{name}_{num:04d}.jpg"


class LFW:
    """An LFW folder. ``faces()`` lists present images; ``pairs()`` parses a pairs file."""

    name = "LFW"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise BenchError(f"LFW root {self.root} is not a folder")
        self._faces: list[Face] | None = None

    def protocol_file(self, filename: str) -> Path:
        for folder in (self.root, self.root.parent):
            if (folder / filename).is_file():
                return folder / filename
        raise BenchError(f"{filename} not found in {self.root} or {self.root.parent}")

    def faces(self) -> list[Face]:
        """Every present image, sorted by id."""
        if self._faces is None:
            faces = []
            for person in sorted(p for p in self.root.iterdir() if p.is_dir()):
                for image in sorted(person.glob("*.jpg")):
                    rel = image.relative_to(self.root).as_posix()
                    faces.append(Face(id=rel, identity=person.name, path=image))
            if not faces:
                raise BenchError(f"{self.root}: no <Name>/<Name>_NNNN.jpg images found")
            self._faces = faces
        return self._faces

    def face(self, face_id: str) -> Face:
        return Face(id=face_id, identity=face_id.split("/", 1)[0], path=self.root / face_id)

    def checksums(self) -> dict[str, str]:
        """``{file: "ok" | "mismatch" | "missing"}``; a mismatch also warns, naming the file."""
        result = {}
        for filename, expected in OFFICIAL_MD5.items():
            try:
                path = self.protocol_file(filename)
            except BenchError:
                result[filename] = "missing"
                continue
            actual = hashlib.md5(path.read_bytes()).hexdigest()
            result[filename] = "ok" if actual == expected else "mismatch"
            if actual != expected:
                warnings.warn(f"{path}: md5 {actual} differs from the official {expected}", stacklevel=2)
        return result

    def pairs(self, which: str = "pairs", folds: list[int] | None = None) -> PairList:
        """Parse ``pairs.txt`` (10 folds) or View 1 (``dev-train``/``dev-test``, fold -1).

        ``folds`` are 1-based fold numbers of pairs.txt; None takes every fold.
        """
        if which not in PAIR_FILES:
            raise BenchError(f"unknown LFW pair list {which!r}; choose from {sorted(PAIR_FILES)}")
        path = self.protocol_file(PAIR_FILES[which])
        lines = [line.rstrip("\r\n") for line in path.read_text(encoding="utf-8").splitlines()]
        lines = [line for line in lines if line.strip()]
        if not lines:
            raise BenchError(f"{path}: empty file")
        header = lines[0].split()
        try:
            if which == "pairs":
                n_folds, per_half = int(header[0]), int(header[1])
            else:
                n_folds, per_half = 1, int(header[0])
        except (IndexError, ValueError):
            raise BenchError(f"{path}: line 1: bad header {lines[0]!r}") from None
        body = lines[1:]
        expected = n_folds * per_half * 2
        if len(body) != expected:
            raise BenchError(f"{path}: header announces {expected} pairs but the file has {len(body)} lines")
        if folds is not None:
            bad = [f for f in folds if not 1 <= f <= n_folds]
            if bad:
                raise BenchError(f"{path}: folds {bad} out of range 1..{n_folds}")
        present = {face.id for face in self.faces()}
        result = PairList(pairs=[])
        seen: set[tuple[str, str]] = set()
        for index, line in enumerate(body):
            fold = index // (2 * per_half)
            if folds is not None and fold + 1 not in folds:
                continue
            where = f"{path.name} line {index + 2}"
            a, b, same = self._parse_pair(line, where)
            if (a, b) in seen:
                result.duplicates += 1
                warnings.warn(f"{where}: duplicated pair {a} {b}", stacklevel=2)
            seen.add((a, b))
            expect_same = (index % (2 * per_half)) < per_half
            if same != expect_same:
                raise BenchError(f"{where}: a {'same' if same else 'different'}-person pair where the layout expects the other")
            if a not in present or b not in present:
                result.skipped += 1
                if len(result.skipped_examples) < 10:
                    result.skipped_examples.append(f"{a} {b}")
                continue
            result.pairs.append(Pair(a=a, b=b, same=same, fold=fold if which == "pairs" else -1))
        return result

    @staticmethod
    def _parse_pair(line: str, where: str) -> tuple[str, str, bool]:
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) == 3:
            return image_id(parts[0], parts[1], where), image_id(parts[0], parts[2], where), True
        if len(parts) == 4:
            return image_id(parts[0], parts[1], where), image_id(parts[2], parts[3], where), False
        raise BenchError(f"{where}: expected 3 or 4 fields, got {len(parts)}: {line!r}")

    def people_in_pairs(self) -> set[str]:
        """Identities appearing in any pair of pairs.txt (missing images included)."""
        path = self.protocol_file("pairs.txt")
        people: set[str] = set()
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            parts = line.split()
            if len(parts) == 3:
                people.add(parts[0])
            elif len(parts) == 4:
                people.update((parts[0], parts[2]))
        return people
