"""The model card written next to a checkpoint: what the network is, how and how long it was trained."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from bench.atomic import write_json
from inpaint.data import SPLIT_RULES


def describe_architecture(cfg: Any) -> str:
    m = cfg.model
    attention = ("channel + spatial attention (CBAM-style) and SAGAN self-attention after block "
                 f"{m.n_blocks // 2}" if m.attention else "no attention module (CUT's generator)")
    norm = "spectral norm on every convolution" if m.spectral_norm else "no spectral norm"
    return (f"ResNet generator at {m.image_size}x{m.image_size}: 7x7 conv (ngf={m.ngf}), two stride-2 convs, "
            f"{m.n_blocks} residual blocks, {attention}, two transposed convs, 7x7 conv + tanh; "
            f"PatchGAN discriminator ({m.n_layers_d} stride-2 layers, ndf={m.ndf}, {norm}, norm={m.d_norm}); "
            f"PatchNCE on the generator's 5 declared feature maps, {cfg.loss.num_patches} locations, "
            f"T={cfg.loss.nce_temperature}, identity NCE {'on' if cfg.loss.nce_idt else 'off'}; "
            f"{cfg.loss.gan_mode} GAN loss")


def write_card(trainer: Any, weights_sha256: str) -> None:
    """Write ``<name>.json`` beside the weights (paths in it are relative to the card)."""
    cfg, paths = trainer.cfg, trainer.paths
    folder = paths["card"].parent
    n_params = sum(p.numel() for p in trainer.G.parameters())
    per_step = trainer.seconds / trainer.step if trainer.step else None
    fraction = trainer.step / cfg.steps
    write_json(paths["card"], {
        "name": cfg.name,
        "weights": os.path.relpath(paths["weights"], folder),
        "sha256": weights_sha256,
        "resume": os.path.relpath(paths["resume"], folder),
        "architecture": describe_architecture(cfg),
        "generator_parameters": n_params,
        "image_size": cfg.model.image_size,
        "steps_trained": trainer.step,
        "steps_planned": cfg.steps,
        "batch_size": cfg.batch_size,
        "world_size": trainer.world,
        "images_seen_per_domain": trainer.step * cfg.batch_size * trainer.world,
        "training_seconds": round(trainer.seconds, 1),
        "seconds_per_step": round(per_step, 4) if per_step else None,
        "device": str(trainer.device),
        "data": {"dataset": "LFW (lfw-gray, research use only)", "split_rule": cfg.data.split,
                 "split_rule_text": SPLIT_RULES[cfg.data.split], "training_images": len(trainer.data),
                 "split_file": os.path.relpath(paths["split"], folder), "mask_styles": cfg.data.mask_styles},
        "train_log": os.path.relpath(paths["log"], folder),
        "samples": os.path.relpath(paths["samples"], folder),
        "config": cfg.to_dict(),
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "state": (f"trained {trainer.step} of {cfg.steps} planned steps ({100 * fraction:.1f}%), batch "
                  f"{cfg.batch_size}, on {trainer.device}; " + (
                      "far from converged: CUT trains about 400 epochs of its dataset; treat results as a "
                      "lower bound of what the method can do" if fraction < 1 else "the planned schedule is complete")),
    })
