"""Drawing of the face-mask occluders (surgical, N95, KN95, cloth) from 68 facial landmarks.

Every style is built in a face frame: origin between the eye centres, ``x`` along the line from
the image-left to the image-right eye centre, ``y`` down the face, unit = pixels; ``d`` is the
interocular distance and every size is a multiple of it. An outline is made of control points
taken from the landmarks (nose bridge 27-29, the cheeks below the eyes 36-47, the jaw line 0-16,
the chin 8), smoothed by corner cutting, clamped below the eyes, turned by a small angle, and
filled anti-aliased; the hull of the nose and mouth is added so that a turned face keeps them
covered. Shading is a product of smooth terms (a side light, the wrap of the mask round the face,
pleats, seams, folds) and texture noise, evaluated in float32 on the pixels near the face only,
so one occlusion of a 160x160 face costs a few milliseconds. Each style returns its layers,
``(coverage, colour)`` pairs painted in order by ``bench.masks``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import cv2
import numpy as np

_SHIFT = 4  # sub-pixel bits of cv2's anti-aliased polygon filling
_SCALE = 1 << _SHIFT

Span = tuple[float, float]
Layers = list[tuple[np.ndarray, np.ndarray]]  # (coverage h x w, colour h x w x 3 or 3), painted in order


@dataclass
class Frame:
    """The face frame and the pixel grid of the region being drawn."""

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    d: float
    local: np.ndarray  # the 68 landmarks in frame coordinates
    x0: int
    y0: int
    x: np.ndarray  # frame coordinates of every pixel of the region, h x w
    y: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.x.shape

    def to_image(self, points: np.ndarray) -> np.ndarray:
        return self.origin + points[:, :1] * self.u + points[:, 1:2] * self.v

    def jaw(self, index):
        """Points on the jaw line at fractional landmark indices 0..16 (frame coordinates)."""
        index = np.asarray(index, np.float32)
        low = np.clip(np.floor(index), 0, 15).astype(int)
        t = (index - low)[..., None]
        return self.local[low] * (1 - t) + self.local[low + 1] * t

    def fill(self, points: np.ndarray) -> np.ndarray:
        """Anti-aliased coverage (float32 0..1) of the polygon ``points`` (frame coordinates)."""
        canvas = np.zeros(self.shape, np.uint8)
        pts = np.round((self.to_image(points) - [self.x0, self.y0]) * _SCALE).astype(np.int32)
        cv2.fillPoly(canvas, [pts], 255, cv2.LINE_AA, _SHIFT)
        return canvas.astype(np.float32) * (1 / 255)

    def stroke(self, points: np.ndarray, width: float) -> np.ndarray:
        """Anti-aliased coverage of a polyline of the given width (frame coordinates)."""
        canvas = np.zeros(self.shape, np.uint8)
        pts = np.round((self.to_image(points) - [self.x0, self.y0]) * _SCALE).astype(np.int32)
        cv2.polylines(canvas, [pts], False, 255, max(1, int(round(width))), cv2.LINE_AA, _SHIFT)
        return canvas.astype(np.float32) * (1 / 255)


def make_frame(landmarks: np.ndarray, image_shape: tuple[int, int], margin: float) -> Frame:
    """Frame of a face whose drawing fits within ``margin * d`` of its landmarks (clipped to the image)."""
    left_eye, right_eye = landmarks[36:42].mean(0), landmarks[42:48].mean(0)
    d = float(np.linalg.norm(right_eye - left_eye))
    u = (right_eye - left_eye) / d
    v = np.array([-u[1], u[0]])
    origin = (left_eye + right_eye) / 2
    rel = landmarks - origin
    local = np.stack([rel @ u, rel @ v], axis=1).astype(np.float32)
    height, width = image_shape
    lo = np.floor(landmarks[:, :2].min(0) - margin * d).astype(int)
    hi = np.ceil(landmarks[:, :2].max(0) + margin * d).astype(int)
    x0, y0 = max(0, lo[0]), max(0, lo[1])
    x1, y1 = min(width, hi[0]), min(height, hi[1])
    px = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(origin[0])
    py = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(origin[1])
    x = px * np.float32(u[0]) + py * np.float32(u[1])
    y = px * np.float32(v[0]) + py * np.float32(v[1])
    return Frame(origin, u, v, d, local, x0, y0, x, y)


def smooth(points: np.ndarray, closed: bool, passes: int = 3) -> np.ndarray:
    """Chaikin corner cutting: a smooth curve inside the control polygon (ends kept if open)."""
    for _ in range(passes):
        nxt = np.roll(points, -1, axis=0) if closed else points[1:]
        cur = points if closed else points[:-1]
        q, r = 0.75 * cur + 0.25 * nxt, 0.25 * cur + 0.75 * nxt
        body = np.stack([q, r], axis=1).reshape(-1, 2)
        points = body if closed else np.vstack([points[:1], body, points[-1:]])
    return points


def rotate(points: np.ndarray, centre: np.ndarray, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    rel = points - centre
    return centre + rel @ np.array([[c, s], [-s, c]])


def below_eyes(points: np.ndarray, local: np.ndarray, d: float, margin: float = 0.06) -> np.ndarray:
    """Push curve points down so the curve passes at least ``margin * d`` below every eye landmark."""
    eyes = local[36:48]
    near = np.abs(points[:, :1] - eyes[:, 0][None, :]) < 0.2 * d
    floor = np.where(near, eyes[:, 1][None, :] + margin * d, -np.inf).max(axis=1)
    out = points.copy()
    out[:, 1] = np.maximum(out[:, 1], floor)
    return out


@dataclass
class Fit:
    """Seeded variation of how a mask sits: height on the nose, width, drop below the chin, angle."""

    nose: float  # 0 = landmark 27, 1 = landmark 29
    cheek: float  # gap below the lower eyelids, in d
    side: float  # outward margin at the sides, in d
    chin: float  # drop below the chin, in d
    corner: float  # fractional jaw index where the top edge meets the side
    angle: float  # degrees

    @classmethod
    def draw(cls, rng: np.random.Generator, nose: Span, cheek: Span, side: Span, chin: Span, corner: Span) -> "Fit":
        return cls(rng.uniform(*nose), rng.uniform(*cheek), rng.uniform(*side), rng.uniform(*chin),
                   rng.uniform(*corner), rng.uniform(-4.0, 4.0))


class Outline(NamedTuple):
    """A face mask's closed outline, its top edge (left to right) and the ends of its centre line."""

    outline: np.ndarray
    top: np.ndarray
    nose: np.ndarray
    chin: np.ndarray


def face_outline(frame: Frame, fit: Fit, inset: float = 0.0, chin_point: float = 0.0,
                 sharp: bool = False) -> Outline:
    """Closed outline (frame coordinates) over the nose, under the eyes and along the jaw.

    ``inset`` pulls the sides in (cup masks that sit on the cheeks); ``chin_point`` drops the
    bottom into a V and ``sharp`` keeps the corners at the nose and the chin (folded masks).
    """
    lm, d = frame.local, frame.d
    nose = lm[27] + fit.nose * (lm[29] - lm[27]) - [0, 0.03 * d]
    left_cheek = [lm[36:42, 0].mean() - 0.05 * d, lm[[40, 41], 1].max() + fit.cheek * d]
    right_cheek = [lm[42:48, 0].mean() + 0.05 * d, lm[[46, 47], 1].max() + fit.cheek * d]
    centre = np.array([lm[27:31, 0].mean(), lm[[30, 33, 51], 1].mean()])

    indices = np.linspace(fit.corner, 16 - fit.corner, 25)
    jaw = frame.jaw(indices)
    outward = jaw - centre
    outward /= np.linalg.norm(outward, axis=1, keepdims=True)
    chin_weight = np.exp(-((indices - 8) / 3.0) ** 2)
    push = (fit.side - inset) * (1 - chin_weight) + fit.chin * chin_weight
    jaw = jaw + outward * (push * d)[:, None]
    if chin_point:
        jaw[:, 1] += chin_point * d * np.clip(1 - np.abs(indices - 8) / 4, 0, None) ** 2

    top = np.array([jaw[0], left_cheek, nose, right_cheek, jaw[-1]])
    top = smooth(top, closed=False, passes=1 if sharp else 3)
    outline = np.vstack([top, smooth(jaw[::-1], closed=False, passes=1 if sharp else 2)[1:-1]])
    outline, top, chin = (rotate(p, nose, fit.angle) for p in (outline, top, jaw[12:13]))
    outline, top = below_eyes(outline, lm, d), below_eyes(top, lm, d)
    nose = top[np.argmin(np.abs(top[:, 0] - nose[0]))]
    return Outline(*(np.asarray(p, np.float32) for p in (outline, top, nose, chin[0])))


def face_cover(frame: Frame, outline: np.ndarray) -> np.ndarray:
    """Coverage of the outline joined with the hull of the nose tip and the mouth grown by 0.1 d,
    so that a nose or lips reaching past the jaw line in a turned face stay under the mask."""
    hull = cv2.convexHull(frame.local[np.r_[30:36, 48:68]].astype(np.float32))[:, 0, :]
    away = hull - hull.mean(0)
    hull = hull + 0.1 * frame.d * away / np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-6)
    return np.maximum(frame.fill(outline), frame.fill(below_eyes(hull, frame.local, frame.d)))


def band_coordinates(frame: Frame, top: np.ndarray, bottom_y: float) -> tuple[np.ndarray, np.ndarray]:
    """``s`` -1..1 across the mask (left to right edge of ``top``) and ``t`` 0 at the top edge, 1 at ``bottom_y``."""
    order = np.argsort(top[:, 0])
    xs, ys = top[order, 0], top[order, 1]
    top_y = np.interp(frame.x, xs, ys).astype(np.float32)
    centre, half = float(xs[0] + xs[-1]) / 2, max(float(xs[-1] - xs[0]) / 2, 1.0)
    s = (frame.x - centre) / half
    t = (frame.y - top_y) / np.maximum(float(bottom_y) - top_y, 1.0)
    return s, t


def wrap_shading(s: np.ndarray, light: float, strength: float = 0.25) -> np.ndarray:
    """Brightness of a surface curving round the face: darker towards the sides, lit from one side."""
    return (1 - strength + strength * np.sqrt(np.clip(1 - s * s, 0, 1))) * (1 + light * s)


def rim(alpha: np.ndarray, width: float, depth: float) -> np.ndarray:
    """Darkening towards the outline's edge, ``width`` pixels wide."""
    inside = (alpha > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    return 1 - depth * np.exp(-dist / max(width, 0.5))


@lru_cache(maxsize=1)
def _noise_tile() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((512, 512), dtype=np.float32)


def grain(rng: np.random.Generator, shape: tuple[int, int], fine: float, coarse: float) -> np.ndarray:
    """Multiplicative texture: per-pixel noise (a seeded window of a fixed noise tile, which is
    much cheaper than fresh noise) plus a smooth blotchy component."""
    h, w = shape
    tile = _noise_tile()
    if h <= tile.shape[0] and w <= tile.shape[1]:
        y, x = rng.integers(0, tile.shape[0] - h + 1), rng.integers(0, tile.shape[1] - w + 1)
        noise = tile[y:y + h, x:x + w]
    else:
        noise = rng.standard_normal(shape, dtype=np.float32)
    small = rng.standard_normal((max(2, h // 12), max(2, w // 12)), dtype=np.float32)
    return (1 + fine * noise) * (1 + coarse * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC))


def pick_colour(rng: np.random.Generator, palette: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    weights = np.array([w for w, _ in palette])
    colour = np.array(palette[rng.choice(len(palette), p=weights / weights.sum())][1], np.float32)
    return np.clip(colour * rng.uniform(0.93, 1.05) + rng.uniform(-6, 6, 3).astype(np.float32), 0, 255)


def ear_loops(frame: Frame, top: np.ndarray, fit: Fit, width: float) -> np.ndarray:
    """Coverage of the two elastic loops running from the mask's side corners to the ears."""
    d = frame.d
    coverage = np.zeros(frame.shape, np.float32)
    for sign, upper, index in ((-1, top[0], fit.corner + 3.5), (1, top[-1], 16 - fit.corner - 3.5)):
        lower = frame.jaw(index) + [sign * 0.05 * d, 0]
        ear = frame.jaw(1.0 if sign < 0 else 15.0) + [sign * 0.3 * d, 0.05 * d]
        loop = smooth(np.array([upper, ear - [0, 0.12 * d], ear + [0, 0.12 * d], lower]), closed=False)
        coverage = np.maximum(coverage, frame.stroke(loop, width))
    return coverage


def _line_shade(dist: np.ndarray, width: float, dark: float, light: float) -> np.ndarray:
    """A seam or crease: a dark line at ``dist == 0`` with a thin highlight beside it."""
    return (1 - dark * np.exp(-(dist / width) ** 2)) * (1 + light * np.exp(-((dist - 1.8 * width) / width) ** 2))


def surgical(frame: Frame, rng: np.random.Generator) -> Layers:
    fit = Fit.draw(rng, nose=(0.45, 0.8), cheek=(0.16, 0.28), side=(0.02, 0.07), chin=(0.1, 0.22), corner=(1.0, 1.7))
    outline, top, _, _ = face_outline(frame, fit)
    alpha = face_cover(frame, outline)
    s, t = band_coordinates(frame, top, outline[:, 1].max())
    shade = wrap_shading(s, rng.uniform(-0.12, 0.12)) * (1 - 0.12 * np.clip(t, 0, 1))
    spacing = rng.uniform(0.17, 0.21)
    folds = 0.27 + spacing * np.arange(3) + rng.uniform(-0.02, 0.02, 3)
    band = outline[:, 1].max() - top[:, 1].min()  # pixels per unit of t
    for fold in folds:
        delta = (t - fold) * band
        step = 0.5 + 0.5 * np.tanh(delta / 0.8)
        below = step * np.exp(-np.clip(delta, 0, None) / (0.3 * spacing * band))
        above = (1 - step) * np.exp(np.clip(delta, None, 0) / (0.5 * spacing * band))
        shade *= (1 - 0.2 * below - 0.15 * np.exp(-((delta - 0.6) / 0.9) ** 2)) * (1 + 0.07 * above)
    shade *= _line_shade((np.abs(s) - 0.9) * 40, 1.0, 0.12, 0.05)
    shade *= _line_shade((t - 0.1) * 60, 1.0, 0.10, 0.04)
    shade *= rim(alpha, 0.05 * frame.d, 0.2) * grain(rng, frame.shape, 0.025, 0.03)
    colour = pick_colour(rng, [(0.55, (150, 196, 226)), (0.2, (232, 236, 238)), (0.12, (156, 208, 190)),
                               (0.06, (232, 186, 200)), (0.07, (48, 50, 56))])
    loops = ear_loops(frame, top, fit, max(1.0, 0.035 * frame.d))
    loop_colour = np.clip(colour * 1.05 + 10, 0, 255)
    return [(loops, loop_colour), (alpha, shade[..., None] * colour)]


def n95(frame: Frame, rng: np.random.Generator) -> Layers:
    d = frame.d
    fit = Fit.draw(rng, nose=(0.3, 0.6), cheek=(0.14, 0.24), side=(0.0, 0.04), chin=(0.18, 0.3), corner=(1.8, 2.6))
    outline, top, nose, chin = face_outline(frame, fit, inset=rng.uniform(0.04, 0.1))
    outline = below_eyes(smooth(outline, closed=True, passes=2), frame.local, d)
    alpha = face_cover(frame, outline)
    lo, hi = outline.min(0), outline.max(0)
    centre = ((lo + hi) / 2 + [0, 0.08 * (hi[1] - lo[1])]).astype(np.float32)
    radius = ((hi - lo) / 2).astype(np.float32)
    r2 = ((frame.x - centre[0]) / radius[0]) ** 2 + ((frame.y - centre[1]) / radius[1]) ** 2
    sx = (frame.x - centre[0]) / radius[0]
    shade = (0.68 + 0.32 * np.sqrt(np.clip(1 - r2, 0, 1))) * (1 + rng.uniform(-0.12, 0.12) * sx)
    seam_x = nose[0] + (frame.y - nose[1]) * (chin[0] - nose[0]) / max(chin[1] - nose[1], 1.0)
    shade *= _line_shade(frame.x - seam_x, 0.7, 0.22, 0.08)
    shade *= rim(alpha, 0.07 * d, 0.3) * grain(rng, frame.shape, 0.03, 0.04)
    colour = pick_colour(rng, [(0.7, (238, 238, 232)), (0.1, (206, 206, 204)), (0.1, (150, 186, 222)),
                               (0.1, (196, 210, 188))])
    strap_colour = pick_colour(rng, [(0.4, (236, 236, 230)), (0.3, (226, 200, 70)), (0.3, (70, 110, 190))])
    straps = np.zeros(frame.shape, np.float32)
    for sign in (-1, 1):
        for level, index, lift in ((-0.45, 1.0, -0.15), (0.35, 4.0, 0.05)):
            target = centre + [sign * radius[0], level * radius[1]]
            attach = outline[np.argmin(np.linalg.norm(outline - target, axis=1))]
            end = frame.jaw(index if sign < 0 else 16 - index) + [sign * 0.15 * d, lift * d]
            start = attach - [sign * 0.15 * d, 0]
            path = smooth(np.array([start, (attach + end) / 2 + [0, 0.04 * d], end]), closed=False)
            straps = np.maximum(straps, frame.stroke(path, 0.06 * d))
    layers = [(straps, strap_colour), (alpha, shade[..., None] * colour)]
    if rng.random() < 0.35:
        layers.append(_valve(frame, rng, frame.local[[48, 54, 57]].mean(0) + [rng.uniform(-0.1, 0.1) * d, 0.1 * d]))
    return layers


def _valve(frame: Frame, rng: np.random.Generator, centre: np.ndarray) -> tuple:
    d, centre = frame.d, centre.astype(np.float32)
    half = rng.uniform(0.22, 0.28) * d
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float32) * [half, half * 0.85] + centre
    alpha = frame.fill(smooth(corners, closed=True, passes=4))
    dx, dy = (frame.x - centre[0]) / half, (frame.y - centre[1]) / half
    shade = (0.75 + 0.25 * np.sqrt(np.clip(1 - 0.5 * (dx * dx + dy * dy), 0, 1))) * (1 - 0.1 * dx)
    slits = (np.abs(dx) < 0.6) & (np.abs(np.sin(dy * np.pi * 2.2)) < 0.3) & (np.abs(dy) < 0.6)
    shade = np.where(slits, shade * 0.55, shade)
    colour = pick_colour(rng, [(0.4, (236, 236, 232)), (0.3, (150, 150, 156)), (0.2, (60, 64, 70)), (0.1, (90, 130, 200))])
    return alpha, shade[..., None] * colour


def kn95(frame: Frame, rng: np.random.Generator) -> Layers:
    d = frame.d
    fit = Fit.draw(rng, nose=(0.35, 0.65), cheek=(0.16, 0.26), side=(0.0, 0.05), chin=(0.15, 0.28), corner=(1.3, 2.1))
    outline, top, nose, chin = face_outline(frame, fit, inset=0.03, chin_point=rng.uniform(0.15, 0.3), sharp=True)
    alpha = face_cover(frame, outline)
    crease_x = nose[0] + (frame.y - nose[1]) * (chin[0] - nose[0]) / max(chin[1] - nose[1], 1.0)
    half = (top[-1, 0] - top[0, 0]) / 2
    across = (frame.x - crease_x) / half
    tilt, light = float(rng.uniform(0.06, 0.14) * rng.choice([-1, 1])), rng.uniform(-0.08, 0.08)
    shade = np.where(across < 0, np.float32(1 + tilt), np.float32(1 - tilt)) * (1 + light * across) * (1 - 0.18 * np.abs(across) ** 2)
    shade *= _line_shade(frame.x - crease_x, 0.8, 0.25, 0.1)
    s, t = band_coordinates(frame, top, chin[1])
    shade *= _line_shade((t - 0.12) * 50, 0.8, 0.12, 0.05)
    inside = cv2.distanceTransform((alpha > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    band = inside < 0.07 * d
    rows, cols = np.indices(frame.shape)
    emboss = ((rows // 2 + cols // 2) % 2 == 0) & band
    shade *= np.where(band, np.float32(0.94), np.float32(1)) * np.where(emboss, np.float32(0.93), np.float32(1))
    shade *= rim(alpha, 0.04 * d, 0.2) * grain(rng, frame.shape, 0.025, 0.03)
    colour = pick_colour(rng, [(0.55, (236, 236, 234)), (0.2, (40, 40, 44)), (0.1, (172, 172, 178)),
                               (0.08, (236, 188, 204)), (0.07, (152, 192, 228))])
    loops = ear_loops(frame, top, fit, max(1.0, 0.035 * d))
    return [(loops, np.clip(colour * 1.02 + 6, 0, 255)), (alpha, shade[..., None] * colour)]


_FABRICS = [(1, (30, 30, 34)), (1, (36, 46, 82)), (1, (120, 120, 126)), (1, (168, 40, 48)), (1, (204, 184, 152)),
            (1, (72, 102, 142)), (1, (100, 112, 72)), (1, (230, 228, 222)), (1, (112, 36, 52)), (1, (40, 120, 124))]


def cloth(frame: Frame, rng: np.random.Generator) -> Layers:
    d = frame.d
    fit = Fit.draw(rng, nose=(0.4, 0.75), cheek=(0.18, 0.3), side=(0.03, 0.08), chin=(0.14, 0.26), corner=(1.0, 1.7))
    outline, top, nose, chin = face_outline(frame, fit)
    alpha = face_cover(frame, outline)
    s, t = band_coordinates(frame, top, outline[:, 1].max())
    first = pick_colour(rng, _FABRICS)
    second = pick_colour(rng, _FABRICS)
    if np.abs(first - second).sum() < 120:
        second = 255 - first
    angle = float(np.radians(rng.choice([0.0, 90.0, 45.0, rng.uniform(-30, 30)])))
    px = frame.x * math.cos(angle) + frame.y * math.sin(angle)
    py = frame.y * math.cos(angle) - frame.x * math.sin(angle)
    period = rng.uniform(0.12, 0.25) * d
    pattern = rng.choice(["solid", "stripes", "dots", "checks"], p=[0.4, 0.2, 0.2, 0.2])
    fx, fy = np.mod(px / period, 1.0), np.mod(py / period, 1.0)
    if pattern == "stripes":
        mix = np.clip((np.abs(fx - 0.5) - 0.25) * period + 0.5, 0, 1)
    elif pattern == "dots":
        radius = rng.uniform(0.18, 0.3) * period
        mix = np.clip(radius - np.hypot(fx - 0.5, fy - 0.5) * period + 0.5, 0, 1)
    elif pattern == "checks":
        a = np.clip((np.abs(fx - 0.5) - 0.25) * period + 0.5, 0, 1)
        b = np.clip((np.abs(fy - 0.5) - 0.25) * period + 0.5, 0, 1)
        mix = (a + b) / 2
    else:
        mix = np.zeros(frame.shape, np.float32)
    base = first * (1 - mix[..., None]) + second * mix[..., None]
    shade = wrap_shading(s, rng.uniform(-0.12, 0.12), 0.3) * (1 - 0.1 * np.clip(t, 0, 1))
    for _ in range(3):
        k, phase, lean = rng.uniform(2.0, 4.0), rng.uniform(0, 2 * np.pi), rng.uniform(-1.5, 1.5)
        shade *= 1 + 0.05 * np.sin(2 * np.pi * k * t + lean * s + phase)
    if rng.random() < 0.5:
        seam_x = nose[0] + (frame.y - nose[1]) * (chin[0] - nose[0]) / max(chin[1] - nose[1], 1.0)
        shade *= _line_shade(frame.x - seam_x, 0.8, 0.25, 0.08)
    shade *= rim(alpha, 0.06 * d, 0.25) * grain(rng, frame.shape, 0.04, 0.04)
    loops = ear_loops(frame, top, fit, max(1.0, 0.05 * d))
    return [(loops, first * 0.9), (alpha, shade[..., None] * base)]


RENDERERS = {"surgical": surgical, "n95": n95, "kn95": kn95, "cloth": cloth}

