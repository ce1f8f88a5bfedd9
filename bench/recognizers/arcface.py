"""ArcFace: insightface's buffalo_l recognition model (``w600k_r50.onnx``, ResNet-50, 512-d) via onnxruntime.

The weights ship in no PyPI package. They are looked up (through :mod:`bench.assets`) in the
cache, in ``~/.insightface/models/buffalo_l/`` (where ``insightface`` unpacks buffalo_l on first
use) and ``$BENCH_CACHE/buffalo_l/``, then fetched from insightface's official release; or a
model is named with the option ``model: PATH``. Nothing else is ever used under this name.

Preprocessing follows insightface's ``ArcFaceONNX``: the face is warped onto insightface's
arcface 5-point template (:data:`bench.recognizers.align.ARCFACE_TEMPLATE`, scaled to the
model's input size) as ``face_align.norm_crop`` does, fed as RGB (insightface swaps its BGR
input to RGB), NCHW, ``(x - 127.5) / 127.5``; models converted from MXNet, recognised by a
``Sub``/``Mul`` node among their first 8 nodes, normalise inside and get raw 0..255 values.
"""
from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from bench.api import BenchError, Recognizer, Unavailable
from bench.assets import AssetSpec, cache_dir, register, resolve, sha256_file
from bench.landmarks import five_point
from bench.recognizers.align import ARCFACE_TEMPLATE, check_inputs, l2_normalise, similarity_matrix, warp

ASSET_NAME = "arcface-buffalo_l-w600k_r50"
FILENAME = "w600k_r50.onnx"
HOW_TO_GET = (
    "w600k_r50.onnx not found: place buffalo_l/w600k_r50.onnx in ~/.insightface/models/ "
    "(insightface downloads buffalo_l on first use) or pass model: PATH"
)


def _standard_paths() -> list[Path]:
    return [
        Path.home() / ".insightface" / "models" / "buffalo_l" / FILENAME,
        cache_dir() / "buffalo_l" / FILENAME,
    ]


def _extract(raw: Path, out: Path) -> None:
    """The ONNX file itself, or ``w600k_r50.onnx`` taken out of a downloaded ``buffalo_l.zip``."""
    if not zipfile.is_zipfile(raw):
        shutil.copyfile(raw, out)
        return
    with zipfile.ZipFile(raw) as archive:
        members = [m for m in archive.namelist() if Path(m).name == FILENAME]
        if not members:
            raise BenchError(f"arcface: {raw.name} holds no {FILENAME}")
        with archive.open(members[0]) as source, open(out, "wb") as target:
            shutil.copyfileobj(source, target)


ASSET = register(AssetSpec(
    name=ASSET_NAME,
    filename=FILENAME,
    sha256="4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43",
    standard_paths=_standard_paths,
    urls=(
        "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip",
        "https://github.com/deepinsight/insightface/releases/download/model-zoo/buffalo_l.zip",
    ),
    convert=_extract,
    description="insightface buffalo_l ArcFace recognition model (ResNet-50 trained on WebFace600K)",
    how_to_get=HOW_TO_GET,
))


def providers() -> list[str]:
    """CUDA when this onnxruntime build has it, always with the CPU as fallback."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def input_normalisation(model_path: Path) -> tuple[float, float]:
    """``(mean, std)`` as insightface's ArcFaceONNX decides it from the first 8 graph nodes."""
    import onnx

    nodes = onnx.load(str(model_path), load_external_data=False).graph.node[:8]
    has_sub = any(n.name.startswith(("Sub", "_minus")) for n in nodes)
    has_mul = any(n.name.startswith(("Mul", "_mul")) for n in nodes)
    return (0.0, 1.0) if has_sub and has_mul else (127.5, 127.5)


class ArcFace(Recognizer):
    """insightface's ArcFace ONNX model. Options: ``model`` (path to an insightface recognition
    ONNX file; default: buffalo_l's ``w600k_r50.onnx``), ``batch_size``."""

    name: ClassVar[str] = "arcface"
    dim: ClassVar[int] = 512

    def __init__(self, model: str | Path | None = None, batch_size: int = 32) -> None:
        if model is not None:
            self.model_path = Path(model).expanduser()
            if not self.model_path.is_file():
                raise Unavailable(f"model {self.model_path} not found; {HOW_TO_GET}")
        else:
            try:
                self.model_path = resolve(ASSET_NAME, fetch=True, log=lambda m: print(m, file=sys.stderr))
            except Unavailable as exc:
                # The reason shown in tables: how to get the weights; the details only when a file
                # was found but refused (a wrong hash), not every URL that could not be reached.
                details = str(exc).removesuffix(f" {HOW_TO_GET}")
                reason = details if "sha256" in details else "the official download was unreachable"
                raise Unavailable(f"{HOW_TO_GET}; {reason}") from exc
        if int(batch_size) < 1:
            raise BenchError(f"arcface: batch_size must be positive, got {batch_size}")
        import onnxruntime

        try:
            self._session = onnxruntime.InferenceSession(str(self.model_path), providers=providers())
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise BenchError(f"arcface: onnxruntime cannot load {self.model_path}: {exc}") from exc
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        shape = model_input.shape
        self.size = shape[2] if isinstance(shape[2], int) else 112
        if self.size % 112 != 0 or shape[3] != shape[2]:
            raise BenchError(
                f"arcface: {self.model_path} expects input {shape}; only square multiples of 112 are supported"
            )
        fixed_batch = shape[0] if isinstance(shape[0], int) else None
        self.batch_size = fixed_batch or int(batch_size)
        self.mean, self.std = input_normalisation(self.model_path)
        self._template = ARCFACE_TEMPLATE * (self.size / 112.0)

    def crops(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The uint8 RGB crops the network sees, aligned as insightface's ``norm_crop``."""
        images, landmarks = check_inputs(images, landmarks, self.name)
        five = five_point(landmarks)
        out = np.empty((images.shape[0], self.size, self.size, 3), dtype=np.uint8)
        for i, (img, pts) in enumerate(zip(images, five)):
            out[i] = warp(img, similarity_matrix(pts, self._template), self.size)
        return out

    def embed(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        crops = self.crops(images, landmarks)
        blob = (crops.transpose(0, 3, 1, 2).astype(np.float32) - self.mean) / self.std
        out = []
        for start in range(0, blob.shape[0], self.batch_size):
            result = self._session.run(None, {self._input_name: blob[start:start + self.batch_size]})[0]
            out.append(np.asarray(result, dtype=np.float32).reshape(result.shape[0], -1))
        if not out:
            return np.zeros((0, self.dim), np.float32)
        emb = np.concatenate(out)
        if emb.shape[1] != self.dim:
            raise BenchError(f"arcface: {self.model_path} gives {emb.shape[1]}-d embeddings, expected {self.dim}")
        return l2_normalise(emb)

    def describe(self) -> dict:
        return {"model": str(self.model_path), "sha256": sha256_file(self.model_path), "crop": self.size,
                "providers": self._session.get_providers(), "input_mean": self.mean, "input_std": self.std}
