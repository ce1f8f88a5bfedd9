"""Where the face mask is on a real photo's aligned face crop, with no ground truth.

1. **Candidate**: the union of the four synthetic mask styles the model was trained to remove
   (surgical, N95, KN95, cloth), drawn from the crop's 68 landmarks where they would sit on
   this face, joined with the prior of where they lie on LFW-gray's aligned faces
   (``mask_prior.npz``, ``scripts/photo_frame.py``): dlib's predictor tends to draw the jaw of a
   masked face too high, and the prior does not depend on it. The candidate is larger than most
   real masks.
2. **Colour segmentation** (colour photos): the visible skin of the upper face (between the brows
   and the candidate, eyes excluded) gives the skin's colour; candidate pixels whose YCrCb colour
   lies far from it (chroma, or a much darker or brighter luminance) are the mask. Opening,
   closing, the largest connected piece and its holes filled, then a small dilation, give the
   region. A crop where under :data:`MIN_COVER` of the candidate differs from skin shows no mask
   (an unmasked face, or a skin-coloured mask) and is left alone.
3. Gray photos have no chroma: the candidate, dilated, is the region.

The source of every region is named in the output (:data:`SOURCES`).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from bench.masks import occlude

CANDIDATE_STYLES = ("surgical", "n95", "kn95", "cloth")
CHROMA_DISTANCE = 14.0  # Cr/Cb units (0-255): beyond this a pixel is not skin
LUMA_RATIO = 0.45  # |Y - Y_skin| / Y_skin beyond this: much darker or brighter than skin (black, white masks)
MIN_COVER = 0.15
PRIOR_PATH = Path(__file__).with_name("mask_prior.npz")
DILATE = 3
SOURCES = {
    "segmented": "colour segmentation inside the landmark-drawn candidate",
    "candidate": "landmark-drawn candidate (union of the synthetic mask styles), dilated",
    "given": "the user's mask",
}


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


@lru_cache(maxsize=1)
def mask_prior() -> np.ndarray:
    """Bool 160 x 160 prior of where masks lie on aligned faces."""
    if not PRIOR_PATH.is_file():
        raise FileNotFoundError(f"{PRIOR_PATH} is missing: run scripts/photo_frame.py")
    with np.load(PRIOR_PATH, allow_pickle=False) as data:
        return data["prior"].astype(bool)


def candidate(crop: np.ndarray, landmarks68: np.ndarray, prior: bool = True) -> np.ndarray:
    """Bool region where any synthetic mask style would sit on this face (joined with the prior)."""
    region = mask_prior().copy() if prior else np.zeros(crop.shape[:2], bool)
    for style in CANDIDATE_STYLES:
        region |= occlude(crop, landmarks68, style, 0, "candidate")[1]
    return region


def skin_reference(crop: np.ndarray, landmarks68: np.ndarray, exclude: np.ndarray) -> np.ndarray | None:
    """Median YCrCb of the upper face's visible skin (brows to candidate, eyes out), or None."""
    lm = np.round(landmarks68).astype(np.int32)
    area = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillConvexPoly(area, cv2.convexHull(lm[[0, 1, 2, 14, 15, 16, *range(17, 27), 29]]), 1)
    for eye in (lm[36:42], lm[42:48]):
        cv2.fillConvexPoly(area, cv2.convexHull(eye), 0)
    area = cv2.erode(area, _disc(1)) > 0
    area &= ~cv2.dilate(exclude.astype(np.uint8), _disc(2)).astype(bool)
    brows = int(lm[17:27, 1].max()) + 2  # below the brows: skin, not hair or brows
    area[:brows] = False
    if area.sum() < 20:
        return None
    return np.median(cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb)[area].astype(np.float32), axis=0)


def segment(crop: np.ndarray, landmarks68: np.ndarray) -> tuple[np.ndarray, str]:
    """The hidden region of a colour or gray uint8 RGB crop and its source key (see SOURCES);
    an empty region means no mask was seen."""
    cand = candidate(crop, landmarks68)
    gray = bool((crop[..., 0] == crop[..., 1]).all() and (crop[..., 1] == crop[..., 2]).all())
    skin = None if gray else skin_reference(crop, landmarks68, cand)
    if skin is None:
        return cv2.dilate(cand.astype(np.uint8), _disc(DILATE)) > 0, "candidate"
    ycc = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    chroma = np.linalg.norm(ycc[..., 1:] - skin[1:], axis=-1)
    luma = np.abs(ycc[..., 0] - skin[0]) / max(float(skin[0]), 16.0)
    differs = cand & ((chroma > CHROMA_DISTANCE) | (luma > LUMA_RATIO))
    if differs.sum() < MIN_COVER * cand.sum():
        return np.zeros_like(cand), "segmented"
    mask = cv2.morphologyEx(differs.astype(np.uint8), cv2.MORPH_OPEN, _disc(1))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _disc(4))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count < 2:
        return np.zeros_like(cand), "segmented"
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    piece = (labels == largest).astype(np.uint8)
    contours, _ = cv2.findContours(piece, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(piece)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return (cv2.dilate(filled, _disc(DILATE)) > 0) & cv2.dilate(cand.astype(np.uint8), _disc(DILATE)).astype(bool), "segmented"
