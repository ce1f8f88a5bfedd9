"""``bench run PROTOCOL.yaml``: the whole benchmark, resumable, ending with its report."""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from bench import protocol as protocol_io
from bench.api import BenchError
from bench.run.executors import EXECUTORS
from bench.run.lock import RunLock


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("protocol", type=Path, help="protocol YAML file, e.g. protocols/lfw_masked_quick.yaml")
    parser.add_argument("--out", type=Path, help="results folder (default: <output>/<protocol name>)")
    parser.add_argument("--limit", type=int, help="use at most N pairs (half same, half different), or N faces without pairs")
    parser.add_argument("--fresh", action="store_true", help="discard the cache of an earlier run in the results folder")
    parser.add_argument("--no-report", action="store_true", help="write metrics.csv and run.json but no tables or plots")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a protocol value (YAML), e.g. --set masks.styles=[n95] --set dataset.folds=[2]")
    parser.add_argument("--offline", action="store_true",
                        help="fetch no weights: use cached assets only (missing ones make their plugin unavailable)")
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="where chunks run: local (this machine, a process per core) or ray (Ray tasks; "
                             "needs pip install -e '.[ray]')")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="local: worker processes (default: every core; 1 runs everything in this process); "
                             "ray: CPUs of the local cluster started when no address is given")
    parser.add_argument("--address", metavar="ADDR",
                        help="ray: join the Ray cluster at HOST:PORT, or 'auto' for the one running on this machine "
                             "(default: RAY_ADDRESS, else start a local cluster)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (faces, pairs, chunks, styles x methods, work left) and the time it "
                             "should take per worker count, from the stage speeds `bench perf` measured; run nothing")


def run(args: argparse.Namespace) -> int:
    from bench.run.runner import check_plan

    start = time.time()
    if args.offline:
        import os

        os.environ["BENCH_OFFLINE"] = "1"
    protocol = protocol_io.load(args.protocol, args.overrides)
    out_dir = args.out or Path(protocol.output) / protocol.name
    if protocol.dataset.kind == "photos":  # real masked photos, scored without ground truth
        from bench.photos.evaluate import describe, run_protocol

        if args.dry_run:
            print(describe(protocol, out_dir, args.limit))
            return 0
        with RunLock(out_dir):
            if args.fresh:
                shutil.rmtree(out_dir / "cache", ignore_errors=True)
            return run_protocol(protocol, out_dir, args.limit, lambda m: print(m, file=sys.stderr, flush=True),
                                start, report=not args.no_report)
    from bench.components import check_names

    check_names(protocol)  # unknown plugins fail before any data is read
    if args.limit is not None and args.limit < 2:
        raise BenchError("--limit must be at least 2")
    if args.workers is not None and args.workers < 1:
        raise BenchError("--workers must be at least 1")
    if args.address and args.executor != "ray":
        raise BenchError("--address needs --executor ray")
    if args.dry_run:
        from bench.run.estimate import describe
        from bench.run.plan import make_plan

        print(describe(protocol, make_plan(protocol, args.limit), out_dir / "cache", args.workers))
        return 0
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    with RunLock(out_dir):
        from bench.run.plan import make_plan

        plan = make_plan(protocol, args.limit)
        cache = out_dir / "cache"
        if args.fresh and cache.exists():
            shutil.rmtree(cache)
            shutil.rmtree(out_dir / "samples", ignore_errors=True)
        check_plan(cache, plan.fingerprint(protocol.batch_size))
        log(f"{plan.dataset_name}: {len(plan.faces)} faces, {len(plan.pairs)} pairs"
            + (f", {plan.skipped_pairs} pairs skipped (images missing)" if plan.skipped_pairs else ""))
        return execute(protocol, plan, out_dir, log, start, report=not args.no_report,
                       executor=args.executor, workers=args.workers, address=args.address)


def execute(protocol, plan, out_dir: Path, log, start: float, report: bool = True, executor: str = "local",
            workers: int | None = None, address: str | None = None) -> int:
    from bench import components
    from bench.run import provenance
    from bench.run.aggregate import aggregate
    from bench.run.executors import start_pool
    from bench.run.results import write_results, write_sample_index
    from bench.run.runner import Runner, pending_work, style_names

    # local workers start (and load their models) while this process loads its own
    work = pending_work(protocol, plan, [spec.display for spec in protocol.methods], out_dir / "cache")
    pool = start_pool(executor, protocol, workers, len(work)) if work else None
    try:
        comp = components.build(protocol, log=log)
        runner = Runner(protocol, plan, comp, out_dir, log=log)
        runner.run(executor, workers, address, pool)
    finally:
        if pool is not None:
            pool.close()
    t0 = time.perf_counter()
    tables = aggregate(protocol, plan, comp, out_dir)
    runner.timings["aggregate"] += time.perf_counter() - t0
    write_sample_index(out_dir, plan, style_names(protocol), list(comp.methods))
    notes = []
    if tables.failed_faces:
        notes.append(f"{len(tables.failed_faces)} images could not be read and were skipped with their pairs")
    for key, reason in comp.unavailable.items():
        notes.append(f"{key.split(':', 1)[1]}: unavailable ({reason})")
    import os

    cards = {name: getattr(method, "card_path", None) for name, method in comp.methods.items()}
    cards = {name: os.path.relpath(card, out_dir) if card else None for name, card in cards.items()}
    info = {
        "protocol_name": protocol.name,
        "protocol": protocol.to_dict(),
        "dataset": {
            "name": plan.dataset_name, "root": str(plan.root), "n_faces": len(plan.faces), "n_pairs": len(plan.pairs),
            "skipped_pairs": plan.skipped_pairs, "skipped_pairs_examples": plan.skipped_examples,
            "duplicate_pairs": plan.duplicate_pairs, "checksums": plan.checksums,
            "unreadable_images": tables.failed_faces, "folds": "pairs.txt" if plan.official_folds else "stratified",
        },
        "landmarks": _landmark_counts(out_dir, plan, protocol),
        "methods": {name: {"needs_mask": m.needs_mask, **m.describe()} for name, m in comp.methods.items()},
        "unavailable": comp.unavailable,
        "recognizers": {
            **{name: {"available": True, "reason": "", "dim": r.dim, **r.describe()} for name, r in comp.recognizers.items()},
            **{k.split(":", 1)[1]: {"available": False, "reason": v, "dim": 0}
               for k, v in comp.unavailable.items() if k.startswith("recognizer:")},
        },
        "metrics": {
            **{name: {"higher_is_better": m.higher_is_better, "region": m.region} for name, m in comp.image_metrics.items()},
            **{name: {"higher_is_better": m.higher_is_better, "region": "set"} for name, m in comp.set_metrics.items()},
            **({name: {"higher_is_better": hib, "region": "pairs"} for name, hib in
                [("acc", True), ("auc", True), ("tar@far=1e-2", True), ("tar@far=1e-3", True)]}
               if comp.recognizers else {}),
        },
        "conventions": provenance.CONVENTIONS,
        "versions": provenance.versions(),
        "git": provenance.git_revision(),
        "seeds": {"protocol": protocol.seed, "masks": protocol.masks.seed, "pairs": protocol.dataset.pair_seed},
        "assets": comp.assets,
        "timings": {k: round(v, 2) for k, v in sorted(runner.timings.items())},
        "execution": {"executor": executor, "workers": workers, "address": address},
        "wall_seconds_this_invocation": round(time.time() - start, 1),
        "peak_memory_mb": round(provenance.peak_memory_mb(), 1),
        "notes": notes,
        "train_cards": cards,  # model cards, relative to the results folder
    }
    written = write_results(out_dir, tables, info)
    if protocol.dataset.kind == "celeba":
        from bench.data.celeba import write_pairs

        write_pairs(out_dir / "pairs.csv", plan.pairs)
    for note in notes:
        log(f"note: {note}")
    if report:
        try:
            from bench.report import render
        except ImportError:
            log("report: bench.report is not installed; wrote metrics.csv only")
        else:
            written += render(out_dir)
    log(f"wrote {out_dir} in {time.time() - start:.0f} s ({', '.join(p.name for p in written[:6])}...)")
    return 0


def _landmark_counts(out_dir: Path, plan, protocol) -> dict:
    import numpy as np

    from bench.run.runner import ChunkCache

    detected = fallback = 0
    for i in range(len(plan.chunks(protocol.batch_size))):
        with np.load(ChunkCache(out_dir / "cache", i).clean()) as data:
            ok = data["ok"].astype(bool)
            detected += int((data["detected"] & ok).sum())
            fallback += int((~data["detected"] & ok).sum())
    return {"detected": detected, "fallback": fallback}
