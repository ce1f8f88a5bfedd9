"""The faces of a folder of photos, aligned, with their mask regions: the input of the
real-mask protocol (:mod:`bench.photos.evaluate`), and the clean reference faces it is scored against."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench.api import BenchError
from bench.atomic import write_npz
from bench.data.imageio import list_images, load_rgb
from bench.detection import FaceDetector
from bench.landmarks import LandmarkDetector
from bench.photos.frame import CROP_SIZE
from bench.photos.pipeline import large_enough, prepare_face

MIN_EYE_DISTANCE = 12.0  # px: smaller faces, upsampled to the 160 px frame, would score their blur, not the method


@dataclass
class FaceSet:
    """Aligned crops (N x 160 x 160 x 3), their regions (N x 160 x 160), where each came from."""

    key: str
    crops: np.ndarray
    regions: np.ndarray
    landmarks: np.ndarray  # N x 68 x 2, crop pixels
    photos: list[str]
    index: list[int]
    sources: list[str]
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return "  ".join(f"{k.replace('_', ' ')}: {v}" for k, v in self.counts.items())

    def save(self, path: Path) -> None:
        write_npz(path, key=np.array(self.key), crops=self.crops, regions=self.regions, landmarks=self.landmarks, photos=np.array(self.photos),
                  index=np.array(self.index), sources=np.array(self.sources),
                  count_names=np.array(list(self.counts)), count_values=np.array(list(self.counts.values())))

    @classmethod
    def load(cls, path: Path) -> FaceSet:
        with np.load(path) as d:
            return cls(str(d["key"]), d["crops"], d["regions"], d["landmarks"], d["photos"].tolist(), d["index"].tolist(),
                       d["sources"].tolist(), dict(zip(d["count_names"].tolist(), d["count_values"].tolist())))


def collect_faces(root: Path, photos: list[str], key: str) -> FaceSet:
    """Every large-enough face of the photos that shows a mask, aligned; the rest counted."""
    detector, landmarks = FaceDetector(), LandmarkDetector()
    crops, regions, points, names, index, sources = [], [], [], [], [], []
    counts: Counter = Counter()
    for photo_id in tqdm(photos, desc="faces", unit="photo", disable=None):
        try:
            photo = load_rgb(root / photo_id)
        except BenchError:
            counts["unreadable_photos"] += 1
            continue
        found = detector.detect(photo)
        counts["photos_without_a_face"] += not found
        for number, face in enumerate(found):
            counts["faces_found"] += 1
            if not large_enough(face, MIN_EYE_DISTANCE):
                counts["too_small"] += 1
                continue
            prepared = prepare_face(photo, face, landmarks)
            if not prepared.region.any():
                counts["no_mask_seen"] += 1
                continue
            crops.append(prepared.crop)
            regions.append(prepared.region)
            points.append(prepared.landmarks68)
            names.append(photo_id)
            index.append(number)
            sources.append(prepared.source)
    counts = Counter({"photos": len(photos), **counts, "scored": len(crops)})
    empty = np.zeros((0, CROP_SIZE, CROP_SIZE), bool)
    return FaceSet(key, np.stack(crops) if crops else empty[..., None].repeat(3, -1).astype(np.uint8),
                   np.stack(regions) if regions else empty,
                   np.stack(points) if points else np.zeros((0, 68, 2), np.float32), names, index, sources, dict(counts))


def reference_images(spec) -> tuple[list[str], Path]:
    """Relative paths and root of the clean reference faces of a DatasetSpec (lfw pairs' images or a folder)."""
    root = Path(spec.root)
    if spec.kind == "lfw":
        from bench.data.lfw import LFW

        pairs = LFW(root).pairs(spec.pairs, spec.folds).pairs
        ids = sorted({pair.a for pair in pairs} | {pair.b for pair in pairs})
    elif spec.kind == "folder":
        ids = list_images(root)
    else:
        raise BenchError(f"reference.kind: {spec.kind!r}; a reference is an lfw or folder dataset of clean faces")
    if spec.limit is not None:
        ids = ids[: spec.limit]
    if not ids:
        raise BenchError(f"reference: no images found in {root}")
    return ids, root
