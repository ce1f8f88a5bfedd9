"""What a run records about itself in run.json: versions, git revision, conventions, memory."""
from __future__ import annotations

import platform
import resource
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("masked-face-bench", "torch", "torchvision", "numpy", "opencv-python-headless", "dlib-bin",
            "onnxruntime", "lpips", "pytorch-fid", "scikit-image", "scikit-learn", "pandas", "pillow")

CONVENTIONS = {
    "images": "uint8 RGB; grayscale LFW replicated to 3 channels; masks True where hidden",
    "psnr/ssim": "whole image, data_range 255, PSNR capped at 100 dB; SSIM with Wang et al.'s conventions (11x11 Gaussian window, sigma 1.5, population covariance), mean of the 3 channels",
    "psnr-mask/l1-mask": "computed over hidden pixels only; L1 on the [0, 1] intensity scale; an image with an empty mask is left out and counted",
    "lpips": "lpips package v0.1 linear heads, inputs scaled to [-1, 1], whole image",
    "fid/kid": "pytorch-fid InceptionV3 pool3 (2048-d), bilinear resize to 299; each method's outputs against the clean originals of the same faces; KID: unbiased MMD^2, cubic polynomial kernel",
    "verification": "gallery = clean image of the pair's first face, probe = the condition of its second face; landmarks from the clean original; 10 folds, threshold chosen on the other 9 (insightface LFW protocol); pairs.txt folds when the run covers all 10, otherwise folds stratified by same/different",
    "intervals": "95% percentile bootstrap of the mean over images (image metrics); mean +- 1.96 std/sqrt(10) over folds (accuracy)",
    "bins": "mask area = fraction of image pixels hidden; verification accuracy per bin uses the median of the fold thresholds",
}


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def git_revision() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if rev.returncode != 0:
        return "unknown"
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def peak_memory_mb() -> float:
    """Peak resident memory of this process, in MB (Linux reports ru_maxrss in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
