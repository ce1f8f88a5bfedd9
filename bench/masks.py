"""Synthetic occlusions of faces: face masks drawn from 68 landmarks, boxes and free-form strokes.

Styles (:data:`STYLES`):

- ``surgical``: light blue / white / green / pink / black pleated mask with three horizontal
  pleats, side hems, a nose-wire hem and elastic ear loops.
- ``n95``: white (sometimes grey, blue or green) cup with dome shading, a vertical centre
  seam and two head straps on each side; an exhalation valve in about a third of cases.
- ``kn95``: folded mask with a vertical centre crease (two differently lit panels), a pointed
  top and bottom, an embossed heat-sealed border and ear loops.
- ``cloth``: fabric mask in a solid colour (40%) or with stripes, dots or checks (20% each),
  soft folds, sometimes a centre seam, and fabric ear loops.
- ``box``: an axis-aligned rectangle in one flat colour over the lower face, centred between
  the nose bridge (landmark 29) and the chin (8) with a jitter of up to 0.15 interocular
  distances, 75-105% of the jaw's width (landmarks 1-15) and 80-110% of the nose-to-chin height.
- ``free-form``: 2-4 thick random strokes in one flat colour as in free-form inpainting papers:
  each starts inside the landmarks' bounding box, has 4-9 vertices with turns of up to 90
  degrees, segments of 6-20% and a width of 6-12% of the image's longer side (clipped to the
  image).

The face masks cover the nose from the bridge (between landmarks 27 and 29) to below the chin
(landmark 8) along the jaw line (landmarks 1-15), include the nose tip, nostrils and lips
(with a margin of 0.1 interocular distances, for turned faces whose nose passes the jaw line),
and pass at least 0.06 interocular distances below every eye landmark; when the two conflict
(a face tilted far back, nose tip level with the lower eyelids: 4 of 12,794 LFW-gray images)
the eyes stay free. Fit (height on the nose,
width, drop below the chin), colour and angle (up to 4 degrees) vary with the seed. The mask's
brightness follows the photo's light: darker in a dim photo, and following its slow falloff
across the face. Drawing is in ``bench.mask_styles``.

Every result is a pure function of ``(image, landmarks, style, seed, image_id)``: the random
generator is seeded from a SHA-256 of ``image_id``, ``style`` and ``seed``. When the image is
grayscale (all three channels equal) the occluder is drawn in gray (its luminance) so that the
result stays grayscale. The returned mask is exactly the set of pixels that differ from the
input: edges are anti-aliased inside the mask only, and an occluder pixel that happens to round
to the photo's value is moved by one gray level.

Masked fraction of the image on LFW-gray (160x160; all 12,794 images with seeds 0 and 1,
measured with ``python scripts/landmark_rate.py $BENCH_DATA/lfw-gray --mask-stats [--seed 1]``)
and :data:`AREA_RANGE`, the range the tests hold every occlusion of an LFW-gray face to (the
measured extremes widened a little):

=========  =====  ======  =====  ==================
style      min    median  max    documented range
=========  =====  ======  =====  ==================
surgical   0.236  0.396   0.649  0.20 - 0.70
n95        0.230  0.370   0.626  0.20 - 0.70
kn95       0.242  0.385   0.635  0.20 - 0.70
cloth      0.245  0.404   0.634  0.20 - 0.70
box        0.149  0.333   0.717  0.12 - 0.80
free-form  0.016  0.178   0.414  0.005 - 0.50
=========  =====  ======  =====  ==================
"""
from __future__ import annotations

import hashlib

import cv2
import numpy as np

from bench.api import BenchError
from bench.mask_styles import RENDERERS, make_frame, pick_colour

STYLES = ("surgical", "n95", "kn95", "cloth", "box", "free-form")

AREA_RANGE = {
    "surgical": (0.20, 0.70),
    "n95": (0.20, 0.70),
    "kn95": (0.20, 0.70),
    "cloth": (0.20, 0.70),
    "box": (0.12, 0.80),
    "free-form": (0.005, 0.50),
}

_FLAT_COLOURS = [(1, (255, 255, 255)), (1, (0, 0, 0)), (1, (128, 128, 128)), (1, (200, 60, 60)),
                 (1, (60, 160, 80)), (1, (60, 90, 200)), (1, (230, 200, 60))]
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def rng_for(image_id: str, style: str, seed: int) -> np.random.Generator:
    """The random generator of one occlusion, from a stable hash of its identity."""
    digest = hashlib.sha256(f"{image_id}\0{style}\0{int(seed)}".encode("utf-8", "surrogatepass")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def occlude(image: np.ndarray, landmarks: np.ndarray, style: str, seed: int, image_id: str) -> tuple[np.ndarray, np.ndarray]:
    """Occlude one uint8 ``H x W x 3`` face; returns the occluded image and the bool ``H x W`` mask."""
    image, landmarks = _check(image, landmarks, style, image_id)
    rng = rng_for(image_id, style, seed)
    if style in RENDERERS:
        frame = make_frame(landmarks, image.shape[:2], margin=1.0)
        if min(frame.shape) == 0:  # the face lies wholly outside the image
            return image.copy(), np.zeros(image.shape[:2], bool)
        region = (slice(frame.y0, frame.y0 + frame.shape[0]), slice(frame.x0, frame.x0 + frame.shape[1]))
        layers = RENDERERS[style](frame, rng)
        body = max(layers, key=lambda layer: float(layer[0].sum()))[0]
        light = _relight(image[region], body)
    else:
        region = (slice(None), slice(None))
        shape = image.shape[:2]
        cover = _box(landmarks, shape, rng) if style == "box" else _free_form(landmarks, shape, rng)
        layers = [(cover, pick_colour(rng, _FLAT_COLOURS))]
        light = None
    out = image.copy()
    mask = np.zeros(image.shape[:2], bool)
    out[region], mask[region] = _composite(image[region], layers, light, _is_gray(image))
    return out, mask


def occlude_batch(images, landmarks: np.ndarray, style: str, seed: int, image_ids) -> tuple[np.ndarray, np.ndarray]:
    """:func:`occlude` over a batch: ``N x H x W x 3`` uint8 images and ``N x H x W`` bool masks."""
    if len(images) != len(landmarks) or len(images) != len(image_ids):
        raise BenchError(
            f"occlude_batch: {len(images)} images, {len(landmarks)} landmark sets and {len(image_ids)} ids differ"
        )
    if len({np.shape(image) for image in images}) > 1:
        raise BenchError("occlude_batch: images of different sizes; call occlude() on each")
    results = [occlude(im, lm, style, seed, i) for im, lm, i in zip(images, landmarks, image_ids)]
    if not results:
        return np.zeros((0, 0, 0, 3), np.uint8), np.zeros((0, 0, 0), bool)
    return np.stack([r[0] for r in results]), np.stack([r[1] for r in results])


def _check(image: np.ndarray, landmarks: np.ndarray, style: str, image_id: str) -> tuple[np.ndarray, np.ndarray]:
    if style not in STYLES:
        raise BenchError(f"unknown mask style {style!r}; known: {', '.join(STYLES)}")
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise BenchError(f"{image_id}: expected a uint8 H x W x 3 image, got {image.dtype} {image.shape}")
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (68, 2) or not np.isfinite(landmarks).all():
        raise BenchError(f"{image_id}: expected finite 68 x 2 landmarks, got shape {landmarks.shape}")
    if np.linalg.norm(landmarks[36:42].mean(0) - landmarks[42:48].mean(0)) < 2:
        raise BenchError(f"{image_id}: degenerate landmarks (the eyes coincide)")
    return image, landmarks


def _relight(photo: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Brightness factor that puts the mask in the photo's light: darker in a dim photo, and
    following the photo's slow left-right and up-down light falloff over the covered region."""
    luma = photo.astype(np.float32) @ _LUMA
    h, w = luma.shape
    covered = cover > 0.5
    if not covered.any():
        return np.ones((h, w), np.float32)
    mean = float(luma[covered].mean())
    coarse = cv2.resize(cv2.resize(luma, (4, 4), interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_LINEAR)
    local = np.clip(coarse / max(mean, 1.0), 0.7, 1.3) ** 0.4
    return np.float32(np.clip(mean / 120.0, 0.55, 1.1) ** 0.35) * local


def _is_gray(image: np.ndarray) -> bool:
    return bool(np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0], image[..., 2]))


def _composite(photo: np.ndarray, layers: list, light: np.ndarray | None, gray: bool) -> tuple[np.ndarray, np.ndarray]:
    """Paint the layers (coverage, colour) over ``photo`` in order, colours scaled by ``light``;
    the mask is where any layer covers. ``gray``: paint the occluder's luminance only."""
    cover = np.zeros(photo.shape[:2], np.float32)
    for alpha, _ in layers:
        cover += alpha * (1 - cover)
    mask = cover > 0
    out = photo.copy()
    if not mask.any():
        return out, mask
    x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))
    box = (slice(y, y + h), slice(x, x + w))
    paint = np.zeros((h, w, 1 if gray else 3), np.float32)
    for alpha, colour in layers:
        colour = np.asarray(colour, np.float32)
        colour = colour[box] if colour.ndim == 3 else colour
        if gray:
            colour = (colour @ _LUMA)[..., None]
        a = alpha[box][..., None]
        paint += (colour - paint) * a
    if light is not None:
        paint *= light[box][..., None]
    crop = photo[box]
    mixed = crop.astype(np.float32) * (1 - cover[box][..., None]) + paint
    painted = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    inside = mask[box]
    same = inside & (painted == crop).all(axis=2)
    if same.any():
        painted[same] = _nudge(crop[same], gray)
    out[box] = np.where(inside[..., None], painted, crop)
    return out, mask


def _nudge(pixels: np.ndarray, gray: bool) -> np.ndarray:
    """Move pixels by one level (all channels of a gray pixel, else the first channel)."""
    step = np.where(pixels < 255, 1, -1).astype(np.int16)
    if not gray:
        step[:, 1:] = 0
    return (pixels.astype(np.int16) + step).astype(np.uint8)


def _box(landmarks: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    d = np.linalg.norm(landmarks[36:42].mean(0) - landmarks[42:48].mean(0))
    centre = (landmarks[29] + landmarks[8]) / 2 + rng.uniform(-0.15, 0.15, 2) * d
    width = np.linalg.norm(landmarks[15] - landmarks[1]) * rng.uniform(0.75, 1.05)
    height = np.linalg.norm(landmarks[8] - landmarks[29]) * rng.uniform(0.8, 1.1)
    x0, x1 = np.rint(centre[0] + np.array([-0.5, 0.5]) * width).astype(int)
    y0, y1 = np.rint(centre[1] + np.array([-0.5, 0.5]) * height).astype(int)
    cover = np.zeros(shape, np.float32)
    cover[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = 1
    return cover


def _free_form(landmarks: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    canvas = np.zeros(shape, np.uint8)
    size = max(shape)
    lo, hi = landmarks.min(0), landmarks.max(0)
    for _ in range(rng.integers(2, 5)):
        point = rng.uniform(lo, hi)
        width = int(round(rng.uniform(0.06, 0.12) * size))
        heading = rng.uniform(0, 2 * np.pi)
        for _ in range(rng.integers(4, 10)):
            heading += rng.uniform(-np.pi / 2, np.pi / 2)
            step = rng.uniform(0.06, 0.2) * size
            nxt = np.clip(point + step * np.array([np.cos(heading), np.sin(heading)]), 0, [shape[1] - 1, shape[0] - 1])
            a, b = np.rint(point).astype(int), np.rint(nxt).astype(int)
            cv2.line(canvas, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1, width)
            cv2.circle(canvas, (int(b[0]), int(b[1])), width // 2, 1, -1)
            point = nxt
    return canvas.astype(np.float32)
