"""A folder of photos through :class:`~bench.photos.pipeline.PhotoInpainter`: outputs under the
same relative paths, a record of every face (``faces.csv``, ``faces.json``) and a contact sheet.
Unreadable files and photos without a face are counted and listed, never fatal."""
from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image
from tqdm import tqdm

from bench.api import BenchError
from bench.atomic import atomic_write, write_json, write_text
from bench.data.imageio import load_rgb, save_png
from bench.occlusion_folder import load_mask
from bench.photos.pipeline import PhotoInpainter
from bench.photos.region import SOURCES
from bench.photos.sheet import contact_sheet

SHEET_FACES = 64
CSV_FIELDS = ["photo", "face", "status", "score", "box_x", "box_y", "box_w", "box_h", "region_source", "region_fraction"]


@dataclass
class FolderSummary:
    photos: int = 0
    unreadable: list[str] = field(default_factory=list)
    without_face: list[str] = field(default_factory=list)
    faces: Counter = field(default_factory=Counter)  # face status -> count

    def lines(self) -> list[str]:
        found = sum(self.faces.values())
        read = self.photos - len(self.unreadable)
        out = [f"photos: {self.photos}  read: {read}  unreadable: {len(self.unreadable)}  "
               f"with a face: {read - len(self.without_face)}  without a face: {len(self.without_face)}",
               f"faces found: {found}  " + "  ".join(f"{status}: {n}" for status, n in sorted(self.faces.items()))]
        out += [f"  unreadable: {message}" for message in self.unreadable]
        return out


def _save_photo(path: Path, image: np.ndarray) -> None:
    if path.suffix.lower() in (".jpg", ".jpeg"):
        def write(tmp: Path) -> None:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="JPEG", quality=95)
            tmp.write_bytes(buffer.getvalue())
        atomic_write(path, write)
    else:
        save_png(path, image)


def _status_key(status: str) -> str:
    return status.split(" (")[0]


def inpaint_folder(pipeline: PhotoInpainter, in_dir: Path, out_dir: Path, photo_ids: list[str],
                   masks_dir: Path | None = None, sheet: Path | None = None, label: str = "") -> FolderSummary:
    """Process ``photo_ids`` (relative paths below ``in_dir``); returns the counts."""
    summary = FolderSummary(photos=len(photo_ids))
    rows, records, sheet_pairs = [], [], []
    for photo_id in tqdm(photo_ids, desc=f"inpaint {label}".strip(), unit="photo", file=sys.stderr, disable=None):
        try:
            photo = load_rgb(in_dir / photo_id)
            user_mask = None
            if masks_dir is not None:
                mask_file = masks_dir / PurePosixPath(photo_id).with_suffix(".png")
                user_mask = load_mask(mask_file)
                if user_mask.shape != photo.shape[:2]:
                    raise BenchError(f"{mask_file}: mask is {user_mask.shape[1]}x{user_mask.shape[0]}, "
                                     f"the photo is {photo.shape[1]}x{photo.shape[0]}")
        except BenchError as exc:
            summary.unreadable.append(str(exc))
            records.append({"photo": photo_id, "status": f"unreadable: {exc}", "faces": []})
            continue
        result = pipeline(photo, user_mask)
        _save_photo(out_dir / photo_id, result.photo)
        if not result.faces:
            summary.without_face.append(photo_id)
        for face in result.faces:
            summary.faces[_status_key(face.status)] += 1
            x, y, w, h = face.box
            rows.append({"photo": photo_id, "face": face.index, "status": face.status, "score": f"{face.score:.4f}",
                         "box_x": f"{x:.1f}", "box_y": f"{y:.1f}", "box_w": f"{w:.1f}", "box_h": f"{h:.1f}",
                         "region_source": face.region_source, "region_fraction": f"{face.region_fraction:.4f}"})
            if face.status == "inpainted" and face.crops is not None:
                sheet_pairs.append((f"{photo_id} #{face.index}", *face.crops))
        records.append({"photo": photo_id, "status": "no face found" if not result.faces else "done",
                        "gray": result.gray, "faces": [face.as_dict() for face in result.faces]})
    _write_records(out_dir, rows, records, pipeline)
    if sheet is not None:
        chosen = _spread(sheet_pairs, SHEET_FACES)
        contact_sheet(chosen, sheet, f"{label}: {len(chosen)} of {len(sheet_pairs)} inpainted faces, aligned crops "
                                     "(before | after)")
    return summary


def _spread(items: list, count: int) -> list:
    """Up to ``count`` items evenly spaced over the list, in order."""
    if len(items) <= count:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def _write_records(out_dir: Path, rows: list[dict], records: list[dict], pipeline: PhotoInpainter) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out_dir / "faces.csv", buffer.getvalue())
    write_json(out_dir / "faces.json", {
        "method": pipeline.method.describe(),
        "luminance_only": pipeline.luminance_only,
        "region_sources": SOURCES,
        "photos": records,
    })
