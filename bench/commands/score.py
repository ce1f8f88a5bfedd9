"""``bench score REF_DIR CAND_DIR``: score a folder of candidate images against a folder of references.

Files are paired by relative path without the extension (``a/b.jpg`` pairs with ``a/b.png``);
masks (``--masks``) are binary PNGs at the same relative path, non-zero = hidden. Every pair
must have the same size. Missing counterparts, size mismatches and unreadable files are
listed in one error, or skipped and counted with ``--skip-bad``. Image metrics give one value
per pair and their mean; set metrics (FID, KID) compare the two sets and give the mean and n.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from bench import registry
from bench.api import BenchError, ImageMetric, SetMetric
from bench.atomic import write_json
from bench.data.imageio import list_images, load_rgb
from bench.occlusion_folder import load_mask

DEFAULT_METRICS = ("psnr", "ssim", "lpips", "fid", "kid")
MASK_METRICS = ("psnr-mask", "l1-mask")
MAX_LISTED = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reference", metavar="REF_DIR", type=Path, help="folder of reference images")
    parser.add_argument("candidate", metavar="CAND_DIR", type=Path, help="folder of candidate images (same relative paths)")
    parser.add_argument("--masks", type=Path, help="folder of binary PNG masks (non-zero = hidden) at the same relative paths")
    parser.add_argument("--metrics", help=f"comma-separated metric names (default: {','.join(DEFAULT_METRICS)}"
                                          f", plus {','.join(MASK_METRICS)} when --masks is given)")
    parser.add_argument("--json", type=Path, help="write {metric: {mean, n, per_image}} to this file")
    parser.add_argument("--skip-bad", action="store_true", help="skip and count bad pairs instead of failing")
    parser.add_argument("--batch-size", type=int, default=32, help="images per batch (default 32)")


@dataclass
class Pairing:
    """Matched relative paths and the problems found while matching."""

    pairs: list[tuple[str, Path, Path, Path | None]] = field(default_factory=list)  # key, ref, cand, mask
    problems: dict[str, list[str]] = field(default_factory=dict)  # kind -> descriptions

    def add_problem(self, kind: str, text: str) -> None:
        self.problems.setdefault(kind, []).append(text)


def _by_stem(root: Path, label: str, pairing: Pairing) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for rel in list_images(root):
        key = rel.rsplit(".", 1)[0]
        if key in files:
            pairing.add_problem("ambiguous", f"{label} {key}: both {files[key].name} and {Path(rel).name}")
            continue
        files[key] = root / rel
    return files


def _size(path: Path) -> tuple[int, int] | None:
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, SyntaxError, ValueError):
        return None


def match_folders(ref_dir: Path, cand_dir: Path, mask_dir: Path | None) -> Pairing:
    """Pair files by relative path without extension and check sizes from the file headers."""
    for label, folder in (("REF_DIR", ref_dir), ("CAND_DIR", cand_dir), ("--masks", mask_dir)):
        if folder is not None and not folder.is_dir():
            raise BenchError(f"{label} {folder} is not a folder")
    pairing = Pairing()
    refs = _by_stem(ref_dir, "reference", pairing)
    cands = _by_stem(cand_dir, "candidate", pairing)
    masks = _by_stem(mask_dir, "mask", pairing) if mask_dir is not None else {}
    if not refs:
        raise BenchError(f"REF_DIR {ref_dir} holds no images")
    for key in sorted(set(cands) - set(refs)):
        pairing.add_problem("no reference", f"{cands[key]}")
    for key in sorted(refs):
        if key not in cands:
            pairing.add_problem("no candidate", f"{refs[key]}")
            continue
        if mask_dir is not None and key not in masks:
            pairing.add_problem("no mask", f"{mask_dir / key}.png")
            continue
        files = [refs[key], cands[key]] + ([masks[key]] if mask_dir is not None else [])
        sizes = [_size(f) for f in files]
        bad = [f for f, s in zip(files, sizes) if s is None]
        if bad:
            pairing.add_problem("unreadable", ", ".join(str(f) for f in bad))
        elif len(set(sizes)) > 1:
            pairing.add_problem("size mismatch", ", ".join(f"{f} {s[0]}x{s[1]}" for f, s in zip(files, sizes)))
        else:
            pairing.pairs.append((key, refs[key], cands[key], masks.get(key)))
    return pairing


def _describe(problems: dict[str, list[str]]) -> str:
    lines = []
    for kind, items in problems.items():
        lines.append(f"{kind} ({len(items)}):")
        lines += [f"  {item}" for item in items[:MAX_LISTED]]
        if len(items) > MAX_LISTED:
            lines.append(f"  ... and {len(items) - MAX_LISTED} more")
    return "\n".join(lines)


def _metric_names(text: str | None, with_masks: bool) -> list[str]:
    if text is None:
        return list(DEFAULT_METRICS) + (list(MASK_METRICS) if with_masks else [])
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise BenchError("--metrics is empty")
    return list(dict.fromkeys(names))


def build_metrics(names: list[str], with_masks: bool, log) -> dict[str, ImageMetric | SetMetric]:
    classes = {name: registry.resolve("metric", name) for name in names}
    for name, cls in classes.items():
        if getattr(cls, "region", "full") == "mask" and not with_masks:
            raise BenchError(f"metric {name!r} scores the hidden region only: give --masks DIR")
    assets = sorted({a for cls in classes.values() for a in getattr(cls, "assets", ())})
    if assets:
        from bench.assets import require

        require(assets, log=log)
    metrics = {name: registry.create("metric", name) for name in names}
    for name, metric in metrics.items():
        if not isinstance(metric, (ImageMetric, SetMetric)):
            raise BenchError(f"metric {name!r} is neither an ImageMetric nor a SetMetric")
    return metrics


def score_pairs(pairing: Pairing, metrics: dict, batch_size: int, skip_bad: bool) -> tuple[dict, dict[str, list[str]]]:
    """Score every pair; returns the results and the pairs that could not be decoded."""
    image_metrics = {k: m for k, m in metrics.items() if isinstance(m, ImageMetric)}
    set_metrics = {k: m for k, m in metrics.items() if isinstance(m, SetMetric)}
    extractors = {}
    for metric in set_metrics.values():
        extractors.setdefault(metric.feature_key, metric)
    per_image: dict[str, dict[str, float]] = {name: {} for name in image_metrics}
    features: dict[str, tuple[list, list]] = {key: ([], []) for key in extractors}
    failed: dict[str, list[str]] = {}
    batch: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []

    def flush() -> None:
        if not batch:
            return
        keys = [b[0] for b in batch]
        ref, cand, masks = (np.stack([b[i] for b in batch]) for i in (1, 2, 3))
        for name, metric in image_metrics.items():
            values = np.asarray(metric.per_image(ref, cand, masks), dtype=np.float64)
            per_image[name].update(zip(keys, values.tolist()))
        for key, extractor in extractors.items():
            features[key][0].append(extractor.features(ref))
            features[key][1].append(extractor.features(cand))
        batch.clear()

    progress = tqdm(pairing.pairs, desc="bench score", unit="pair", disable=not sys.stderr.isatty(), file=sys.stderr)
    for key, ref_path, cand_path, mask_path in progress:
        try:
            ref, cand = load_rgb(ref_path), load_rgb(cand_path)
            mask = load_mask(mask_path) if mask_path is not None else np.zeros(ref.shape[:2], bool)
        except BenchError as exc:
            failed.setdefault("unreadable", []).append(str(exc))
            continue
        if failed and not skip_bad:
            continue  # keep scanning to list every bad file, but stop scoring
        if batch and (batch[0][1].shape != ref.shape or len(batch) >= batch_size):
            flush()
        batch.append((key, ref, cand, mask))
    flush()
    results: dict[str, dict] = {}
    for name, metric in image_metrics.items():
        values = np.array(list(per_image[name].values()), dtype=np.float64)
        finite = values[~np.isnan(values)]
        entry = {"mean": float(finite.mean()) if len(finite) else None, "n": int(len(finite)),
                 "higher_is_better": metric.higher_is_better,
                 "per_image": {k: (None if math.isnan(v) else v) for k, v in per_image[name].items()}}
        if metric.region == "mask":
            entry["n_empty"] = int(np.isnan(values).sum())
        results[name] = entry
    for name, metric in set_metrics.items():
        ref_feats, cand_feats = (np.concatenate(f) if f else np.zeros((0, 1)) for f in features[metric.feature_key])
        results[name] = {"mean": float(metric.from_features(ref_feats, cand_feats)), "n": int(len(ref_feats)),
                         "higher_is_better": metric.higher_is_better}
    return results, failed


def format_table(results: dict) -> str:
    rows = [("metric", "mean", "n")]
    for name, entry in results.items():
        arrow = "(higher is better)" if entry["higher_is_better"] else "(lower is better)"
        mean = "n/a" if entry["mean"] is None else f"{entry['mean']:.4f}"
        extra = f", {entry['n_empty']} empty masks" if entry.get("n_empty") else ""
        rows.append((f"{name} {arrow}", mean, f"{entry['n']}{extra}"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]}" for r in rows)


def run(args: argparse.Namespace) -> int:
    log = lambda text: print(text, file=sys.stderr)  # noqa: E731 - the table alone goes to stdout
    if args.batch_size < 1:
        raise BenchError("--batch-size must be at least 1")
    pairing = match_folders(args.reference, args.candidate, args.masks)
    if pairing.problems and not args.skip_bad:
        raise BenchError("bad pairs (use --skip-bad to skip them):\n" + _describe(pairing.problems))
    if not pairing.pairs:
        raise BenchError("no pair left to score:\n" + _describe(pairing.problems))
    names = _metric_names(args.metrics, args.masks is not None)
    metrics = build_metrics(names, args.masks is not None, log)
    results, failed = score_pairs(pairing, metrics, args.batch_size, args.skip_bad)
    if failed and not args.skip_bad:
        raise BenchError("bad pairs (use --skip-bad to skip them):\n" + _describe(failed))
    skipped = {**pairing.problems, **{k: pairing.problems.get(k, []) + v for k, v in failed.items()}}
    if skipped:
        log("skipped: " + ", ".join(f"{len(v)} {k}" for k, v in skipped.items()))
    print(format_table(results))
    if args.json:
        payload = {name: {k: v for k, v in entry.items() if k != "higher_is_better"} for name, entry in results.items()}
        write_json(args.json, payload)
        log(f"wrote {args.json}")
    return 0
