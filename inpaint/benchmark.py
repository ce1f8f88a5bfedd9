"""Speed of the model: training step time, inference images/s, generator FLOPs and GFLOP/s.

``run(quick)`` measures, with the attention module on and off, at 128x128 and 256x256: the
configuration the released checkpoints use (ngf 32, 6 blocks) and, in the full run, CUT's
default generator (ngf 64, 9 blocks, ndf 64). Batches are synthetic (the data pipeline is
not timed); threads are torch's default unless ``threads`` is given. One row repeats the small
model with channels-last (NHWC) tensors, the layout cuDNN prefers, to show its effect on CPU. FLOPs are counted by
``torch.utils.flop_counter.FlopCounterMode`` (2 per multiply-add, convolutions and matrix
products only) for one image through the generator. Times are medians of wall seconds and of
CPU seconds (the latter barely move when other processes share the machine). Called by ``bench perf``; also
``python -m inpaint.benchmark [--quick]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from inpaint.config import TrainConfig
from inpaint.train import Trainer

# (label, image size, ngf, n_blocks, ndf, channels_last)
FULL = [("small", 128, 32, 6, 32, False), ("small", 256, 32, 6, 32, False), ("cut-default", 128, 64, 9, 64, False),
        ("cut-default", 256, 64, 9, 64, False), ("small NHWC", 128, 32, 6, 32, True)]
QUICK = [("small", 128, 32, 6, 32, False), ("small", 256, 32, 6, 32, False)]


def generator_flops(generator: torch.nn.Module, size: int) -> int:
    """FLOPs of one forward pass of one image."""
    x = torch.zeros(1, 3, size, size)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        generator(x)
    return int(counter.get_total_flops())


def _median_time(fn, repeats: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (all threads of this process) of ``fn()``.

    CPU seconds hardly change when other processes share the cores; wall seconds do."""
    fn()  # warm-up (allocations, kernel selection)
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def measure(size: int, ngf: int, n_blocks: int, ndf: int, attention: bool, batch: int = 1,
            repeats: int = 5, channels_last: bool = False) -> dict[str, Any]:
    cfg = TrainConfig(steps=10, decay_steps=0, batch_size=batch, channels_last=channels_last)
    cfg.model.image_size, cfg.model.ngf, cfg.model.n_blocks, cfg.model.ndf = size, ngf, n_blocks, ndf
    cfg.model.attention = attention
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, Path(tmp))
    g = torch.Generator().manual_seed(0)
    batch_data = {"A": torch.rand(batch, 3, size, size, generator=g) * 2 - 1,
                  "B": torch.rand(batch, 3, size, size, generator=g) * 2 - 1}
    step_s, step_cpu = _median_time(lambda: trainer.train_step(batch_data), repeats)
    generator = trainer.G.eval()
    flops = generator_flops(generator, size)
    infer_batch = 8 if size <= 128 else 4
    x = torch.rand(infer_batch, 3, size, size) * 2 - 1
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def infer() -> None:
        with torch.inference_mode():
            generator(x)

    infer_s, infer_cpu = _median_time(infer, repeats)
    images_s = infer_batch / infer_s
    return {"size": size, "ngf": ngf, "n_blocks": n_blocks, "ndf": ndf, "attention": attention,
            "train_batch": batch, "train_step_s": step_s, "train_step_cpu_s": step_cpu, "infer_images_s": images_s,
            "infer_cpu_s_per_image": infer_cpu / infer_batch,
            "generator_gflop": flops / 1e9, "infer_gflop_s": flops * images_s / 1e9,
            "infer_gflop_per_cpu_s": flops / 1e9 / (infer_cpu / infer_batch),
            "generator_params": sum(p.numel() for p in generator.parameters())}


def run(quick: bool = False, threads: int | None = None) -> dict[str, Any]:
    """Measure every configuration, print a table, return ``{"threads", "rows"}``."""
    if threads:
        torch.set_num_threads(threads)
    load = os.getloadavg()[0]
    rows = []
    for label, size, ngf, n_blocks, ndf, channels_last in QUICK if quick else FULL:
        for attention in (True, False):
            row = measure(size, ngf, n_blocks, ndf, attention, repeats=2 if quick else 5, channels_last=channels_last)
            row["config"] = label
            rows.append(row)
    result = {"threads": torch.get_num_threads(), "torch": torch.__version__, "load": load, "rows": rows}
    print(format_table(result))
    return result


def format_table(result: dict[str, Any]) -> str:
    head = ("| config | size | attention | params (M) | GFLOP/image | train s/step (batch 1) | train CPU-s/step "
            "| infer images/s | infer CPU-s/image | infer GFLOP/s | infer GFLOP per CPU-s |")
    lines = [f"torch {result['torch']}, {result['threads']} threads, load average {result['load']:.1f} at the start",
             "", head, "|" + "---|" * 11]
    for r in result["rows"]:
        lines.append(f"| {r['config']} (ngf {r['ngf']}, {r['n_blocks']} blocks) | {r['size']} | "
                     f"{'on' if r['attention'] else 'off'} | {r['generator_params'] / 1e6:.2f} | "
                     f"{r['generator_gflop']:.1f} | {r['train_step_s']:.3f} | {r['train_step_cpu_s']:.3f} | "
                     f"{r['infer_images_s']:.1f} | {r['infer_cpu_s_per_image']:.3f} | {r['infer_gflop_s']:.1f} | "
                     f"{r['infer_gflop_per_cpu_s']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpaint.benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer configurations and repeats")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    run(args.quick, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
