"""Instantiate a protocol's plugins: inpainters, recognizers and metrics, with their assets.

Unavailable recognizers and methods (missing weights) are recorded with their reason, never
replaced by something else; unknown names and bad options are errors naming the plugin.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from bench import registry
from bench.api import BenchError, ImageMetric, Inpainter, Recognizer, SetMetric, Unavailable
from bench.protocol import Protocol


@dataclass
class Components:
    methods: dict[str, Inpainter] = field(default_factory=dict)
    recognizers: dict[str, Recognizer] = field(default_factory=dict)
    image_metrics: dict[str, ImageMetric] = field(default_factory=dict)
    set_metrics: dict[str, SetMetric] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # "method:x" / "recognizer:y" -> reason
    assets: dict[str, str] = field(default_factory=dict)  # asset name -> path

    def feature_extractors(self) -> dict[str, SetMetric]:
        """One set metric per feature key, so shared features are computed once."""
        extractors: dict[str, SetMetric] = {}
        for metric in self.set_metrics.values():
            extractors.setdefault(metric.feature_key, metric)
        return extractors


def check_names(protocol: Protocol) -> None:
    """Resolve every plugin name; an unknown one is reported with its key path and the choices."""
    for key, kind, names in (("metrics", "metric", protocol.metrics),
                             ("methods", "inpainter", [s.name for s in protocol.methods]),
                             ("recognizers", "recognizer", [s.name for s in protocol.recognizers])):
        for i, name in enumerate(names):
            try:
                registry.resolve(kind, name)
            except BenchError as exc:
                raise BenchError(f"{key}[{i}]: {exc}") from None


def _resolve_assets(classes: list[type], log: Callable[[str], None]) -> dict[str, str]:
    names = sorted({name for cls in classes for name in getattr(cls, "assets", ())})
    if not names:
        return {}
    from bench import assets

    return {name: str(path) for name, path in assets.require(names, log=log).items()}


def build(protocol: Protocol, log: Callable[[str], None] = print) -> Components:
    """Resolve every plugin and asset before any work starts (nothing downloads mid-run)."""
    comp = Components()
    metric_classes = {name: registry.resolve("metric", name) for name in protocol.metrics}
    method_classes = {spec.display: registry.resolve("inpainter", spec.name) for spec in protocol.methods}
    recognizer_classes = {spec.display: registry.resolve("recognizer", spec.name) for spec in protocol.recognizers}
    comp.assets = _resolve_assets(list(metric_classes.values()), log)

    for name, cls in metric_classes.items():
        metric = cls()
        if isinstance(metric, ImageMetric):
            comp.image_metrics[name] = metric
        elif isinstance(metric, SetMetric):
            comp.set_metrics[name] = metric
        else:
            raise BenchError(f"metric {name!r}: {cls.__name__} is neither an ImageMetric nor a SetMetric")

    for spec in protocol.methods:
        try:
            method = method_classes[spec.display](**spec.options)
        except Unavailable as exc:
            comp.unavailable[f"method:{spec.display}"] = str(exc)
            log(f"{spec.display}: unavailable ({exc})")
            continue
        except (TypeError, ValueError) as exc:
            raise BenchError(f"methods: {spec.display!r}: bad options {spec.options} ({exc})") from exc
        if not isinstance(method, Inpainter):
            raise BenchError(f"methods: {spec.display!r} is not an Inpainter")
        comp.methods[spec.display] = method

    for spec in protocol.recognizers:
        try:
            comp.assets.update(_resolve_assets([recognizer_classes[spec.display]], log))
            recognizer = recognizer_classes[spec.display](**spec.options)
        except (Unavailable, BenchError) as exc:
            comp.unavailable[f"recognizer:{spec.display}"] = str(exc)
            log(f"{spec.display}: unavailable ({exc})")
            continue
        except (TypeError, ValueError) as exc:
            raise BenchError(f"recognizers: {spec.display!r}: bad options {spec.options} ({exc})") from exc
        comp.recognizers[spec.display] = recognizer
    if not comp.methods:
        raise BenchError("no method of the protocol is available: " + "; ".join(comp.unavailable.values()))
    return comp
