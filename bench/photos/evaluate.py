"""The real-mask protocol: real masked photos with no clean twin, scored without ground truth.

``bench run`` hands a protocol whose dataset kind is ``photos`` here. Every photo's faces are
found, aligned and given a mask region as ``bench inpaint`` does (:mod:`bench.photos.pipeline`);
each method inpaints the aligned crops, and three numbers need no ground truth:

- **FID and KID** of the inpainted crops against clean faces (the protocol's ``reference``
  dataset, LFW-gray by default: the distribution of unmasked faces in the same frame). Both sets
  are scored on luminance, as the reference is gray. FID is biased upward for a few hundred
  faces; compare methods on the same faces, or use KID (unbiased).
- **hog-rate**: the share of crops in which dlib's HOG face detector (a detector that masks
  defeat) finds a face over the crop's centre, at its default threshold; with a 95% Wilson
  interval. The clean reference faces give its ceiling (the row ``clean``).

Results: ``metrics.csv`` and ``run.json`` in the runner's layout (the report renders them as it
renders every run), ``faces.csv`` (each face scored), and ``contact_sheet.png`` (faces before
and after each method). The faces, reference features and each method's outputs are cached, so a
second run recomputes only a changed method.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from tqdm import tqdm

from bench.api import BenchError
from bench.atomic import atomic_write, write_json, write_npz
from bench.data.imageio import load_rgb, list_images
from bench.photos.faces import FaceSet, collect_faces
from bench.photos.pipeline import recolour_face
from bench.photos.sheet import method_grid
from bench.photos.subsets import select

METRICS = ("fid", "kid", "hog-rate")
DIRECTIONS = {"fid": False, "kid": False, "hog-rate": True}
COLUMNS = ["dataset", "mask", "method", "recognizer", "metric", "value", "ci_low", "ci_high", "n"]
SHEET_ROWS = 10
CONVENTIONS = {
    "faces": "every face YuNet finds with its eyes at least 12 px apart, aligned to the LFW-gray 160x160 frame; "
             "faces where no mask is seen are left out and counted",
    "masks": "no ground truth: the region of each face from colour segmentation inside a landmark-drawn candidate "
             "(bench.photos.region); the same region for every method",
    "fid/kid": "pytorch-fid InceptionV3 pool3 (2048-d), bilinear resize to 299; the inpainted crops' luminance against "
               "the clean reference faces (not the same people); KID: unbiased MMD^2, cubic polynomial kernel",
    "hog-rate": "share of crops (padded by 20% gray) where dlib's HOG frontal detector, threshold 0, finds a face "
                "over the centre; 95% Wilson interval; clean = the reference faces",
    "colour": "a luminance model's region takes the chroma of the visible skin (bench.photos.colour); scores use "
              "luminance only",
}


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def hog_finds(images: np.ndarray) -> np.ndarray:
    """Bool per crop: dlib's HOG detector finds a face (score >= 0) whose box holds the centre."""
    import cv2

    from bench.landmarks import _models, predictor_path

    detector, _ = _models(str(predictor_path()))
    found = np.zeros(len(images), bool)
    for i, image in enumerate(images):
        pad = int(0.2 * max(image.shape[:2]))
        padded = cv2.copyMakeBorder(np.ascontiguousarray(image), pad, pad, pad, pad, cv2.BORDER_CONSTANT,
                                    value=(128, 128, 128))
        boxes, scores, _ = detector.run(padded, 0, 0.0)
        cy, cx = padded.shape[0] / 2, padded.shape[1] / 2
        found[i] = any(b.left() <= cx <= b.right() and b.top() <= cy <= b.bottom() for b in boxes)
    return found


def method_cache(out_dir: Path, label: str) -> Path:
    """Where a run in ``out_dir`` caches one method's outputs, features and HOG flags."""
    from bench.run.chunk import safe_name

    return Path(out_dir) / "cache" / "methods" / f"{safe_name(label)}.npz"


def luminance_rgb(images: np.ndarray) -> np.ndarray:
    """BT.601 luma of uint8 RGB images, replicated to three channels."""
    luma = np.rint(images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    return np.repeat(np.clip(luma, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def _digest(facts: dict) -> str:
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def _cached(path: Path, key: str) -> dict[str, np.ndarray] | None:
    """The arrays cached at ``path`` if they were made for ``key``."""
    if not path.is_file():
        return None
    with np.load(path) as data:
        return {k: data[k] for k in data.files} if str(data["key"]) == key else None


class PhotoEvaluation:
    """Runs the real-mask protocol into ``out_dir``."""

    def __init__(self, protocol, comp, out_dir: Path, limit: int | None = None,
                 log: Callable[[str], None] = print) -> None:
        self.protocol, self.comp, self.out, self.limit, self.log = protocol, comp, Path(out_dir), limit, log
        self.cache = self.out / "cache"
        self.timings: dict[str, float] = {}
        unknown = [m for m in protocol.metrics if m not in METRICS]
        if unknown:
            raise BenchError(f"metrics: {', '.join(unknown)} cannot be scored without ground truth; "
                             f"a photos protocol scores {', '.join(METRICS)}")
        if protocol.reference is None and {"fid", "kid"} & set(protocol.metrics):
            raise BenchError("reference: a photos protocol needs a reference dataset of clean faces for fid and kid")

    def _timed(self, stage: str, fn: Callable, *args):
        start = time.perf_counter()
        result = fn(*args)
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start
        return result

    def _features(self, images: np.ndarray) -> np.ndarray | None:
        metric = self.comp.set_metrics.get("fid") or self.comp.set_metrics.get("kid")
        return None if metric is None else self._timed("features", metric.features, luminance_rgb(images))

    def faces(self) -> FaceSet:
        path = self.cache / "faces.npz"
        photos = select(list_images(Path(self.protocol.dataset.root)), self.protocol.dataset.subset)[: self.limit]
        key = _digest({"root": self.protocol.dataset.root, "photos": photos})
        if path.is_file():
            faces = FaceSet.load(path)
            if faces.key == key:
                return faces
        faces = self._timed("faces", collect_faces, Path(self.protocol.dataset.root), photos, key)
        faces.save(path)
        return faces

    def reference(self) -> dict[str, np.ndarray]:
        from bench.photos.faces import reference_images

        spec = self.protocol.reference
        path = self.cache / "reference.npz"
        ids, root = reference_images(spec)
        key = _digest({"root": str(root), "ids": ids, "metrics": sorted(self.protocol.metrics)})
        cached = _cached(path, key)
        if cached is not None:
            return cached
        images = np.stack([load_rgb(root / i) for i in tqdm(ids, desc="reference faces", unit="face", disable=None)])
        return self._score(path, {"key": np.array(key), "ids": np.array(ids)}, images)

    def _score(self, path: Path, result: dict[str, np.ndarray], images: np.ndarray) -> dict[str, np.ndarray]:
        """Add the Inception features and HOG flags of ``images`` to ``result`` and cache it at ``path``."""
        features = self._features(images)
        if features is not None:
            result["features"] = features
        if "hog-rate" in self.protocol.metrics:
            result["hog"] = self._timed("hog", hog_finds, images)
        write_npz(path, **result)
        return result

    def condition(self, label: str, method, faces: FaceSet) -> dict[str, np.ndarray]:
        facts = {"method": {k: v for k, v in method.describe().items() if k != "device"}, "faces": faces.key,
                 "metrics": sorted(self.protocol.metrics)}
        path = method_cache(self.out, label)
        cached = _cached(path, _digest(facts))
        if cached is not None:
            return cached
        outputs = np.empty_like(faces.crops)
        luminance_only = bool(getattr(method, "luminance_only", False))
        step = self.protocol.batch_size
        for start in tqdm(range(0, len(faces.crops), step), desc=f"inpaint {label}", unit="batch", disable=None):
            batch, masks = faces.crops[start:start + step], faces.regions[start:start + step]
            outputs[start:start + step] = self._timed(f"inpaint:{label}", method, batch.copy(), masks.copy())
        if luminance_only:
            for i in range(len(outputs)):
                outputs[i] = recolour_face(faces.crops[i], outputs[i], faces.regions[i], faces.landmarks[i])
        return self._score(path, {"key": np.array(_digest(facts)), "outputs": outputs}, outputs)

    def run(self) -> tuple[pd.DataFrame, dict]:
        faces = self.faces()
        if len(faces.crops) < 2:
            raise BenchError(f"{self.protocol.dataset.root}: only {len(faces.crops)} masked faces found; need at least 2")
        self.log(f"{self.protocol.dataset.display_name or 'photos'}: {faces.summary()}")
        reference = self.reference()
        dataset = self.protocol.dataset.display_name or Path(self.protocol.dataset.root).name
        mask_label = "real (region: colour segmentation)"
        rows: list[dict] = []
        per_face = pd.DataFrame({"photo": faces.photos, "face": faces.index, "region_source": faces.sources})
        outputs = {}
        for label, method in self.comp.methods.items():
            data = self.condition(label, method, faces)
            outputs[label] = data["outputs"]
            base = {"dataset": dataset, "mask": mask_label, "method": label, "recognizer": "", "ci_low": np.nan,
                    "ci_high": np.nan}
            for name, metric in self.comp.set_metrics.items():
                value = metric.from_features(reference["features"], data["features"])
                rows.append({**base, "metric": name, "value": float(value), "n": len(faces.crops)})
            if "hog" in data:
                low, high = wilson(int(data["hog"].sum()), len(data["hog"]))
                rows.append({**base, "metric": "hog-rate", "value": float(data["hog"].mean()), "ci_low": low,
                             "ci_high": high, "n": len(data["hog"])})
                per_face[f"hog:{label}"] = data["hog"]
        if "hog" in reference:
            low, high = wilson(int(reference["hog"].sum()), len(reference["hog"]))
            rows.append({"dataset": dataset, "mask": mask_label, "method": "clean", "recognizer": "",
                         "metric": "hog-rate", "value": float(reference["hog"].mean()), "ci_low": low,
                         "ci_high": high, "n": len(reference["hog"])})
        atomic_write(self.out / "faces.csv", lambda tmp: per_face.to_csv(tmp, index=False))
        chosen = np.linspace(0, len(faces.crops) - 1, min(SHEET_ROWS, len(faces.crops))).round().astype(int)
        method_grid(self.out / "contact_sheet.png", [f"{faces.photos[i]} #{faces.index[i]}" for i in chosen],
                    {label: images[chosen] for label, images in outputs.items()}, faces.crops[chosen])
        metrics = pd.DataFrame(rows, columns=COLUMNS)
        return metrics, {"faces": faces.counts, "reference": {"root": str(self.protocol.reference.root)
                                                              if self.protocol.reference else None,
                                                              "n_faces": int(len(reference["ids"]))}}


def describe(protocol, out_dir: Path, limit: int | None = None) -> str:
    """The plan of a photos protocol, as printed by ``bench run --dry-run``: nothing is computed."""
    root = Path(protocol.dataset.root)
    if not root.is_dir():
        raise BenchError(f"dataset.root: {root} is not a folder")
    every = list_images(root)
    photos = select(every, protocol.dataset.subset)[:limit]
    methods = [spec.display for spec in protocol.methods]
    cached = [m for m in methods if method_cache(out_dir, m).is_file()]
    return "\n".join([
        f"protocol {protocol.name}: photos of {root} (subset {protocol.dataset.subset}: {len(photos)} of {len(every)})",
        f"  methods {', '.join(methods)}; metrics {', '.join(protocol.metrics)}",
        f"  reference {protocol.reference.root if protocol.reference else 'none'}",
        f"  cached in {out_dir / 'cache'}: faces {'yes' if (out_dir / 'cache' / 'faces.npz').is_file() else 'no'}, "
        f"methods {', '.join(cached) or 'none'} (a cached method is reused only if its checkpoint and the faces match)",
        "  no time estimate: bench perf does not measure the detection and alignment stages",
    ])


def run_protocol(protocol, out_dir: Path, limit: int | None, log: Callable[[str], None], start: float,
                 report: bool = True) -> int:
    """``bench run`` for a photos protocol: evaluate, write metrics.csv and run.json, render the report."""
    import dataclasses

    from bench import components
    from bench.run import provenance

    scored = dataclasses.replace(protocol, metrics=[m for m in protocol.metrics if m != "hog-rate"], recognizers=[])
    components.check_names(scored)
    comp = components.build(scored, log=log)
    evaluation = PhotoEvaluation(protocol, comp, out_dir, limit, log)
    metrics, facts = evaluation.run()
    info = {
        "protocol_name": protocol.name,
        "protocol": protocol.to_dict(),
        "dataset": {"name": protocol.dataset.display_name or Path(protocol.dataset.root).name,
                    "root": protocol.dataset.root, "kind": "photos", "subset": protocol.dataset.subset, **facts},
        "methods": {name: {"needs_mask": m.needs_mask, **m.describe()} for name, m in comp.methods.items()},
        "unavailable": comp.unavailable,
        "recognizers": {},
        "metrics": {name: {"higher_is_better": DIRECTIONS[name], "region": "set" if name != "hog-rate" else "faces"}
                    for name in protocol.metrics},
        "conventions": CONVENTIONS,
        "versions": provenance.versions(),
        "git": provenance.git_revision(),
        "assets": comp.assets,
        "timings": {k: round(v, 2) for k, v in sorted(evaluation.timings.items())},
        "wall_seconds_this_invocation": round(time.time() - start, 1),
        "peak_memory_mb": round(provenance.peak_memory_mb(), 1),
        "notes": [f"{key.split(':', 1)[1]}: unavailable ({reason})" for key, reason in comp.unavailable.items()],
    }
    atomic_write(out_dir / "metrics.csv", lambda tmp: metrics.to_csv(tmp, index=False, float_format="%.6g"))
    write_json(out_dir / "run.json", info)
    written = [out_dir / "metrics.csv", out_dir / "run.json", out_dir / "faces.csv", out_dir / "contact_sheet.png"]
    if report:
        from bench.report import render

        written += render(out_dir, {"md", "tex", "csv", "html"})
    log(f"wrote {out_dir} in {time.time() - start:.0f} s ({', '.join(p.name for p in written[:6])}...)")
    return 0
