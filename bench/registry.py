"""Plugin lookup: inpainters, recognizers and metrics by entry-point name or ``module:Class``."""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from bench.api import BenchError

GROUPS = {
    "inpainter": "bench.inpainters",
    "recognizer": "bench.recognizers",
    "metric": "bench.metrics",
}


def available(kind: str) -> dict[str, str]:
    """Map each registered name of ``kind`` to the distribution that provides it."""
    found: dict[str, str] = {}
    for ep in entry_points(group=GROUPS[kind]):
        dist = ep.dist.name if ep.dist is not None else "?"
        found.setdefault(ep.name, f"{dist} ({ep.value})")
    return dict(sorted(found.items()))


def resolve(kind: str, name: str) -> type:
    """Return the class registered as ``name``, or imported from a ``module:Class`` the user wrote."""
    if kind not in GROUPS:
        raise BenchError(f"unknown plugin kind {kind!r}")
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
            return getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            raise BenchError(f"{kind} {name!r}: cannot import ({exc})") from exc
    matches = [ep for ep in entry_points(group=GROUPS[kind]) if ep.name == name]
    if not matches:
        known = ", ".join(available(kind)) or "none"
        raise BenchError(f"unknown {kind} {name!r}; registered: {known}")
    try:
        return matches[0].load()
    except Exception as exc:  # a broken plugin must not hide behind a traceback
        raise BenchError(f"{kind} {name!r}: failed to load {matches[0].value} ({exc})") from exc


def create(kind: str, name: str, **options: Any) -> Any:
    """Instantiate a plugin; bad options are reported with the plugin's name."""
    cls = resolve(kind, name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise BenchError(f"{kind} {name!r}: bad options {sorted(options)} ({exc})") from exc
