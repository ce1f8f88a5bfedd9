"""One photo in, the same photo with its faces' masks removed out.

Per face found by YuNet: the aligned crop (:mod:`bench.photos.frame`), its 68 landmarks, the
hidden region (drawn from the landmarks, or the user's mask brought into the crop), the method
on the crop, colour for a luminance model (:mod:`bench.photos.colour`), and the crop's changed
region pasted back into the photo at its own resolution through the inverse transform, with a
feathered seam. Pixels outside the pasted regions are the photo's own, bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from bench.api import Inpainter
from bench.detection import Detection, FaceDetector
from bench.landmarks import LandmarkDetector
from bench.photos.colour import feathered, is_gray, recolour
from bench.photos.frame import CROP_SIZE, align_matrix, crop_face, crop_landmarks, invert, transform
from bench.photos.region import candidate, segment, skin_reference

MIN_EYE_DISTANCE = 6.0  # px in the photo; smaller faces (a few pixels of crowd) are left as they are
PASTE_DILATE = 4  # px of the crop added around the region before the seam is feathered
PASTE_SIGMA = 2.0



@dataclass
class FaceRecord:
    """What happened to one face of a photo."""

    index: int
    box: tuple[float, float, float, float]
    score: float
    landmarks5: np.ndarray
    landmarks68: np.ndarray | None = None
    status: str = "inpainted"
    region_source: str = ""
    region_fraction: float = 0.0
    crops: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)  # input, output (aligned)

    def as_dict(self) -> dict:
        return {"face": self.index, "status": self.status, "score": round(self.score, 4),
                "box": [round(v, 1) for v in self.box],
                "landmarks5": np.round(self.landmarks5, 1).tolist(),
                "landmarks68": None if self.landmarks68 is None else np.round(self.landmarks68, 1).tolist(),
                "region_source": self.region_source, "region_fraction": round(self.region_fraction, 4)}


@dataclass
class PhotoResult:
    photo: np.ndarray
    faces: list[FaceRecord]
    gray: bool


def _eye_distance(points5: np.ndarray) -> float:
    return float(np.linalg.norm(points5[1] - points5[0]))


class PhotoInpainter:
    """Runs an inpainter on every face of a photo."""

    def __init__(self, method: Inpainter, detector: FaceDetector | None = None,
                 landmarks: LandmarkDetector | None = None, min_eye_distance: float = MIN_EYE_DISTANCE) -> None:
        self.method = method
        self.min_eye_distance = min_eye_distance
        self.detector = detector or FaceDetector()
        self.landmarks = landmarks or LandmarkDetector()
        self.luminance_only = bool(getattr(method, "luminance_only", False))

    def __call__(self, photo: np.ndarray, user_mask: np.ndarray | None = None) -> PhotoResult:
        """Inpaint a uint8 RGB ``H x W x 3`` photo; ``user_mask`` (bool ``H x W``) replaces the
        region drawn from landmarks."""
        out = photo.copy()
        records = []
        for index, face in enumerate(self.detector.detect(photo)):
            record = FaceRecord(index, face.box, face.score, face.landmarks)
            if not large_enough(face, self.min_eye_distance):
                record.status = (f"too small (eyes {_eye_distance(face.landmarks):.0f} px apart, "
                                 f"minimum {self.min_eye_distance:g})")
            else:
                self._inpaint_face(photo, out, face, record, user_mask)
            records.append(record)
        return PhotoResult(out, records, is_gray(photo))

    def _inpaint_face(self, photo: np.ndarray, out: np.ndarray, face: Detection, record: FaceRecord,
                      user_mask: np.ndarray | None) -> None:
        prepared = prepare_face(photo, face, self.landmarks, user_mask)
        record.landmarks68 = transform(prepared.landmarks68, invert(prepared.matrix))
        record.region_source, record.region_fraction = prepared.source, float(prepared.region.mean())
        crop, region = prepared.crop, prepared.region
        if not region.any():
            record.status = "no mask seen"
            record.crops = (crop, crop)
            return
        result = np.asarray(self.method(crop[None], region[None]))[0]
        if self.luminance_only:
            result = recolour_face(crop, result, region, prepared.landmarks68)
        record.crops = (crop, result)
        paste(out, result, feathered(region, PASTE_DILATE, PASTE_SIGMA), prepared.matrix)


@dataclass
class PreparedFace:
    """One face brought into the model's frame: transform, crop, its landmarks and mask region."""

    matrix: np.ndarray
    crop: np.ndarray
    landmarks68: np.ndarray  # in crop pixels
    region: np.ndarray
    source: str


def prepare_face(photo: np.ndarray, face: Detection, landmarks: LandmarkDetector,
                 user_mask: np.ndarray | None = None) -> PreparedFace:
    """Align a detected face, find its 68 landmarks and its mask region (the user's, if given)."""
    matrix = align_matrix(face.landmarks)
    crop = crop_face(photo, matrix)
    points = crop_landmarks(landmarks, crop)
    if user_mask is not None:
        region = cv2.warpAffine(user_mask.astype(np.uint8), matrix, (CROP_SIZE, CROP_SIZE),
                                flags=cv2.INTER_NEAREST, borderValue=0) > 0
        return PreparedFace(matrix, crop, points, region, "given")
    region, source = segment(crop, points)
    return PreparedFace(matrix, crop, points, region, source)


def recolour_face(crop: np.ndarray, result: np.ndarray, region: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
    """A luminance model's output with the chroma of the face's visible skin in its region."""
    skin = skin_reference(crop, landmarks68, candidate(crop, landmarks68) | region)
    return recolour(crop, result, region, None if skin is None else skin[1:])


def large_enough(face: Detection, minimum: float = MIN_EYE_DISTANCE) -> bool:
    """Whether a face is big enough to inpaint (eyes at least ``minimum`` px apart)."""
    return _eye_distance(face.landmarks) >= minimum


def paste(photo: np.ndarray, crop: np.ndarray, weight: np.ndarray, matrix: np.ndarray) -> None:
    """Blend ``crop`` (aligned by ``matrix``) into ``photo`` in place where ``weight`` > 0."""
    inverse = invert(matrix)
    height, width = photo.shape[:2]
    corners = transform(np.array([[0, 0], [CROP_SIZE, 0], [0, CROP_SIZE], [CROP_SIZE, CROP_SIZE]]), inverse)
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 1, [width, height])
    if x1 <= x0 or y1 <= y0:
        return
    local = inverse.copy()
    local[:, 2] -= (x0, y0)
    size = (int(x1 - x0), int(y1 - y0))
    content = cv2.warpAffine(crop, local, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(weight, local, size, flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    roi = photo[y0:y1, x0:x1].astype(np.float32)
    blended = alpha * content.astype(np.float32) + (1 - alpha) * roi
    photo[y0:y1, x0:x1] = np.where(alpha > 0, np.clip(np.rint(blended), 0, 255), roi).astype(np.uint8)
