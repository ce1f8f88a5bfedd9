"""Resumable execution of a protocol: load each face once, occlude, inpaint, score, cache.

Work is cut into chunks of ``batch_size`` faces. Every chunk's results (scores, features,
embeddings) are written atomically to ``cache/`` as soon as they exist, so a killed run
resumes at the first missing chunk and a finished run re-aggregates in seconds.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from bench.api import BenchError, Face, Inpainter
from bench.atomic import write_json, write_npz
from bench.components import Components
from bench.data.imageio import load_rgb, save_png
from bench.run.plan import Plan
from bench.protocol import Protocol

CLEAN = "clean"


def style_names(protocol: Protocol) -> list[str]:
    if protocol.masks.folder is not None:
        return [f"folder:{Path(protocol.masks.folder).name}"]
    return list(protocol.masks.styles)


def _safe(name: str) -> str:
    return name.replace("/", "_").replace(":", "_")


class ChunkCache:
    """Paths of the cached results of one chunk."""

    def __init__(self, cache_dir: Path, index: int) -> None:
        self.dir = cache_dir
        self.name = f"c{index:05d}.npz"

    def clean(self) -> Path:
        return self.dir / CLEAN / self.name

    def condition(self, style: str, method: str) -> Path:
        return self.dir / "conditions" / _safe(style) / _safe(method) / self.name


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


class Runner:
    """Executes the chunks of a plan with the protocol's components."""

    def __init__(self, protocol: Protocol, plan: Plan, comp: Components, out_dir: Path,
                 log: Callable[[str], None] = print) -> None:
        self.protocol, self.plan, self.comp, self.out = protocol, plan, comp, out_dir
        self.cache = out_dir / "cache"
        self.log = log
        self.styles = style_names(protocol)
        self.timings: dict[str, float] = defaultdict(float)
        self.sample_rows = {face_id: row for row, face_id in enumerate(plan.sample_ids)}
        self._detector = None

    # -- helpers -----------------------------------------------------------------------
    def _timed(self, stage: str, fn: Callable, *args):
        start = time.perf_counter()
        result = fn(*args)
        self.timings[stage] += time.perf_counter() - start
        return result

    def _detector_instance(self):
        if self._detector is None:
            from bench.landmarks import LandmarkDetector

            self._detector = LandmarkDetector()
        return self._detector

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

    def _save_sample(self, style: str, method: str, faces: list[Face], images: np.ndarray) -> None:
        for face, image in zip(faces, images):
            row = self.sample_rows.get(face.id)
            if row is not None:
                save_png(self.out / "samples" / _safe(style) / f"{row:02d}_{_safe(method)}.png", image)

    # -- stages ------------------------------------------------------------------------
    def _load(self, faces: list[Face]) -> tuple[list[np.ndarray | None], list[str]]:
        images, errors = [], []
        for face in faces:
            try:
                images.append(load_rgb(face.path))
                errors.append("")
            except BenchError as exc:
                images.append(None)
                errors.append(str(exc))
        return images, errors

    def _clean_chunk(self, path: Path, faces: list[Face], images: list[np.ndarray | None], errors: list[str]) -> dict:
        """Landmarks, features and embeddings of the clean faces of one chunk (cached)."""
        n = len(faces)
        ok = np.array([img is not None for img in images])
        result: dict[str, np.ndarray] = {
            "ok": ok,
            "errors": np.array(errors),
            "landmarks": np.zeros((n, 68, 2), np.float32),
            "detected": np.zeros(n, bool),
        }
        for idx in _shape_groups(images):
            batch = np.stack([images[i] for i in idx])
            lms, detected = self._timed("landmarks", self._detector_instance().detect_batch, batch)
            result["landmarks"][idx], result["detected"][idx] = lms, detected
            for key, value in self._features(batch, lms).items():
                if key not in result:
                    result[key] = np.zeros((n, value.shape[1]), np.float32)
                result[key][idx] = value
        write_npz(path, **result)
        return result

    def _condition_chunk(self, path: Path, style: str, method: str, inpainter: Inpainter, faces: list[Face],
                         images: list[np.ndarray | None], clean: dict, masked_cache: dict) -> None:
        n = len(faces)
        result: dict[str, np.ndarray] = {"area": np.full(n, np.nan)}
        for name in self.comp.image_metrics:
            result[f"metric:{name}"] = np.full(n, np.nan)
        for idx in _shape_groups(images):
            batch = np.stack([images[i] for i in idx])
            key = (style, tuple(idx))
            if key not in masked_cache:
                occluded, masks = self._timed("occlusion", self._occlude, style, batch, clean["landmarks"][idx], [faces[i] for i in idx])
                masked_cache[key] = (occluded, masks)
                self._save_sample(style, "masked", [faces[i] for i in idx], occluded)
            occluded, masks = masked_cache[key]
            start = time.perf_counter()
            try:
                output = inpainter(occluded.copy(), masks.copy())
            except BenchError:
                raise
            except Exception as exc:
                raise BenchError(f"method {method!r} failed on {faces[idx[0]].id} and {len(idx) - 1} more: {type(exc).__name__}: {exc}") from exc
            self.timings[f"inpaint:{method}"] += time.perf_counter() - start
            output = check_output(method, output, occluded)
            self._save_sample(style, method, [faces[i] for i in idx], output)
            result["area"][idx] = masks.reshape(len(idx), -1).mean(axis=1)
            for name, metric in self.comp.image_metrics.items():
                result[f"metric:{name}"][idx] = self._timed(f"metric:{name}", metric.per_image, batch, output, masks)
            for key_name, value in self._features(output, clean["landmarks"][idx]).items():
                if key_name not in result:
                    result[key_name] = np.zeros((n, value.shape[1]), np.float32)
                result[key_name][idx] = value
        write_npz(path, **result)

    def _forget_changed_methods(self) -> None:
        """Drop the cached outputs of a method whose description (checkpoint hash, options)
        differs from the one they were made with, so a new checkpoint is never scored from an
        old one's outputs."""
        for label, method in self.comp.methods.items():
            facts = {k: v for k, v in method.describe().items() if k != "device"}
            digest = hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()
            record = self.cache / "methods" / f"{_safe(label)}.json"
            old = json.loads(record.read_text()).get("sha256") if record.is_file() else None
            if old is not None and old != digest:
                self.log(f"method {label!r} changed since its outputs were cached (checkpoint or options): "
                         "recomputing them")
            if old != digest:
                for style in self.styles:
                    shutil.rmtree(self.cache / "conditions" / _safe(style) / _safe(label), ignore_errors=True)
                write_json(record, {"sha256": digest, "describe": facts})

    def run(self) -> None:
        chunks = self.plan.chunks(self.protocol.batch_size)
        write_json(self.cache / "plan.json", {"fingerprint": self.plan.fingerprint(self.protocol.batch_size),
                                              "faces": len(self.plan.faces), "chunks": len(chunks)})
        self._forget_changed_methods()
        todo = [(style, method) for style in self.styles for method in self.comp.methods]
        with tqdm(total=len(chunks) * (1 + len(todo)), desc="bench run", unit="task", dynamic_ncols=True) as progress:
            self._run_chunks(chunks, todo, progress)

    def _run_chunks(self, chunks: list[list[Face]], todo: list[tuple[str, str]], progress: tqdm) -> None:
        for index, faces in enumerate(chunks):
            paths = ChunkCache(self.cache, index)
            missing = [(s, m) for s, m in todo if not paths.condition(s, m).exists()]
            if paths.clean().exists() and not missing:
                progress.update(1 + len(todo))
                continue
            images, errors = self._timed("decode", self._load, faces)
            if paths.clean().exists():
                with np.load(paths.clean()) as data:
                    clean = {k: data[k] for k in data.files}
            else:
                clean = self._clean_chunk(paths.clean(), faces, images, errors)
                for idx in _shape_groups(images):
                    self._save_sample("clean", CLEAN, [faces[i] for i in idx], np.stack([images[i] for i in idx]))
            progress.update(1 + len(todo) - len(missing))
            masked_cache: dict = {}
            for style, method in missing:
                progress.set_postfix_str(f"{style} / {method}")
                self._condition_chunk(paths.condition(style, method), style, method, self.comp.methods[method],
                                      faces, images, clean, masked_cache)
                progress.update(1)


def _shape_groups(images: list[np.ndarray | None]) -> list[list[int]]:
    """Indices of the decoded images grouped by shape, so each group stacks into one batch."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, image in enumerate(images):
        if image is not None:
            groups[image.shape].append(i)
    return list(groups.values())


def check_plan(cache_dir: Path, fingerprint: str) -> None:
    """Refuse to resume into a cache made for different faces or chunking."""
    path = cache_dir / "plan.json"
    if path.exists():
        try:
            old = json.loads(path.read_text())["fingerprint"]
        except (ValueError, KeyError):
            return
        if old != fingerprint:
            raise BenchError(
                f"{cache_dir} holds a run over different faces or batch size; "
                "use --fresh to discard it or --out to choose another folder"
            )
