"""Decode images safely into uint8 RGB arrays, and write PNGs atomically.

Every decoder error is turned into a :class:`BenchError` naming the file. Images whose header
announces more than ``MAX_PIXELS`` pixels are refused before their pixels are decoded.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.api import BenchError
from bench.atomic import atomic_write

MAX_PIXELS = 40_000_000  # 40 megapixels: far above any face crop, far below a decompression bomb
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # PIL then refuses larger headers before decoding any pixel
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")


def load_rgb(path: Path | str) -> np.ndarray:
    """Read ``path`` as uint8 ``H x W x 3``: grayscale is replicated, alpha is composited on
    black, 16-bit and CMYK images are converted. Raises BenchError naming the file."""
    return decode_rgb(read_bytes(path), path)


def read_bytes(path: Path | str) -> bytes:
    """The encoded file, so it can be decoded elsewhere (another process or machine)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BenchError(f"{path}: file not found") from None
    except OSError as exc:
        raise BenchError(f"{path}: cannot read ({exc})") from None
    if not data:
        raise BenchError(f"{path}: empty file (0 bytes)")
    return data


def decode_rgb(data: bytes, path: Path | str) -> np.ndarray:
    """Decode the encoded image ``data`` read from ``path`` (named in errors), as :func:`load_rgb`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise BenchError(
                        f"{path}: {width}x{height} image exceeds the limit of {MAX_PIXELS:,} pixels"
                    )
                if width < 8 or height < 8:
                    raise BenchError(f"{path}: {width}x{height} image is too small (minimum 8x8)")
                img.load()
                return _to_rgb(img)
    except BenchError:
        raise
    except UnidentifiedImageError:
        raise BenchError(f"{path}: not a readable image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BenchError(f"{path}: image exceeds the limit of {MAX_PIXELS:,} pixels ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BenchError(f"{path}: cannot decode image ({exc})") from None


def _to_rgb(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        data = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if data.max() > 255 else 255.0
        gray = np.clip(np.round(data / peak * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if img.mode == "F":
        gray = np.clip(np.round(np.asarray(img, dtype=np.float64)), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def save_png(path: Path | str, image: np.ndarray) -> None:
    """Write a uint8 image (H x W x 3, or H x W for masks) as PNG, atomically."""
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    atomic_write(Path(path), lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))


def list_images(root: Path) -> list[str]:
    """Relative posix paths of every image below ``root``, sorted."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and "/." not in "/" + p.relative_to(root).as_posix()
    )
