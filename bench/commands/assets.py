"""``bench assets list|fetch|verify``: model weights the benchmark uses, where they are, and whether they are intact."""
from __future__ import annotations

import argparse
import sys

from bench import assets
from bench.api import BenchError, Unavailable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="name, presence, path, sha256 and source of every asset")
    fetch = sub.add_parser("fetch", help="find or download assets (default: every fetchable one)")
    fetch.add_argument("names", nargs="*", metavar="NAME")
    fetch.add_argument("--torch-hub", action="store_true",
                       help="also write the FID Inception weights where pytorch-fid's own CLI looks for them")
    verify = sub.add_parser("verify", help="recompute sha256s and rerun known-output checks (exit 1 on failure)")
    verify.add_argument("names", nargs="*", metavar="NAME")


def _log(text: str) -> None:
    print(text, file=sys.stderr)


def _list() -> int:
    rows = [("name", "present", "sha256", "source", "path")]
    for spec in assets.all_specs():
        info = assets.status(spec.name)
        where = info["path"] or (f"(raw file at {info['found'][0]})" if info["found"] else
                                 "(fetchable)" if info["fetchable"] else "-")
        source = info["source"] or ", ".join(info["sources"]) or spec.how_to_get or "-"
        rows.append((spec.name, "yes" if info["present"] else "no", (info["sha256"] or "-")[:16], source, where))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(f"{cell:<{widths[i]}}" for i, cell in enumerate(row[:4])) + "  " + row[4])
    return 0


def _fetch(names: list[str], torch_hub: bool) -> int:
    specs = [assets.get_spec(n) for n in names] if names else [s for s in assets.all_specs() if s.fetchable()]
    failures = []
    for spec in specs:
        try:
            path = assets.resolve(spec.name, fetch=True, log=_log)
            print(f"{spec.name}: {path}")
        except Unavailable as exc:
            failures.append(str(exc))
    if torch_hub:
        from bench.metrics.inception_weights import ASSET, export_for_pytorch_fid

        target = export_for_pytorch_fid(assets.resolve(ASSET, fetch=True, log=_log))
        print(f"pytorch-fid: {target}")
    if failures:
        raise Unavailable("\n".join(failures))
    return 0


def _verify(names: list[str]) -> int:
    specs = [assets.get_spec(n) for n in names] if names else assets.all_specs()
    failed = 0
    for spec in specs:
        info = assets.status(spec.name)
        if not info["present"] and not names:
            print(f"{spec.name}: absent (not checked)")
            continue
        problems = assets.verify(spec.name)
        if problems:
            failed += 1
            print(f"{spec.name}: FAILED\n  " + "\n  ".join(problems))
        else:
            how = "sha256 + known output" if spec.check is not None else "sha256"
            print(f"{spec.name}: ok ({how}; {info['path']})")
    if failed:
        raise BenchError(f"{failed} asset(s) failed verification")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list()
    if args.action == "fetch":
        return _fetch(args.names, args.torch_hub)
    return _verify(args.names)
