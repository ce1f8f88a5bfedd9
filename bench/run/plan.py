"""What a run will do: the dataset, the faces and pairs it covers, and how they are chunked.

The plan is written to ``cache/plan.json``; a resumed run must have the same plan, so cached
chunks always mean the same faces.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.api import BenchError, Face, Pair
from bench.data.celeba import CelebA
from bench.data.folder import ImageFolder
from bench.data.lfw import LFW, PairList
from bench.protocol import Protocol

SAMPLE_SALT = "bench-samples"


@dataclass
class Plan:
    dataset_name: str
    root: Path
    faces: list[Face]
    pairs: list[Pair]
    official_folds: bool  # True when the pairs keep pairs.txt's own 10 folds
    skipped_pairs: int = 0
    skipped_examples: list[str] = field(default_factory=list)
    duplicate_pairs: int = 0
    checksums: dict[str, str] = field(default_factory=dict)
    sample_ids: list[str] = field(default_factory=list)

    def fingerprint(self, batch_size: int) -> str:
        text = json.dumps([[f.id for f in self.faces], batch_size])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def chunks(self, batch_size: int) -> list[list[Face]]:
        return [self.faces[i : i + batch_size] for i in range(0, len(self.faces), batch_size)]


def open_dataset(protocol: Protocol) -> LFW | CelebA | ImageFolder:
    spec = protocol.dataset
    root = Path(spec.root)
    if not root.exists():
        raise BenchError(
            f"dataset.root: {root} does not exist (set BENCH_DATA, or see `bench data fetch --help` for how to get the data)"
        )
    if spec.kind == "lfw":
        return LFW(root)
    if spec.kind == "celeba":
        return CelebA(root, split=spec.split)
    return ImageFolder(root)


def _limit_pairs(pairs: list[Pair], limit: int) -> list[Pair]:
    """Keep ``limit`` pairs, half same and half different, in file order."""
    same = [i for i, p in enumerate(pairs) if p.same][: (limit + 1) // 2]
    different = [i for i, p in enumerate(pairs) if not p.same][: limit // 2]
    return [pairs[i] for i in sorted(same + different)]


def choose_samples(ids: list[str], count: int, seed: int) -> list[str]:
    """A fixed, seeded choice of example faces: the ids with the smallest salted hashes."""
    ranked = sorted(ids, key=lambda i: hashlib.sha256(f"{SAMPLE_SALT}:{seed}:{i}".encode()).hexdigest())
    return sorted(ranked[:count])


def make_plan(protocol: Protocol, limit: int | None = None) -> Plan:
    """Load the dataset named by the protocol and decide the faces and pairs of the run."""
    spec = protocol.dataset
    dataset = open_dataset(protocol)
    limit = limit if limit is not None else spec.limit
    checksums: dict[str, str] = {}
    if isinstance(dataset, LFW):
        pair_list = dataset.pairs(spec.pairs, spec.folds)
        checksums = dataset.checksums()
        official = spec.pairs == "pairs" and spec.folds is None and limit is None
    elif isinstance(dataset, CelebA):
        pair_list = dataset.pairs(spec.n_pairs, spec.pair_seed)
        official = False
    else:
        pair_list = PairList(pairs=[])
        official = False
    pairs = pair_list.pairs
    if pairs:
        if limit is not None:
            pairs = _limit_pairs(pairs, limit)
        ids = sorted({p.a for p in pairs} | {p.b for p in pairs})
        faces = [dataset.face(i) for i in ids]
    else:
        faces = dataset.faces()
        if limit is not None:
            faces = faces[:limit]
    if not faces:
        raise BenchError(f"dataset {spec.root}: nothing to evaluate")
    return Plan(
        dataset_name=spec.display_name or dataset.name,
        root=Path(spec.root),
        faces=faces,
        pairs=pairs,
        official_folds=official,
        skipped_pairs=pair_list.skipped,
        skipped_examples=pair_list.skipped_examples,
        duplicate_pairs=pair_list.duplicates,
        checksums=checksums,
        sample_ids=choose_samples([f.id for f in faces], protocol.samples, protocol.seed),
    )


def pair_folds(plan: Plan, seed: int) -> np.ndarray:
    """Fold of each pair: pairs.txt's own folds when the run covers all of them, else stratified."""
    from bench.metrics.verification import stratified_folds

    same = np.array([p.same for p in plan.pairs], dtype=bool)
    if plan.official_folds and len({p.fold for p in plan.pairs}) == 10:
        return np.array([p.fold for p in plan.pairs], dtype=int)
    n_folds = min(10, int(same.sum()), int((~same).sum()))
    if n_folds < 2:
        raise BenchError(f"verification needs at least 2 same and 2 different pairs; the run has {int(same.sum())} and {int((~same).sum())}")
    return stratified_folds(same, n_folds=n_folds, seed=seed)
