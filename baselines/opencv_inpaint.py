"""Classical diffusion inpainting from OpenCV: Telea's fast marching and Navier-Stokes."""
from __future__ import annotations

import cv2
import numpy as np

from bench.api import Inpainter


class _OpenCVInpainter(Inpainter):
    flag: int = cv2.INPAINT_TELEA

    def __init__(self, radius: int = 5) -> None:
        if radius < 1:
            raise ValueError("radius must be at least 1")
        self.radius = int(radius)

    def __call__(self, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        out = np.empty_like(images)
        for i, (image, mask) in enumerate(zip(images, masks)):
            out[i] = cv2.inpaint(image, mask.astype(np.uint8) * 255, self.radius, self.flag)
        return out

    def describe(self) -> dict:
        return {"radius": self.radius, "opencv": cv2.__version__}


class Telea(_OpenCVInpainter):
    """Telea (2004), fast marching: ``cv2.inpaint(..., cv2.INPAINT_TELEA)``."""

    name = "telea"
    flag = cv2.INPAINT_TELEA


class NavierStokes(_OpenCVInpainter):
    """Bertalmio et al. (2001), fluid dynamics: ``cv2.inpaint(..., cv2.INPAINT_NS)``."""

    name = "navier-stokes"
    flag = cv2.INPAINT_NS
