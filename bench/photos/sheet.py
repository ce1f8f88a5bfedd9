"""Contact sheets: each photo before and after, side by side, for looking at many at once."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

TILE = 192  # px, the longer side of each half of a pair
COLUMNS = 4
GAP = 6


def _fit(image: np.ndarray, size: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = size / max(height, width)
    resized = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    tile = np.full((size, size, 3), 255, np.uint8)
    y, x = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    tile[y:y + resized.shape[0], x:x + resized.shape[1]] = resized
    return tile


def contact_sheet(pairs: list[tuple[str, np.ndarray, np.ndarray]], path: Path, title: str) -> None:
    """Write a grid of (caption, before, after) pairs to ``path`` (JPEG or PNG by suffix)."""
    rows = max(1, -(-len(pairs) // COLUMNS))
    cell_w, cell_h = 2 * TILE + GAP, TILE + 18
    sheet = Image.new("RGB", (COLUMNS * (cell_w + GAP) + GAP, rows * (cell_h + GAP) + 30), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((GAP, 8), title, fill="black")
    for k, (caption, before, after) in enumerate(pairs):
        x = GAP + (k % COLUMNS) * (cell_w + GAP)
        y = 30 + (k // COLUMNS) * (cell_h + GAP)
        sheet.paste(Image.fromarray(_fit(before, TILE)), (x, y))
        sheet.paste(Image.fromarray(_fit(after, TILE)), (x + TILE + GAP, y))
        draw.text((x, y + TILE + 3), caption[:60], fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=90) if path.suffix.lower() in (".jpg", ".jpeg") else sheet.save(path)


def method_grid(path: Path, captions: list[str], outputs: dict[str, np.ndarray], inputs: np.ndarray,
                tile: int = 128) -> None:
    """A grid with one row per face: the input, then each method's output, labelled above."""
    columns = ["input"] + [m for m in outputs if m != "masked"]
    images = {"input": inputs, **{m: v for m, v in outputs.items() if m != "masked"}}
    header, caption_w = 18, 150
    width = caption_w + len(columns) * (tile + GAP)
    sheet = Image.new("RGB", (width, header + len(captions) * (tile + GAP)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, name in enumerate(columns):
        draw.text((caption_w + c * (tile + GAP), 3), name[:22], fill="black")
    for r, caption in enumerate(captions):
        y = header + r * (tile + GAP)
        draw.text((3, y + tile // 2), caption[:24], fill="black")
        for c, name in enumerate(columns):
            sheet.paste(Image.fromarray(_fit(images[name][r], tile)), (caption_w + c * (tile + GAP), y))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
