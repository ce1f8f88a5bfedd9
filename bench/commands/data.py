"""``bench data check DIR`` validates a dataset layout; ``bench data fetch`` downloads one.

Downloads use torchvision's dataset code (official URLs, md5-checked archives). Where the
source cannot be reached the command fails within seconds and says how to place the data by hand.
"""
from __future__ import annotations

import argparse
import socket
from pathlib import Path
from urllib.parse import urlparse

from bench.api import BenchError
from bench.data.celeba import REQUIRED as CELEBA_REQUIRED
from bench.data.celeba import CelebA
from bench.data.folder import ImageFolder
from bench.data.lfw import LFW, PAIR_FILES

LFW_URL = "http://vis-www.cs.umass.edu/lfw/"
CELEBA_URL = "https://drive.google.com/drive/folders/0B7EVK8r0v71pWEZsZE9oNnFzTm8"
MANUAL = {
    "lfw": (
        "download lfw.tgz (or lfw-deepfunneled.tgz) and pairs.txt, pairsDevTrain.txt, pairsDevTest.txt, people.txt "
        f"from {LFW_URL}, unpack so that DIR/<Name>/<Name>_0001.jpg exist, and put the .txt files in DIR"
    ),
    "celeba": (
        f"download img_align_celeba.zip, list_eval_partition.txt, identity_CelebA.txt and "
        f"list_landmarks_align_celeba.txt from {CELEBA_URL} and unpack them into DIR"
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate a dataset folder and print counts, missing files and checksums")
    check.add_argument("dir", type=Path)
    fetch = sub.add_parser("fetch", help="download LFW or CelebA from the official sources")
    fetch.add_argument("dataset", choices=sorted(MANUAL))
    fetch.add_argument("--to", type=Path, required=True, help="destination folder")
    fetch.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the source to answer")


def run(args: argparse.Namespace) -> int:
    return check(args.dir) if args.data_command == "check" else fetch(args.dataset, args.to, args.timeout)


def _kind(root: Path) -> str:
    if all((root / name).exists() for name in CELEBA_REQUIRED[:1]):
        return "celeba"
    if any((root / f).is_file() or (root.parent / f).is_file() for f in PAIR_FILES.values()):
        return "lfw"
    return "folder"


def check(root: Path) -> int:
    """Print what the folder holds; exit 1 if a protocol file is missing or does not match."""
    if not root.is_dir():
        raise BenchError(f"{root} is not a folder")
    kind = _kind(root)
    problems = 0
    if kind == "lfw":
        lfw = LFW(root)
        faces = lfw.faces()
        print(f"{root}: LFW layout, {len(faces)} images of {len({f.identity for f in faces})} people")
        for filename, status in lfw.checksums().items():
            print(f"  {filename:<20} {status}")
            problems += status == "mismatch" or (status == "missing" and filename == "pairs.txt")
        for which in PAIR_FILES:
            try:
                result = lfw.pairs(which)
            except BenchError as exc:
                print(f"  {which}: {exc}")
                continue
            print(f"  {which}: {len(result.pairs)} usable pairs, {result.skipped} skipped (images missing)"
                  + (f", {result.duplicates} duplicated" if result.duplicates else ""))
            for example in result.skipped_examples[:3]:
                print(f"    missing: {example}")
    elif kind == "celeba":
        for split in ("train", "valid", "test"):
            try:
                print(f"  {split}: {len(CelebA(root, split).faces())} images present")
            except BenchError as exc:
                print(f"  {split}: {exc}")
                problems += split == "test"  # the benchmark evaluates the test split
    else:
        print(f"{root}: image folder, {len(ImageFolder(root).faces())} images (no identities: image metrics only)")
    return 1 if problems else 0


def _reachable(url: str, timeout: float) -> bool:
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def fetch(dataset: str, dest: Path, timeout: float) -> int:
    url = LFW_URL if dataset == "lfw" else CELEBA_URL
    if not _reachable(url, timeout):
        raise BenchError(f"cannot reach {urlparse(url).hostname} within {timeout:.0f} s. To place {dataset} by hand: {MANUAL[dataset]}")
    dest.mkdir(parents=True, exist_ok=True)
    import torchvision.datasets as tvd

    try:
        if dataset == "lfw":
            for split in ("10fold", "train", "test"):
                tvd.LFWPairs(str(dest), split=split, image_set="original", download=True)
            print(f"LFW is in {dest / 'lfw-py'}; point a protocol's dataset.root at {dest / 'lfw-py' / 'lfw'}")
        else:
            tvd.CelebA(str(dest), split="all", target_type="identity", download=True)
            print(f"CelebA is in {dest / 'celeba'}")
    except Exception as exc:
        raise BenchError(f"download of {dataset} failed ({exc}). To place it by hand: {MANUAL[dataset]}") from exc
    return 0
