"""Read a finished run folder (metrics.csv, bins.csv, roc.csv, samples/, run.json) into frames.

The layout is the runner's contract (see ``RunResults``); every problem is a ``BenchError``
naming the file and, where it applies, the column or key at fault.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.api import BenchError

KEY_COLUMNS = {
    "metrics.csv": ["dataset", "mask", "method", "recognizer", "metric"],
    "bins.csv": ["dataset", "mask", "method", "recognizer", "metric", "bin"],
    "roc.csv": ["dataset", "mask", "method", "recognizer"],
    "samples/index.csv": ["face_id", "mask", "method", "file"],
}
NUMBER_COLUMNS = {
    "metrics.csv": ["value", "ci_low", "ci_high", "n"],
    "bins.csv": ["bin_low", "bin_high", "value", "n"],
    "roc.csv": ["fpr", "tpr"],
    "samples/index.csv": ["row"],
}
#: Companion rows that are shown next to another metric rather than as a column of their own.
COMPANIONS = {"acc_std": "acc"}
#: Reference conditions: the occluded input (lower bound) and the unoccluded faces.
REFERENCES = ("masked", "clean")


@dataclass(frozen=True)
class RunResults:
    """One run's results; text key columns hold "" where the file leaves them empty."""

    root: Path
    info: dict
    metrics: pd.DataFrame
    bins: pd.DataFrame | None
    roc: pd.DataFrame | None
    samples: pd.DataFrame | None

    def direction(self, metric: str) -> bool:
        """True when higher values of ``metric`` are better (run.json ``metrics``)."""
        return bool(self.info["metrics"][metric]["higher_is_better"])

    def region(self, metric: str) -> str:
        return str(self.info["metrics"][metric].get("region", "full"))

    @property
    def name(self) -> str:
        return str(self.info.get("protocol_name") or self.root.name)

    def unavailable(self) -> dict[str, str]:
        """Recognizers that could not run here, with the reason run.json gives."""
        return {
            name: str(entry.get("reason") or "no reason recorded")
            for name, entry in self.info.get("recognizers", {}).items()
            if not entry.get("available", True)
        }


def _read_csv(root: Path, name: str, required: bool) -> pd.DataFrame | None:
    path = root / name
    if not path.is_file():
        if required:
            raise BenchError(f"{path}: missing (not a finished run folder?)")
        return None
    try:
        frame = pd.read_csv(path, dtype={col: str for col in KEY_COLUMNS[name]}, keep_default_na=False,
                            na_values={col: ["", "nan", "NaN"] for col in NUMBER_COLUMNS[name]})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise BenchError(f"{path}: cannot be read as CSV ({exc})") from exc
    missing = [col for col in KEY_COLUMNS[name] + NUMBER_COLUMNS[name] if col not in frame.columns]
    if missing:
        raise BenchError(f"{path}: missing column(s) {', '.join(missing)}")
    for col in NUMBER_COLUMNS[name]:
        converted = pd.to_numeric(frame[col], errors="coerce")
        bad = converted.isna() & frame[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise BenchError(f"{path}: column {col!r} line {row + 2}: {frame[col].iloc[row]!r} is not a number")
        frame[col] = converted.astype(np.float64)
    for col in KEY_COLUMNS[name]:
        frame[col] = frame[col].fillna("").astype(str).str.strip()
    return frame


def _read_info(root: Path) -> dict:
    path = root / "run.json"
    if not path.is_file():
        raise BenchError(f"{path}: missing (not a finished run folder?)")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(info, dict) or not isinstance(info.get("metrics"), dict):
        raise BenchError(f"{path}: needs an object with a 'metrics' object (each metric's direction)")
    for metric, entry in info["metrics"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("higher_is_better"), bool):
            raise BenchError(f"{path}: metrics.{metric}.higher_is_better must be true or false")
    for key in ("recognizers", "conventions", "methods", "train_cards", "dataset"):
        if not isinstance(info.get(key, {}), dict):
            raise BenchError(f"{path}: {key!r} must be an object")
    if not isinstance(info.get("notes", []), list):
        raise BenchError(f"{path}: 'notes' must be a list")
    return info


def _check_metrics(root: Path, metrics: pd.DataFrame, info: dict) -> None:
    path = root / "metrics.csv"
    unknown = sorted(set(metrics["metric"]) - set(info["metrics"]) - set(COMPANIONS))
    if unknown:
        raise BenchError(f"{path}: metric(s) {', '.join(unknown)} have no entry in run.json 'metrics' "
                         "(their direction is needed for the tables)")
    for metric, entry in info["metrics"].items():
        if entry.get("region") == "pairs":
            rows = metrics[metrics["metric"] == metric]
            if (rows["value"] > 1).any() or (rows["value"] < 0).any():
                raise BenchError(f"{path}: {metric} values must be fractions in [0, 1]")
    keys = KEY_COLUMNS["metrics.csv"]
    duplicated = metrics.duplicated(keys)
    if duplicated.any():
        first = metrics.loc[duplicated, keys].iloc[0].to_dict()
        raise BenchError(f"{path}: more than one row for {first}")
    unavailable = {name for name, entry in info.get("recognizers", {}).items() if not entry.get("available", True)}
    scored = unavailable & set(metrics["recognizer"])
    if scored:
        raise BenchError(f"{path}: has scores for recognizer(s) {', '.join(sorted(scored))} "
                         "that run.json marks unavailable")


def _check_samples(root: Path, samples: pd.DataFrame | None) -> None:
    if samples is None:
        return
    for file in samples["file"]:
        if not (root / "samples" / file).is_file():
            raise BenchError(f"{root / 'samples' / 'index.csv'}: lists {file!r}, "
                             f"but {root / 'samples' / file} is missing")


def load_run(run_dir: Path) -> RunResults:
    """Read the results folder of a finished run; raises ``BenchError`` naming any bad file."""
    root = Path(run_dir)
    if not root.is_dir():
        raise BenchError(f"{root}: no such run folder")
    info = _read_info(root)
    metrics = _read_csv(root, "metrics.csv", required=True)
    _check_metrics(root, metrics, info)
    samples = _read_csv(root, "samples/index.csv", required=False)
    _check_samples(root, samples)
    return RunResults(root=root, info=info, metrics=metrics, bins=_read_csv(root, "bins.csv", required=False),
                      roc=_read_csv(root, "roc.csv", required=False), samples=samples)
