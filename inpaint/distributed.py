"""Where a training process runs: its rank in a torchrun job (gloo on CPU, nccl on CUDA), its device,
and whether its CPU computes bfloat16 natively."""
from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist


def init_process() -> tuple[int, int, bool]:
    """(rank, world size, data-parallel?): joins the process group when torchrun started several."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), True
    return 0, 1, False


def process_device(rank: int) -> torch.device:
    """This process's GPU (by LOCAL_RANK) when CUDA is present, else the CPU."""
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count()
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def cpu_has_native_bf16() -> bool:
    """True when the CPU has AVX-512 BF16 or AMX; elsewhere bf16 autocast is emulated and many
    times slower than float32 (a training step about 25x on an AVX2-only EPYC; docs/model.md)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def use_cpu_bf16(requested: bool, device: torch.device, announce: bool) -> bool:
    """Whether to autocast to bfloat16 on this CPU: only when asked and native; says so when not."""
    if not requested or device.type != "cpu":
        return False
    if not cpu_has_native_bf16():
        if announce:
            print("bf16: this CPU has no native bfloat16 (AVX-512 BF16 or AMX); training in float32", file=sys.stderr)
        return False
    return True
