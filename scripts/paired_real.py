"""Compare two methods of a real-mask protocol run on the same faces, with paired intervals.

    python scripts/paired_real.py results/real_masked_heldout "pilot: synthetic masks only" "pilot: + real masked faces"

Reads the cached Inception features and HOG flags of each method (``cache/methods/*.npz``) and of
the clean reference (``cache/reference.npz``). KID difference (B - A): a bootstrap over the faces,
the same resampled faces for both methods each round (500 rounds), against the whole reference
set; the interval is the 2.5 and 97.5 percentiles. HOG: the faces found by one method only
(discordant pairs) and McNemar's exact two-sided p-value.
"""
from __future__ import annotations

import argparse
from math import comb
from pathlib import Path

import numpy as np

from bench.metrics.fid import kernel_inception_distance
from bench.photos.evaluate import method_cache


def load(run: Path, label: str) -> dict[str, np.ndarray]:
    path = method_cache(run, label)
    if not path.is_file():
        raise SystemExit(f"{path} not found: run the protocol with method {label!r} first")
    with np.load(path) as data:
        return {k: data[k] for k in ("features", "hog")}


def mcnemar(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value for the discordant counts."""
    n, k = only_a + only_b, min(only_a, only_b)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    with np.load(args.run / "cache" / "reference.npz") as data:
        reference = data["features"]
    a, b = load(args.run, args.a), load(args.run, args.b)
    n = len(a["features"])

    def kid(features: np.ndarray) -> float:
        return kernel_inception_distance(reference, features, subsets=20)[0]

    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(args.rounds):
        pick = rng.integers(n, size=n)
        diffs.append(kid(b["features"][pick]) - kid(a["features"][pick]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    print(f"{n} faces; KID {args.a}: {kid(a['features']):.4f}, {args.b}: {kid(b['features']):.4f}; "
          f"B - A = {kid(b['features']) - kid(a['features']):+.4f}, 95% paired bootstrap [{low:+.4f}, {high:+.4f}]")
    only_a, only_b = int((a["hog"] & ~b["hog"]).sum()), int((b["hog"] & ~a["hog"]).sum())
    print(f"HOG: {a['hog'].mean():.1%} -> {b['hog'].mean():.1%}; found by A only {only_a}, by B only {only_b}; "
          f"McNemar exact p = {mcnemar(only_a, only_b):.3f}")


if __name__ == "__main__":
    main()
