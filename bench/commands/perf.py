"""``bench perf [--quick]``: images per second for every stage, ratios against references."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench.api import BenchError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="fewer images and a 40-pair end-to-end run (for CI)")
    parser.add_argument("--images", type=int, help="number of LFW-gray images per stage (default 64, quick 16)")
    parser.add_argument("--out", type=Path,
                        help="where to write the numbers (default results/perf.json, with --scaling results/perf_scaling.json)")
    parser.add_argument("--skip-end-to-end", action="store_true", help="do not run the quick protocol end to end")
    parser.add_argument("--skip-model", action="store_true", help="do not run the training/inference model benchmark")
    parser.add_argument("--scaling", metavar="W1,W2,...",
                        help="instead of the stage speeds: run the same --limit run with W local workers on W cores "
                             "for each W (e.g. 1,2; W/C for W workers on C cores, e.g. 1/2) and print wall time, "
                             "speedup over the first, load and whether metrics.csv agree")
    parser.add_argument("--protocol", type=Path, default=Path("protocols/lfw_masked_quick.yaml"),
                        help="--scaling: the protocol to run (default protocols/lfw_masked_quick.yaml)")
    parser.add_argument("--limit", type=int, default=40, help="--scaling: pairs of each run (default 40)")
    parser.add_argument("--repeats", type=int, default=1, help="--scaling: rounds over the worker counts; the best time counts")


def run(args: argparse.Namespace) -> int:
    from bench import perf
    from bench.atomic import write_json
    from bench.run.estimate import perf_cache_path

    data = os.environ.get("BENCH_DATA")
    if not data:
        raise BenchError("set BENCH_DATA to the folder holding lfw-gray/")
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    if args.scaling:
        return run_scaling(args, log)
    count = args.images or (16 if args.quick else 64)
    started = time.time()
    ids, images = perf.load_images(Path(data) / "lfw-gray", count)
    result = {"machine": perf.machine(), "images": len(images), "quick": args.quick}
    log(f"bench perf on {len(images)} LFW-gray images ({result['machine']['cpu']}, {result['machine']['cores']} cores)")
    result["matmul_gflops"] = round(perf.matmul_gflops(2048 if args.quick else 4096), 1)
    log(f"  fp32 matrix product: {result['matmul_gflops']} GFLOP/s")
    bench = perf.Perf(images, log)
    extra = perf.stage_speeds(bench, ids)
    result["ssim_vs_skimage"] = perf.ssim_vs_skimage(bench, extra["occluded"])
    result["lpips_vs_package"] = perf.lpips_vs_package(bench, extra["occluded"])
    result["fid_vs_pytorch_fid"] = perf.fid_vs_pytorch_fid(bench)
    result["generator_efficiency"] = perf.generator_efficiency(result["matmul_gflops"], args.quick)
    result["stages"] = bench.rows
    if not args.skip_model:
        from inpaint import benchmark

        result["model"] = benchmark.run(quick=args.quick)
    if not args.skip_end_to_end:
        result["end_to_end"] = perf.end_to_end(args.quick, log)
    result["seconds"] = round(time.time() - started, 1)
    out = args.out or Path("results/perf.json")
    write_json(out, result)
    write_json(perf_cache_path(), result)  # the stage speeds `bench run --dry-run` estimates from
    print(format_summary(result))
    print(f"wrote {out} and {perf_cache_path()}")
    return 0


def run_scaling(args: argparse.Namespace, log) -> int:
    from bench.atomic import write_json
    from bench.run.scaling import format_scaling, scaling

    if args.repeats < 1 or args.limit < 2:
        raise BenchError("--scaling needs --repeats >= 1 and --limit >= 2")
    if not args.protocol.is_file():
        raise BenchError(f"--protocol: {args.protocol} not found")
    log(f"bench perf --scaling {args.scaling}: {args.protocol} --limit {args.limit}")
    result = scaling(args.protocol, args.limit, args.scaling, args.repeats, Path.cwd(), log)
    out = args.out or Path("results/perf_scaling.json")
    write_json(out, result)
    print(format_scaling(result))
    print(f"wrote {out}")
    return 0


def format_summary(result: dict) -> str:
    lines = ["| stage | images/s |", "|---|---:|"]
    for row in result["stages"]:
        lines.append(f"| {row['stage']} | {row.get('images_per_s', 'unavailable')} |")
    lines.append("")
    lines.append("| comparison | ratio | agreement | goal |")
    lines.append("|---|---:|---|---|")
    for key, diff in (("ssim_vs_skimage", "max_abs_diff"), ("lpips_vs_package", "max_abs_diff"), ("fid_vs_pytorch_fid", "max_rel_diff")):
        item = result[key]
        ratio = f"{item['speedup']}x"
        if "speedup_references_reused" in item:
            ratio += f" ({item['speedup_references_reused']}x with references reused across methods)"
        lines.append(f"| {key} | {ratio} | {diff} {item[diff]:.2e} | {item['goal']} |")
    gen = result["generator_efficiency"]
    for name, v in gen.get("variants", {}).items():
        lines.append(f"| cl-attn generator, batch 16, 128x128, {name} | {v['fraction_of_matmul'] * 100:.0f}% of matmul "
                     f"| {v['gflops']} GFLOP/s of {gen['matmul_gflops']} | >= 40% |")
    e2e = result.get("end_to_end")
    if e2e and "seconds" in e2e:
        lines.append("")
        lines.append(f"end to end: `{e2e['command']}`: {e2e['seconds']} s for {e2e['faces']} faces, "
                     f"peak memory {e2e['peak_memory_mb']} MB; `bench report` {e2e['report_seconds']} s")
    return "\n".join(lines)
