"""Speed of the model: training step time, inference images/s, generator FLOPs and GFLOP/s.

``run(quick)`` measures the released recipe (``inpaint/configs/cl-attn.yaml``: 128x128,
luminance, mask given, SN-PatchGAN + AlexNet-projected critic, batch 4) in bfloat16 and float32
autocast and, in the full run, its variants: pixel critic only, VGG16-projected critic, no
attention (``cut``), the supervised baseline, and CUT's default generator size (ngf 64, 9
blocks). Batches are synthetic (the data pipeline is not timed); threads are torch's default
unless ``threads`` is given. FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode``
(2 per multiply-add, convolutions and matrix products only) for one image through the
generator. On a CPU without native bfloat16 the bf16 rows run (and say they ran) float32.
Times are medians of wall seconds and of CPU seconds (the latter barely move when
other processes share the machine). Called by ``bench perf``; also
``python -m inpaint.benchmark [--quick]``.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from inpaint.config import TrainConfig, config_from_dict, load_config
from inpaint.train import Trainer

CONFIGS = Path(__file__).resolve().parent / "configs"
# (label, overrides of the released config)
FULL = [("released, bf16", {}), ("released, fp32", {"bf16": False}),
        ("pixel critic only", {"model": {"projected_d": ""}}), ("VGG16-projected critic", {"model": {"projected_d": "vgg"}}),
        ("no attention (cut)", {"model": {"attention": False}}),
        ("supervised (unet-paired)", {"config": "unet-paired"}),
        ("ngf 64, 9 blocks", {"model": {"ngf": 64, "n_blocks": 9}})]
QUICK = FULL[:2]


def released_config(overrides: dict[str, Any]) -> TrainConfig:
    """The released config (or ``overrides["config"]``) with ``overrides`` applied, 10 steps."""
    overrides = copy.deepcopy(overrides)
    raw = load_config(CONFIGS / f"{overrides.pop('config', 'cl-attn')}.yaml").to_dict()
    for key, value in overrides.items():
        if isinstance(value, dict):
            raw[key].update(value)
        else:
            raw[key] = value
    raw.update({"steps": 10, "decay_steps": 0, "threads": 0})
    return config_from_dict(raw)


def _inputs(cfg: TrainConfig, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    size = cfg.model.image_size
    x = torch.rand(batch, cfg.model.channels, size, size, generator=g) * 2 - 1
    mask = torch.zeros(batch, 1, size, size, dtype=torch.bool)
    mask[:, :, size // 2:size - size // 8, size // 6:size - size // 6] = True
    return x, mask


def generator_flops(generator: torch.nn.Module, cfg: TrainConfig) -> int:
    """FLOPs of one forward pass of one image."""
    x, mask = _inputs(cfg, 1)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        generator(x, mask)
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


def measure(cfg: TrainConfig, repeats: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, Path(tmp))
    batch, size = cfg.batch_size, cfg.model.image_size
    g = torch.Generator().manual_seed(0)
    batch_data = {"A": torch.rand(batch, 3, size, size, generator=g) * 2 - 1,
                  "B": torch.rand(batch, 3, size, size, generator=g) * 2 - 1,
                  "mask_A": _inputs(cfg, batch)[1][:, 0]}
    if cfg.loss.supervised:
        batch_data["A_clean"] = torch.rand(batch, 3, size, size, generator=g) * 2 - 1
    step_s, step_cpu = _median_time(lambda: trainer.train_step(batch_data), repeats)
    generator = trainer.G.eval()
    flops = generator_flops(generator, cfg)
    infer_batch = 8
    x, mask = _inputs(cfg, infer_batch, seed=1)

    def infer() -> None:
        with torch.inference_mode():
            generator(x, mask)

    infer_s, infer_cpu = _median_time(infer, repeats)
    images_s = infer_batch / infer_s
    m = cfg.model
    return {"size": size, "ngf": m.ngf, "n_blocks": m.n_blocks, "attention": m.attention, "bf16": trainer.bf16,
            "train_batch": batch, "train_step_s": step_s, "train_step_cpu_s": step_cpu,
            "train_images_s": batch / step_s, "infer_images_s": images_s,
            "infer_cpu_s_per_image": infer_cpu / infer_batch,
            "generator_gflop": flops / 1e9, "infer_gflop_s": flops * images_s / 1e9,
            "generator_params": sum(p.numel() for p in generator.parameters())}


def run(quick: bool = False, threads: int | None = None) -> dict[str, Any]:
    """Measure every configuration, print a table, return ``{"threads", "rows"}``."""
    if threads:
        torch.set_num_threads(threads)
    load = os.getloadavg()[0]
    rows = []
    for label, overrides in QUICK if quick else FULL:
        cfg = released_config(overrides)
        row = measure(cfg, repeats=2 if quick else 5)
        row["config"] = label if row["bf16"] == cfg.bf16 else f"{label} (ran float32: no native bf16 on this CPU)"
        rows.append(row)
    result = {"threads": torch.get_num_threads(), "torch": torch.__version__, "load": load, "rows": rows}
    print(format_table(result))
    return result


def format_table(result: dict[str, Any]) -> str:
    head = ("| config | params (M) | GFLOP/image | train s/step | train CPU-s/step | train images/s "
            "| infer images/s | infer CPU-s/image | infer GFLOP/s |")
    lines = [f"torch {result['torch']}, {result['threads']} threads, load average {result['load']:.1f} at the start; "
             f"128x128, training batch {result['rows'][0]['train_batch']}, inference batch 8",
             "", head, "|" + "---|" * 9]
    for r in result["rows"]:
        lines.append(f"| {r['config']} | {r['generator_params'] / 1e6:.2f} | {r['generator_gflop']:.2f} | "
                     f"{r['train_step_s']:.3f} | {r['train_step_cpu_s']:.3f} | {r['train_images_s']:.2f} | "
                     f"{r['infer_images_s']:.1f} | {r['infer_cpu_s_per_image']:.3f} | {r['infer_gflop_s']:.1f} |")
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
