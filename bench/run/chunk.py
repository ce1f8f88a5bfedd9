"""The work of one chunk of faces, wherever it runs: decode, landmarks, occlusion, inpainting,
scores, features and embeddings.

A :class:`ChunkTask` carries everything the work needs (the encoded image files, the cached
landmarks when the clean faces are done), and a :class:`ChunkResult` carries everything back
(arrays for the cache, the example images), so a task runs the same in this process, in a
process pool or on another machine, and nothing it computes depends on where it ran.
"""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from bench.api import BenchError, Face, Inpainter
from bench.components import Components
from bench.data.imageio import decode_rgb, read_bytes
from bench.protocol import Protocol

CLEAN = "clean"


def safe_name(name: str) -> str:
    """A label usable as one path component."""
    return name.replace("/", "_").replace(":", "_")


@dataclass
class ChunkTask:
    index: int
    faces: list[Face]
    encoded: list[bytes | None]  # the image files; None where reading failed
    errors: list[str]  # why reading failed, "" where it did not
    conditions: list[tuple[str, str]]  # (style, method) still to compute
    landmarks: np.ndarray | None = None  # cached clean landmarks; None: compute the clean faces too
    sample_rows: dict[str, int] = field(default_factory=dict)  # face id -> row of the example grid


@dataclass
class ChunkResult:
    index: int
    clean: dict[str, np.ndarray] | None
    conditions: dict[tuple[str, str], dict[str, np.ndarray]]
    samples: dict[str, np.ndarray]  # path under samples/ -> image
    timings: dict[str, float]


def make_task(index: int, faces: list[Face], conditions: list[tuple[str, str]], landmarks: np.ndarray | None,
              sample_rows: dict[str, int]) -> ChunkTask:
    """Read the chunk's image files here, so the task needs no access to the dataset."""
    encoded: list[bytes | None] = []
    errors: list[str] = []
    for face in faces:
        try:
            encoded.append(read_bytes(face.path))
            errors.append("")
        except BenchError as exc:
            encoded.append(None)
            errors.append(str(exc))
    rows = {f.id: sample_rows[f.id] for f in faces if f.id in sample_rows}
    return ChunkTask(index, faces, encoded, errors, conditions, landmarks, rows)


def check_output(method: str, output: object, images: np.ndarray) -> np.ndarray:
    """Refuse a plugin's output unless it is a uint8 array of the input's shape."""
    if not isinstance(output, np.ndarray):
        raise BenchError(f"method {method!r} returned {type(output).__name__}, expected a numpy uint8 array")
    if output.shape != images.shape:
        raise BenchError(f"method {method!r} returned shape {output.shape}, expected {images.shape}")
    if output.dtype != np.uint8:
        if np.issubdtype(output.dtype, np.floating) and not np.isfinite(output).all():
            raise BenchError(f"method {method!r} returned NaN or infinite values (dtype {output.dtype})")
        raise BenchError(f"method {method!r} returned dtype {output.dtype}, expected uint8")
    return output


def shape_groups(images: list[np.ndarray | None]) -> list[list[int]]:
    """Indices of the decoded images grouped by shape, so each group stacks into one batch."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, image in enumerate(images):
        if image is not None:
            groups[image.shape].append(i)
    return list(groups.values())


class ChunkWorker:
    """Computes chunk tasks with one set of components (one per process)."""

    def __init__(self, protocol: Protocol, comp: Components) -> None:
        self.protocol, self.comp = protocol, comp
        self._detector = None
        self.timings: dict[str, float] = defaultdict(float)

    def _timed(self, stage: str, fn: Callable, *args):
        start = time.perf_counter()
        result = fn(*args)
        self.timings[stage] += time.perf_counter() - start
        return result

    def _detect(self, images: np.ndarray):
        if self._detector is None:
            from bench.landmarks import LandmarkDetector

            self._detector = LandmarkDetector()
        return self._detector.detect_batch(images)

    def _occlude(self, style: str, images: np.ndarray, landmarks: np.ndarray, faces: list[Face]):
        if self.protocol.masks.folder is not None:
            from bench.occlusion_folder import load_folder_occlusion

            pairs = [load_folder_occlusion(Path(self.protocol.masks.folder), f.id, img.shape) for f, img in zip(faces, images)]
            return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        from bench.masks import occlude_batch

        return occlude_batch(images, landmarks, style, self.protocol.masks.seed, [f.id for f in faces])

    def _features(self, images: np.ndarray, landmarks: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for key, metric in self.comp.feature_extractors().items():
            out[f"feat:{key}"] = self._timed(f"features:{key}", metric.features, images)
        for name, recognizer in self.comp.recognizers.items():
            out[f"emb:{name}"] = self._timed(f"embed:{name}", recognizer.embed, images, landmarks)
        return out

    def run(self, task: ChunkTask) -> ChunkResult:
        self.timings = defaultdict(float)
        samples: dict[str, np.ndarray] = {}

        def sample(folder: str, method: str, faces: list[Face], images: np.ndarray) -> None:
            for face, image in zip(faces, images):
                row = task.sample_rows.get(face.id)
                if row is not None:
                    samples[f"{safe_name(folder)}/{row:02d}_{safe_name(method)}.png"] = image

        images = self._timed("decode", self._decode, task)
        clean = None
        landmarks = task.landmarks
        if landmarks is None:
            clean = self._clean(task, images)
            landmarks = clean["landmarks"]
            for idx in shape_groups(images):
                sample(CLEAN, CLEAN, [task.faces[i] for i in idx], np.stack([images[i] for i in idx]))
        masked: dict = {}
        conditions = {(style, method): self._condition(style, method, task.faces, images, landmarks, masked, sample)
                      for style, method in task.conditions}
        return ChunkResult(task.index, clean, conditions, samples, dict(self.timings))

    def _decode(self, task: ChunkTask) -> list[np.ndarray | None]:
        images: list[np.ndarray | None] = []
        for i, (face, data) in enumerate(zip(task.faces, task.encoded)):
            try:
                images.append(None if data is None else decode_rgb(data, face.path))
            except BenchError as exc:
                images.append(None)
                task.errors[i] = str(exc)
        return images

    def _clean(self, task: ChunkTask, images: list[np.ndarray | None]) -> dict[str, np.ndarray]:
        """Landmarks, features and embeddings of the clean faces of one chunk."""
        n = len(task.faces)
        result: dict[str, np.ndarray] = {
            "ok": np.array([img is not None for img in images]),
            "errors": np.array(task.errors),
            "landmarks": np.zeros((n, 68, 2), np.float32),
            "detected": np.zeros(n, bool),
        }
        for idx in shape_groups(images):
            batch = np.stack([images[i] for i in idx])
            lms, detected = self._timed("landmarks", self._detect, batch)
            result["landmarks"][idx], result["detected"][idx] = lms, detected
            for key, value in self._features(batch, lms).items():
                if key not in result:
                    result[key] = np.zeros((n, value.shape[1]), np.float32)
                result[key][idx] = value
        return result

    def _condition(self, style: str, method: str, faces: list[Face], images: list[np.ndarray | None],
                   landmarks: np.ndarray, masked: dict, sample: Callable) -> dict[str, np.ndarray]:
        n = len(faces)
        inpainter: Inpainter = self.comp.methods[method]
        result: dict[str, np.ndarray] = {"area": np.full(n, np.nan)}
        for name in self.comp.image_metrics:
            result[f"metric:{name}"] = np.full(n, np.nan)
        for idx in shape_groups(images):
            batch = np.stack([images[i] for i in idx])
            group = [faces[i] for i in idx]
            key = (style, tuple(idx))
            if key not in masked:
                masked[key] = self._timed("occlusion", self._occlude, style, batch, landmarks[idx], group)
                sample(style, "masked", group, masked[key][0])
            occluded, masks = masked[key]
            start = time.perf_counter()
            try:
                output = inpainter(occluded.copy(), masks.copy())
            except BenchError:
                raise
            except Exception as exc:
                raise BenchError(f"method {method!r} failed on {group[0].id} and {len(idx) - 1} more: {type(exc).__name__}: {exc}") from exc
            self.timings[f"inpaint:{method}"] += time.perf_counter() - start
            output = check_output(method, output, occluded)
            sample(style, method, group, output)
            result["area"][idx] = masks.reshape(len(idx), -1).mean(axis=1)
            for name, metric in self.comp.image_metrics.items():
                result[f"metric:{name}"][idx] = self._timed(f"metric:{name}", metric.per_image, batch, output, masks)
            for key_name, value in self._features(output, landmarks[idx]).items():
                if key_name not in result:
                    result[key_name] = np.zeros((n, value.shape[1]), np.float32)
                result[key_name][idx] = value
        return result
