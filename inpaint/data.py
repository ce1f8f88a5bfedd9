"""Unpaired training data: domain A = faces occluded by synthetic face masks, domain B = clean faces.

The pool is taken from LFW so that nothing evaluated later on pairs.txt is trained on:
``identity-disjoint`` (default) keeps the people who appear in no pair of pairs.txt (1,505
images on lfw-gray); ``not-in-pairs`` keeps every image that appears in no pair (identities may
overlap with the evaluation). Both rules exclude every image of every fold of pairs.txt.

Each step draws ``2 * batch`` distinct images of the pool: the first half is occluded (domain A,
a random mask style and seed per sample, from ``bench.masks``), the second half stays clean
(domain B), so one image is never both A and B in a step. Draws depend only on
``(seed, step, rank)``, so a resumed run sees exactly the data it would have seen.
Landmarks of the pool are detected once and cached in an npz next to the run.

With ``real_fraction > 0`` an occluded sample is, with that chance, a real masked face from the
``train`` half of ``real_masked`` (:mod:`inpaint.real_faces`) with its segmented mask region.

``val_images`` faces are carved out of the pool (a seeded draw) for validation: they are never
drawn for training. Unpaired batches carry no clean version of an occluded face; only the
supervised baseline asks for one (``paired=True``).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch

from bench.api import BenchError, Face
from bench.atomic import write_json, write_npz
from bench.data.imageio import load_rgb
from bench.data.lfw import LFW, image_id
from inpaint.config import DataConfig

SPLIT_RULES = {
    "identity-disjoint": "LFW people who appear in no pair of pairs.txt (any fold)",
    "not-in-pairs": "LFW images that appear in no pair of pairs.txt (any fold); identities may overlap",
}


def default_root() -> Path:
    base = os.environ.get("BENCH_DATA")
    if not base:
        raise BenchError("data.root is empty and BENCH_DATA is not set; point BENCH_DATA at the data folder")
    return Path(base) / "lfw-gray"


def pair_image_ids(lfw: LFW) -> set[str]:
    """Every image id named by pairs.txt, present or not."""
    ids: set[str] = set()
    path = lfw.protocol_file("pairs.txt")
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines()[1:], start=2):
        fields, where = line.split(), f"{path.name} line {line_no}"
        if len(fields) == 3:
            ids.update((image_id(fields[0], fields[1], where), image_id(fields[0], fields[2], where)))
        elif len(fields) == 4:
            ids.update((image_id(fields[0], fields[1], where), image_id(fields[2], fields[3], where)))
        elif fields:
            raise BenchError(f"{where}: expected 3 or 4 fields, got {len(fields)}")
    return ids


def training_pool(lfw: LFW, rule: str = "identity-disjoint") -> list[Face]:
    """The faces a model may train on under ``rule`` (sorted by id)."""
    if rule == "identity-disjoint":
        people = lfw.people_in_pairs()
        return [f for f in lfw.faces() if f.identity not in people]
    if rule == "not-in-pairs":
        used = pair_image_ids(lfw)
        return [f for f in lfw.faces() if f.id not in used]
    raise BenchError(f"unknown split rule {rule!r}; choose from {sorted(SPLIT_RULES)}")


def resize(images: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize uint8 ``N x H x W x 3`` (or one ``H x W x 3``) to ``size x size`` (or ``(height, width)``):
    area averaging when shrinking, bicubic when enlarging."""
    if images.ndim == 3:
        return resize(images[None], size)[0]
    height, width = (size, size) if isinstance(size, int) else size
    out = np.empty((images.shape[0], height, width, images.shape[3]), dtype=np.uint8)
    for i, image in enumerate(images):
        interp = cv2.INTER_AREA if height * width < image.shape[0] * image.shape[1] else cv2.INTER_CUBIC
        out[i] = cv2.resize(image, (width, height), interpolation=interp).reshape(out.shape[1:])
    return out


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``N x H x W x 3`` -> float ``N x 3 x H x W`` in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma of ``N x 3 x H x W`` images (``N x 1 x H x W``); equal to any channel of a gray image."""
    weights = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def resize_masks(masks: np.ndarray, size: int) -> np.ndarray:
    """Resize bool ``N x H x W`` masks to ``size x size``. When shrinking, a pixel is hidden if any
    part of it was (area coverage > 0), so thin parts such as ear loops survive."""
    def one(mask: np.ndarray) -> np.ndarray:
        if size < min(mask.shape):
            return cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) > 0
        return cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST).astype(bool)

    return np.stack([one(m) for m in masks]) if len(masks) else np.zeros((0, size, size), bool)


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """float ``N x 3 x H x W`` in [-1, 1] -> uint8 ``N x H x W x 3`` (rounded, clipped)."""
    t = tensor.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return t.permute(0, 2, 3, 1).contiguous().cpu().numpy()


class UnpairedFaces:
    """Deterministic unpaired batches (see the module docstring)."""

    def __init__(self, cfg: DataConfig, image_size: int, seed: int, cache_dir: Path | None = None) -> None:
        self.cfg = cfg
        self.image_size = image_size
        self.seed = seed
        root = Path(cfg.root) if cfg.root else default_root()
        lfw = LFW(root)
        pool = training_pool(lfw, cfg.split)
        if cfg.max_images:
            order = np.random.default_rng(seed).permutation(len(pool))[: cfg.max_images]
            pool = [pool[i] for i in sorted(order)]
        self.root = root
        images = np.stack([load_rgb(face.path) for face in pool]) if pool else None
        if images is None or len({im.shape for im in images}) != 1:
            raise BenchError(f"{root}: the training pool is empty or its images differ in size")
        landmarks, detected = self._landmarks(pool, images, cache_dir)
        self.undetected = [f.id for f, ok in zip(pool, detected) if not ok]
        keep = np.flatnonzero(detected)
        if cfg.val_images:
            if cfg.val_images > len(keep) - 4:
                raise BenchError(f"data.val_images {cfg.val_images}: the pool has only {len(keep)} faces with landmarks")
            held = np.zeros(len(keep), bool)
            held[np.random.default_rng([seed, 7]).permutation(len(keep))[: cfg.val_images]] = True
            val, keep = keep[held], keep[~held]
        else:
            val = keep[:0]
        self.val_faces = [pool[i] for i in val]
        self.val_images, self.val_landmarks = images[val], landmarks[val]
        self.faces = [pool[i] for i in keep]
        self.images = images[keep]
        self.landmarks = landmarks[keep]
        if len(self.faces) < 4:
            raise BenchError(f"{root}: only {len(self.faces)} faces with landmarks in the training pool")
        self.real = None
        if cfg.real_fraction > 0:
            from inpaint.real_faces import load_real_faces

            self.real = load_real_faces(cfg.real_masked, cache_dir)

    def _landmarks(self, pool: list[Face], images: np.ndarray, cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
        from bench.landmarks import LandmarkDetector

        digest = hashlib.sha256("\n".join(f.id for f in pool).encode()).hexdigest()[:16]
        cache = cache_dir / f"landmarks-{digest}.npz" if cache_dir else None
        if cache is not None and cache.is_file():
            with np.load(cache, allow_pickle=False) as data:
                if list(data["ids"]) == [f.id for f in pool]:
                    return data["landmarks"].astype(np.float32), data["detected"].astype(bool)
        detector = LandmarkDetector()
        marks, found = [], []
        for start in range(0, len(images), 64):
            lm, ok = detector.detect_batch(images[start:start + 64])
            marks.append(np.asarray(lm, dtype=np.float32))
            found.append(np.asarray(ok, dtype=bool))
        landmarks, detected = np.concatenate(marks), np.concatenate(found)
        if cache is not None:
            write_npz(cache, ids=np.array([f.id for f in pool]), landmarks=landmarks, detected=detected)
        return landmarks, detected

    def __len__(self) -> int:
        return len(self.faces)

    def write_split(self, path: Path) -> None:
        """Record which images may be drawn and by which rule."""
        write_json(path, {
            "dataset": "LFW", "root": str(self.root), "rule": self.cfg.split, "rule_text": SPLIT_RULES[self.cfg.split],
            "max_images": self.cfg.max_images, "domains": "per step, 2*batch distinct images: first half occluded (A), "
            "second half clean (B)", "mask_styles": self.cfg.mask_styles, "n_images": len(self.faces),
            "excluded_no_landmarks": self.undetected, "ids": [f.id for f in self.faces],
            "validation_ids": [f.id for f in self.val_faces],
            "real_masked": None if self.real is None else {
                "folder": self.cfg.real_masked, "subset": "train (bench.photos.subsets)", "fraction": self.cfg.real_fraction,
                "faces": len(self.real.crops), "photos": sorted(set(self.real.photos)), "counts": self.real.counts},
        })

    def batch(self, step: int, batch_size: int, rank: int = 0, paired: bool = False) -> dict[str, torch.Tensor]:
        """The batch of ``step`` for process ``rank``: ``A`` (occluded) and ``B`` (clean), float
        ``N x 3 x S x S`` in [-1, 1], plus ``mask_A`` (bool ``N x S x S``); with ``paired`` also
        ``A_clean``, the faces of ``A`` before occlusion (for the supervised baseline only)."""
        from bench.masks import occlude

        if 2 * batch_size > len(self.faces):
            raise BenchError(f"batch_size {batch_size} needs at least {2 * batch_size} training images")
        rng = np.random.default_rng([self.seed, step, rank])
        picks = rng.choice(len(self.faces), size=2 * batch_size, replace=False)
        a_imgs, a_masks, b_imgs, a_clean = [], [], [], []
        for j, idx in enumerate(picks):
            image = clean = self.images[idx]
            mask = np.zeros(image.shape[:2], dtype=bool)
            if j < batch_size and self.real is not None and rng.random() < self.cfg.real_fraction:
                k = int(rng.integers(len(self.real.crops)))  # a real masked face: no clean twin exists
                image = clean = self.real.crops[k]
                mask = self.real.regions[k]
            elif j < batch_size:
                style = self.cfg.mask_styles[rng.integers(len(self.cfg.mask_styles))]
                image, mask = occlude(image, self.landmarks[idx], style, int(rng.integers(2**31)), self.faces[idx].id)
            (image, clean), mask = self._augment([image, clean], mask, rng)
            (a_imgs if j < batch_size else b_imgs).append(image)
            if j < batch_size:
                a_masks.append(mask)
                a_clean.append(clean)
        batch = {"A": to_tensor(np.stack(a_imgs)), "B": to_tensor(np.stack(b_imgs)),
                 "mask_A": torch.from_numpy(np.stack(a_masks))}
        if paired:
            batch["A_clean"] = to_tensor(np.stack(a_clean))
        return batch

    def _augment(self, images: list[np.ndarray], mask: np.ndarray,
                 rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:
        """Resize, flip and jitter ``images`` (one face, occluded and clean) and ``mask`` alike."""
        size, jitter = self.image_size, self.cfg.jitter
        images = [resize(image, size) for image in images]
        mask = resize_masks(mask[None], size)[0]
        # flip after occlusion, so the mask moves with the face
        if self.cfg.flip and rng.random() < 0.5:
            images, mask = [image[:, ::-1] for image in images], mask[:, ::-1]
        if jitter:
            dy, dx = rng.integers(0, 2 * jitter + 1, size=2)
            pad = ((jitter, jitter), (jitter, jitter), (0, 0))
            images = [np.pad(image, pad, mode="reflect")[dy:dy + size, dx:dx + size] for image in images]
            mask = np.pad(mask, jitter, mode="constant")[dy:dy + size, dx:dx + size]
        return [np.ascontiguousarray(image) for image in images], np.ascontiguousarray(mask)


class _StepBatches(torch.utils.data.Dataset):
    """Item ``i`` is the batch of step ``first + i`` (for loading in worker processes)."""

    def __init__(self, data: UnpairedFaces, first: int, stop: int, batch_size: int, rank: int, paired: bool) -> None:
        self.data, self.first, self.stop = data, first, stop
        self.batch_size, self.rank, self.paired = batch_size, rank, paired

    def __len__(self) -> int:
        return max(0, self.stop - self.first)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.data.batch(self.first + i, self.batch_size, self.rank, self.paired)


def _quiet_worker(_worker_id: int) -> None:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def step_batches(data: UnpairedFaces, first: int, stop: int, batch_size: int, rank: int = 0,
                 paired: bool = False, workers: int = 0, pin_memory: bool = False) -> Iterator[dict[str, torch.Tensor]]:
    """The batches of steps ``first .. stop - 1`` in order: the same as ``data.batch(step, ...)``,
    prepared ahead by ``workers`` processes when > 0 (a GPU outruns one process's masking).
    Workers are spawned, not forked: a forked child inherits OpenCV's and OpenMP's thread pools
    without their threads and can wait on them forever."""
    if workers == 0:
        for step in range(first, stop):
            yield data.batch(step, batch_size, rank, paired)
        return
    loader = torch.utils.data.DataLoader(_StepBatches(data, first, stop, batch_size, rank, paired), batch_size=None,
                                         num_workers=workers, prefetch_factor=4, pin_memory=pin_memory,
                                         worker_init_fn=_quiet_worker, multiprocessing_context="spawn")
    yield from loader
