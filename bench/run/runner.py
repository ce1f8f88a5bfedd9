"""Resumable execution of a protocol: cut the faces into chunks, hand the missing work to an
executor, and cache every result as it arrives.

Work is cut into chunks of ``batch_size`` faces. Every chunk's results (scores, features,
embeddings) are written atomically to ``cache/`` by this process as soon as they arrive, so a
killed run resumes at the first missing chunk and a finished run re-aggregates in seconds.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from bench.api import BenchError
from bench.atomic import write_json, write_npz
from bench.components import Components
from bench.data.imageio import save_png
from bench.protocol import Protocol
from bench.run.chunk import CLEAN, ChunkResult, ChunkTask, make_task, safe_name
from bench.run.executors import LocalPool, execute_tasks
from bench.run.plan import Plan


def style_names(protocol: Protocol) -> list[str]:
    if protocol.masks.folder is not None:
        return [f"folder:{Path(protocol.masks.folder).name}"]
    return list(protocol.masks.styles)


class ChunkCache:
    """Paths of the cached results of one chunk."""

    def __init__(self, cache_dir: Path, index: int) -> None:
        self.dir = cache_dir
        self.name = f"c{index:05d}.npz"

    def clean(self) -> Path:
        return self.dir / CLEAN / self.name

    def condition(self, style: str, method: str) -> Path:
        return self.dir / "conditions" / safe_name(style) / safe_name(method) / self.name


def pending_work(protocol: Protocol, plan: Plan, methods: list[str], cache: Path) -> list[tuple[int, bool, list[tuple[str, str]]]]:
    """``(chunk index, clean faces missing, conditions missing)`` of every chunk with work left."""
    todo = [(style, method) for style in style_names(protocol) for method in methods]
    work = []
    for index in range(len(plan.chunks(protocol.batch_size))):
        paths = ChunkCache(cache, index)
        missing = [(s, m) for s, m in todo if not paths.condition(s, m).exists()]
        clean_missing = not paths.clean().exists()
        if clean_missing or missing:
            work.append((index, clean_missing, missing))
    return work


class Runner:
    """Executes the chunks of a plan with the protocol's components."""

    def __init__(self, protocol: Protocol, plan: Plan, comp: Components, out_dir: Path,
                 log: Callable[[str], None] = print) -> None:
        self.protocol, self.plan, self.comp, self.out = protocol, plan, comp, out_dir
        self.cache = out_dir / "cache"
        self.log = log
        self.styles = style_names(protocol)
        self.timings: dict[str, float] = defaultdict(float)
        self.sample_rows = {face_id: row for row, face_id in enumerate(plan.sample_ids)}

    def _forget_changed_methods(self) -> None:
        """Drop the cached outputs of a method whose description (checkpoint hash, options)
        differs from the one they were made with, so a new checkpoint is never scored from an
        old one's outputs."""
        for label, method in self.comp.methods.items():
            facts = {k: v for k, v in method.describe().items() if k != "device"}
            digest = hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()
            record = self.cache / "methods" / f"{safe_name(label)}.json"
            old = json.loads(record.read_text()).get("sha256") if record.is_file() else None
            if old is not None and old != digest:
                self.log(f"method {label!r} changed since its outputs were cached (checkpoint or options): "
                         "recomputing them")
            if old != digest:
                for style in self.styles:
                    shutil.rmtree(self.cache / "conditions" / safe_name(style) / safe_name(label), ignore_errors=True)
                write_json(record, {"sha256": digest, "describe": facts})

    def _forget_changed_scorers(self) -> None:
        """Drop every cached score, feature and embedding when a recognizer or metric describes
        itself differently from the one that made them (another backend, model or option), so a
        table never mixes two scorers under one name."""
        scorers = {"recognizers": self.comp.recognizers, "image metrics": self.comp.image_metrics,
                   "features": self.comp.feature_extractors()}
        facts = {group: {name: {k: v for k, v in getattr(item, "describe", dict)().items() if k != "device"}
                         for name, item in items.items()} for group, items in scorers.items()}
        digest = hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()
        record = self.cache / "scorers.json"
        old = json.loads(record.read_text()).get("sha256") if record.is_file() else None
        if old == digest:
            return
        if old is not None:
            self.log("a recognizer or metric changed since the cached scores were made (model, backend or "
                     "options): recomputing every chunk")
            for folder in (CLEAN, "conditions"):
                shutil.rmtree(self.cache / folder, ignore_errors=True)
        write_json(record, {"sha256": digest, "describe": facts})

    def _tasks(self) -> list[ChunkTask]:
        chunks = self.plan.chunks(self.protocol.batch_size)
        tasks = []
        for index, clean_missing, missing in pending_work(self.protocol, self.plan, list(self.comp.methods), self.cache):
            landmarks = None
            if not clean_missing:
                with np.load(ChunkCache(self.cache, index).clean()) as data:
                    landmarks = data["landmarks"]
            tasks.append(make_task(index, chunks[index], missing, landmarks, self.sample_rows))
        return tasks

    def _store(self, result: ChunkResult) -> None:
        paths = ChunkCache(self.cache, result.index)
        for file, image in result.samples.items():
            save_png(self.out / "samples" / file, image)
        if result.clean is not None:
            write_npz(paths.clean(), **result.clean)
        for (style, method), arrays in result.conditions.items():
            write_npz(paths.condition(style, method), **arrays)
        for stage, seconds in result.timings.items():
            self.timings[stage] += seconds

    def run(self, executor: str = "local", workers: int | None = None, address: str | None = None,
            pool: LocalPool | None = None) -> None:
        chunks = self.plan.chunks(self.protocol.batch_size)
        write_json(self.cache / "plan.json", {"fingerprint": self.plan.fingerprint(self.protocol.batch_size),
                                              "faces": len(self.plan.faces), "chunks": len(chunks)})
        self._forget_changed_scorers()
        self._forget_changed_methods()
        per_chunk = 1 + len(self.styles) * len(self.comp.methods)
        tasks = self._tasks()
        with tqdm(total=len(chunks) * per_chunk, desc="bench run", unit="task", dynamic_ncols=True) as progress:
            progress.update(len(chunks) * per_chunk - sum((t.landmarks is None) + len(t.conditions) for t in tasks))
            for result in execute_tasks(executor, self.protocol, self.comp, tasks, workers, address, self.log, pool):
                self._store(result)
                progress.update((result.clean is not None) + len(result.conditions))


def check_plan(cache_dir: Path, fingerprint: str) -> None:
    """Refuse to resume into a cache made for different faces or chunking."""
    path = cache_dir / "plan.json"
    if path.exists():
        try:
            old = json.loads(path.read_text())["fingerprint"]
        except (ValueError, KeyError):
            return
        if old != fingerprint:
            raise BenchError(
                f"{cache_dir} holds a run over different faces or batch size; "
                "use --fresh to discard it or --out to choose another folder"
            )
