"""Any folder of face images: no identities, so image metrics only (no verification pairs)."""
from __future__ import annotations

from pathlib import Path

from bench.api import BenchError, Face
from bench.data.imageio import list_images
from bench.data.lfw import PairList


class ImageFolder:
    """Every image below ``root`` (recursively), identified by its relative path."""

    name = "folder"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise BenchError(f"image folder {self.root} does not exist")
        self._faces: list[Face] | None = None

    def faces(self) -> list[Face]:
        if self._faces is None:
            ids = list_images(self.root)
            if not ids:
                raise BenchError(f"image folder {self.root}: no images found")
            self._faces = [Face(id=i, identity="", path=self.root / i) for i in ids]
        return self._faces

    def face(self, face_id: str) -> Face:
        return Face(id=face_id, identity="", path=self.root / face_id)

    def pairs(self) -> PairList:
        return PairList(pairs=[])
