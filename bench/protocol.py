"""Benchmark protocols: YAML files turned into validated objects; every error names its key path.

A protocol says which dataset to load, which occlusions to draw, which methods inpaint, which
recognizers and metrics score, and where results go. ``${VAR}`` in strings is replaced by the
environment variable ``VAR`` (``BENCH_DATA`` in the shipped protocols).
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.api import BenchError

DATASET_KINDS = ("lfw", "celeba", "folder", "photos")  # photos: real masked photos, no ground truth
DEFAULT_BINS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 1.0]  # fraction of the image hidden, as LaMa bins by mask area
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass
class DatasetSpec:
    kind: str
    root: str
    display_name: str = ""
    pairs: str = "pairs"  # lfw: pairs | dev-train | dev-test
    folds: list[int] | None = None  # lfw: 1-based folds of pairs.txt; None = all
    split: str = "test"  # celeba
    n_pairs: int = 6000  # celeba
    pair_seed: int = 0
    limit: int | None = None  # at most this many pairs (half same, half different) or faces
    subset: str = "all"  # photos: all | train | held-out (bench.photos.subsets)


@dataclass
class MaskSpec:
    styles: list[str] = field(default_factory=lambda: ["surgical"])
    seed: int = 0
    folder: str | None = None  # occlusions made by another tool, matched by relative path


@dataclass
class PluginSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # the name shown in tables; defaults to ``name``

    @property
    def display(self) -> str:
        return self.label or self.name


@dataclass
class Protocol:
    name: str
    dataset: DatasetSpec
    masks: MaskSpec
    methods: list[PluginSpec]
    recognizers: list[PluginSpec] = field(default_factory=list)
    metrics: list[str] = field(default_factory=lambda: ["psnr", "ssim"])
    batch_size: int = 32
    samples: int = 6
    bins: list[float] = field(default_factory=lambda: list(DEFAULT_BINS))
    bootstrap: int = 1000
    seed: int = 0
    device: str = "auto"
    output: str = "results"
    reference: DatasetSpec | None = None  # photos protocols: the clean faces FID/KID compare with

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _expand(value: Any, where: str) -> Any:
    if isinstance(value, str):
        def substitute(match: re.Match) -> str:
            var = match.group(1)
            if var not in os.environ:
                raise BenchError(f"{where}: environment variable {var} is not set (used as ${{{var}}})")
            return os.environ[var]

        return _ENV.sub(substitute, value)
    return value


def _check_type(value: Any, expected: type | tuple[type, ...], where: str) -> Any:
    if expected is int and isinstance(value, bool):
        raise BenchError(f"{where}: expected an integer, got {value!r}")
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected):
        names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
        raise BenchError(f"{where}: expected {names}, got {type(value).__name__} {value!r}")
    return value


def _fields(data: Any, where: str, allowed: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check a mapping's keys and scalar types; ``allowed`` maps key -> type, or None to skip."""
    if not isinstance(data, dict):
        raise BenchError(f"{where or 'protocol'}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise BenchError(f"{where + '.' if where else ''}{unknown[0]}: unknown key (allowed: {', '.join(sorted(allowed))})")
    for key in required:
        if key not in data:
            raise BenchError(f"{where + '.' if where else ''}{key}: required key is missing")
    out = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        expected = allowed[key]
        if value is None or expected is None:
            out[key] = value
        else:
            out[key] = _check_type(_expand(value, path), expected, path)
    return out


def _plugins(data: Any, where: str) -> list[PluginSpec]:
    if not isinstance(data, list):
        raise BenchError(f"{where}: expected a list of names or {{name:, options:}} mappings")
    specs = []
    for i, item in enumerate(data):
        path = f"{where}[{i}]"
        if isinstance(item, str):
            specs.append(PluginSpec(name=item))
            continue
        item = _fields(item, path, {"name": str, "options": dict, "label": str}, required=("name",))
        specs.append(PluginSpec(name=item["name"], options=item.get("options") or {}, label=item.get("label") or ""))
    labels = [s.display for s in specs]
    duplicates = sorted({x for x in labels if labels.count(x) > 1})
    if duplicates:
        raise BenchError(f"{where}: {duplicates[0]!r} is listed twice (give one a different label:)")
    return specs


def _int_list(value: Any, where: str) -> list[int]:
    if not isinstance(value, list):
        raise BenchError(f"{where}: expected a list of integers")
    return [_check_type(v, int, f"{where}[{i}]") for i, v in enumerate(value)]


def parse(data: Any, default_name: str = "protocol") -> Protocol:
    """Validate a loaded YAML document into a :class:`Protocol`."""
    top = _fields(
        data,
        "",
        {
            "name": str, "dataset": dict, "masks": dict, "methods": list, "recognizers": list,
            "metrics": list, "batch_size": int, "samples": int, "bins": list, "bootstrap": int,
            "seed": int, "device": str, "output": str, "reference": dict,
        },
        required=("dataset", "methods"),
    )
    name = top.get("name") or default_name
    if not _NAME.match(name):
        raise BenchError(f"name: {name!r} must be letters, digits, '_', '-' or '.'")
    ds = _fields(
        top["dataset"], "dataset",
        {"kind": str, "root": str, "display_name": str, "pairs": str, "folds": list, "split": str,
         "n_pairs": int, "pair_seed": int, "limit": int, "subset": str},
        required=("kind", "root"),
    )
    dataset = _dataset(ds)
    reference = None
    if top.get("reference") is not None:
        reference = _dataset(_fields(top["reference"], "reference", {"kind": str, "root": str, "display_name": str,
                                                                    "pairs": str, "folds": list, "limit": int},
                                     required=("kind", "root")), "reference")
    masks_raw = _fields(top.get("masks") or {}, "masks", {"styles": list, "seed": int, "folder": str})
    masks = MaskSpec(**{k: v for k, v in masks_raw.items() if v is not None or k == "folder"})
    for i, style in enumerate(masks.styles):
        _check_type(style, str, f"masks.styles[{i}]")
    if masks.folder is not None:
        masks.folder = _expand(masks.folder, "masks.folder")
    if not masks.styles and masks.folder is None:
        raise BenchError("masks: give at least one style or a folder")
    methods = _plugins(top["methods"], "methods")
    if not methods:
        raise BenchError("methods: list at least one inpainter")
    recognizers = _plugins(top.get("recognizers") or [], "recognizers")
    metrics = [_check_type(m, str, f"metrics[{i}]") for i, m in enumerate(top.get("metrics") or [])]
    bins = [_check_type(b, (int, float), f"bins[{i}]") for i, b in enumerate(top.get("bins") or DEFAULT_BINS)]
    if len(bins) < 2 or any(b >= c for b, c in zip(bins, bins[1:])) or bins[0] < 0 or bins[-1] > 1:
        raise BenchError("bins: need at least two increasing edges within [0, 1]")
    protocol = Protocol(
        name=name, dataset=dataset, masks=masks, methods=methods, recognizers=recognizers,
        metrics=metrics, bins=[float(b) for b in bins], reference=reference,
        **{k: top[k] for k in ("batch_size", "samples", "bootstrap", "seed", "device", "output") if top.get(k) is not None},
    )
    if protocol.batch_size < 1:
        raise BenchError("batch_size: must be at least 1")
    if protocol.device not in ("auto", "cpu", "cuda") and not protocol.device.startswith("cuda:"):
        raise BenchError(f"device: {protocol.device!r} must be auto, cpu, cuda or cuda:N")
    return protocol


def _dataset(ds: dict, where: str = "dataset") -> DatasetSpec:
    if ds["kind"] not in DATASET_KINDS:
        raise BenchError(f"{where}.kind: {ds['kind']!r} unknown; choose from {', '.join(DATASET_KINDS)}")
    if ds.get("folds") is not None:
        ds["folds"] = _int_list(ds["folds"], f"{where}.folds")
    if ds.get("limit") is not None and ds["limit"] < 2:
        raise BenchError(f"{where}.limit: must be at least 2")
    if ds.get("subset") is not None:
        from bench.photos.subsets import SUBSETS

        if ds["kind"] != "photos":
            raise BenchError(f"{where}.subset: only a photos dataset has subsets (kind is {ds['kind']!r})")
        if ds["subset"] not in SUBSETS:
            raise BenchError(f"{where}.subset: {ds['subset']!r} unknown; choose from {', '.join(SUBSETS)}")
    return DatasetSpec(**{k: v for k, v in ds.items() if v is not None or k in ("folds", "limit")})


def apply_overrides(data: Any, overrides: list[str]) -> Any:
    """Apply ``KEY.PATH=VALUE`` overrides (VALUE is YAML, e.g. ``masks.styles=[n95]``)."""
    if not overrides:
        return data
    if not isinstance(data, dict):
        raise BenchError("--set needs a protocol that is a mapping")
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise BenchError(f"--set {item!r}: expected KEY=VALUE, e.g. masks.styles=[n95]")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise BenchError(f"--set {item!r}: value is not valid YAML ({exc})") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise BenchError(f"--set {item!r}: {part} is not a mapping")
            node = child
        node[parts[-1]] = value
    return data


def load(path: Path | str, overrides: list[str] | None = None) -> Protocol:
    """Read a protocol file with YAML safe loading; errors name the file, line and key.

    ``overrides`` (``--set`` on the command line) replace values before validation.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BenchError(f"protocol {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"protocol {path}: cannot read ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        hint = " (YAML does not allow tabs for indentation)" if "\t" in text and "\\t" in str(exc) or "'\\t'" in str(exc) else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BenchError(f"protocol {path}:{where}: {problem}{hint}") from None
    try:
        return parse(apply_overrides(data, overrides or []), default_name=path.stem)
    except BenchError as exc:
        raise BenchError(f"protocol {path}: {exc}") from None
