"""Data-parallel training: two CPU processes (gloo) end with identical weights."""
from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, lfw_root: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    import torch.distributed as dist

    from inpaint.config import config_from_dict
    from inpaint.train import train

    cfg = config_from_dict({
        "name": "ddp", "seed": 1, "steps": 3, "decay_steps": 0, "threads": 1, "checkpoint_every": 0,
        "checkpoint_minutes": 0, "log_every": 1,
        "model": {"image_size": 32, "ngf": 4, "n_blocks": 2, "ndf": 4, "n_layers_d": 2},
        "loss": {"num_patches": 16, "mlp_units": 16},
        "data": {"root": lfw_root, "max_images": 8, "jitter": 2},
    })
    trainer = train(cfg, out, progress=False)["trainer"]
    first = trainer.data.batch(0, 1, rank)["A"]
    tensors = {f"{name}.{k}": v.detach().clone().contiguous()
               for name, net in (("G", trainer.G), ("D", trainer.D), ("F", trainer.F))
               for k, v in net.state_dict().items()}
    tensors["first_batch"] = first.contiguous()
    save_file(tensors, os.path.join(out, f"rank{rank}.safetensors"))
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_hold_identical_weights(lfw_root, tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(lfw_root), str(tmp_path)), nprocs=2, join=True)
    r0 = load_file(str(tmp_path / "rank0.safetensors"))
    r1 = load_file(str(tmp_path / "rank1.safetensors"))
    # each process trained on its own batches ...
    assert not torch.equal(r0.pop("first_batch"), r1.pop("first_batch"))
    # ... and the replicas stay identical, and trained
    assert r0.keys() == r1.keys()
    for key in r0:
        assert torch.equal(r0[key], r1[key]), key
    assert (tmp_path / "ddp.safetensors").is_file() and not (tmp_path / "rank2.safetensors").exists()
    with open(tmp_path / "ddp.train.csv") as handle:
        assert [line.split(",")[0] for line in handle][1:] == ["1", "2", "3"]
