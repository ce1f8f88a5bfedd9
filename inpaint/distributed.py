"""Where a training process runs: its rank in a torchrun job (gloo on CPU, nccl on CUDA), its device,
and whether its CPU computes bfloat16 natively."""
from __future__ import annotations

import os

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
    times slower than float32 (a training step 25x on an AVX2-only EPYC; docs/model.md)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)
