"""Turn a run's cached chunks into its result tables: metrics.csv, bins.csv, roc.csv.

Reads only the cache written by the runner, so a finished run is re-aggregated in seconds.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.components import Components
from bench.protocol import Protocol
from bench.run.chunk import CLEAN
from bench.run.plan import Plan, pair_folds
from bench.run.runner import ChunkCache, style_names
from bench.stats import bin_index, bin_label, mean_ci

FARS = (1e-2, 1e-3)
METRIC_COLUMNS = ["dataset", "mask", "method", "recognizer", "metric", "value", "ci_low", "ci_high", "n"]
BIN_COLUMNS = ["dataset", "mask", "method", "recognizer", "metric", "bin", "bin_low", "bin_high", "value", "n"]


@dataclass
class Tables:
    metrics: pd.DataFrame
    bins: pd.DataFrame
    roc: pd.DataFrame
    failed_faces: dict[str, str]


def _concat(paths: list[Path]) -> dict[str, np.ndarray]:
    parts: dict[str, list[np.ndarray]] = {}
    for path in paths:
        with np.load(path) as data:
            for key in data.files:
                parts.setdefault(key, []).append(data[key])
    return {key: np.concatenate(values) for key, values in parts.items()}


def _verification(rows: list, bin_rows: list, roc_rows: list, base: dict, scores: np.ndarray,
                  same: np.ndarray, folds: np.ndarray, areas: np.ndarray | None, edges: list[float]) -> None:
    from bench.metrics import verification as v

    acc = v.kfold_accuracy(scores, same, folds)
    n = len(scores)
    half = 1.96 * acc["std"] / np.sqrt(len(acc["per_fold"]))
    rows.append({**base, "metric": "acc", "value": acc["mean"], "ci_low": acc["mean"] - half, "ci_high": acc["mean"] + half, "n": n})
    rows.append({**base, "metric": "acc_std", "value": acc["std"], "n": n})
    rows.append({**base, "metric": "auc", "value": v.auc(scores, same), "n": n})
    for far in FARS:
        tar, n_impostor = v.tar_at_far(scores, same, far)
        rows.append({**base, "metric": f"tar@far={far:.0e}".replace("e-0", "e-"), "value": tar, "n": n_impostor})
    fpr, tpr, _ = v.roc(scores, same)
    roc_rows.append(pd.DataFrame({**{k: base[k] for k in ("dataset", "mask", "method", "recognizer")}, "fpr": fpr, "tpr": tpr}))
    if areas is not None:
        index = bin_index(areas, edges)
        for b in range(len(edges) - 1):
            sel = index == b
            if sel.any():
                correct = (scores[sel] >= np.median(acc["thresholds"])) == same[sel]
                bin_rows.append({**base, "metric": "acc", "bin": bin_label(edges[b], edges[b + 1]), "bin_low": edges[b],
                                 "bin_high": edges[b + 1], "value": float(correct.mean()), "n": int(sel.sum())})


def aggregate(protocol: Protocol, plan: Plan, comp: Components, out_dir: Path) -> Tables:
    """Compute every number of the run from its cache."""
    cache = out_dir / "cache"
    n_chunks = len(plan.chunks(protocol.batch_size))
    chunk_paths = [ChunkCache(cache, i) for i in range(n_chunks)]
    clean = _concat([c.clean() for c in chunk_paths])
    ids = [f.id for f in plan.faces]
    position = {face_id: i for i, face_id in enumerate(ids)}
    ok = clean["ok"].astype(bool)
    failed = {ids[i]: str(clean["errors"][i]) for i in np.flatnonzero(~ok)}
    dataset, edges = plan.dataset_name, protocol.bins
    rows: list[dict] = []
    bin_rows: list[dict] = []
    roc_rows: list[pd.DataFrame] = []

    usable = [i for i, p in enumerate(plan.pairs) if ok[position[p.a]] and ok[position[p.b]]] if comp.recognizers else []
    usable_pairs = [plan.pairs[i] for i in usable]
    if usable_pairs:
        folds = pair_folds(plan, protocol.seed)[usable]
        a = np.array([position[p.a] for p in usable_pairs])
        b = np.array([position[p.b] for p in usable_pairs])
        same = np.array([p.same for p in usable_pairs])
    for name in comp.recognizers:
        if usable_pairs:
            emb = clean[f"emb:{name}"]
            scores = np.sum(emb[a] * emb[b], axis=1)
            base = {"dataset": dataset, "mask": "", "method": CLEAN, "recognizer": name}  # "" = every mask style
            _verification(rows, bin_rows, roc_rows, base, scores, same, folds, None, edges)

    for style in style_names(protocol):
        for method in comp.methods:
            data = _concat([c.condition(style, method) for c in chunk_paths])
            area = data["area"][ok]
            index = bin_index(area, edges)
            base = {"dataset": dataset, "mask": style, "method": method, "recognizer": ""}
            for name, metric in comp.image_metrics.items():
                values = data[f"metric:{name}"][ok]
                mean, low, high, n = mean_ci(values, protocol.bootstrap, protocol.seed)
                rows.append({**base, "metric": name, "value": mean, "ci_low": low, "ci_high": high, "n": n})
                for bnum in range(len(edges) - 1):
                    sel = index == bnum
                    if sel.any():
                        vals = values[sel]
                        vals = vals[np.isfinite(vals)]
                        bin_rows.append({**base, "metric": name, "bin": bin_label(edges[bnum], edges[bnum + 1]),
                                         "bin_low": edges[bnum], "bin_high": edges[bnum + 1],
                                         "value": float(vals.mean()) if len(vals) else np.nan, "n": int(len(vals))})
            for name, metric in comp.set_metrics.items():
                key = f"feat:{metric.feature_key}"
                value = metric.from_features(clean[key][ok], data[key][ok])
                rows.append({**base, "metric": name, "value": float(value), "n": int(ok.sum())})
            for name in comp.recognizers:
                if not usable_pairs:
                    continue
                gallery = clean[f"emb:{name}"][a]
                probe = data[f"emb:{name}"][b]
                scores = np.sum(gallery * probe, axis=1)
                rec_base = {**base, "recognizer": name}
                _verification(rows, bin_rows, roc_rows, rec_base, scores, same, folds, data["area"][b], edges)

    metrics = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    bins = pd.DataFrame(bin_rows, columns=BIN_COLUMNS)
    roc = pd.concat(roc_rows, ignore_index=True) if roc_rows else pd.DataFrame(columns=["dataset", "mask", "method", "recognizer", "fpr", "tpr"])
    return Tables(metrics=metrics, bins=bins, roc=roc, failed_faces=failed)
