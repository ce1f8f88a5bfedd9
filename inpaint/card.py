"""The model card written next to a checkpoint: what the network is, how and how long it was trained."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from bench.atomic import write_json
from inpaint.data import SPLIT_RULES


def _last_row(path: Any) -> dict | None:
    import csv

    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {k: float(v) for k, v in rows[-1].items()} if rows else None


REGIONS = {"given": "output = a*c + (1-a)*x with a = the given mask, dilated and feathered",
           "learned": "output = a*c + (1-a)*x with a learned soft region map a (blind)",
           "none": "the whole image regenerated"}


def describe_architecture(cfg: Any) -> str:
    m, l = cfg.model, cfg.loss
    attention = ("channel + spatial attention (CBAM-style) and SAGAN self-attention after block "
                 f"{m.n_blocks // 2}" if m.attention else "no attention module (CUT's generator)")
    norm = "spectral norm on every convolution" if m.spectral_norm else "no spectral norm"
    critics = []
    if m.pixel_d:
        critics.append(f"PatchGAN discriminator ({m.n_layers_d} stride-2 layers, ndf={m.ndf}, {norm}, norm={m.d_norm})")
    if m.projected_d:
        critics.append(f"heads on frozen LPIPS {m.projected_d} features (weight {l.lambda_projected})")
    if l.supervised:
        training = f"supervised on synthetic pairs: L1 (x{l.lambda_l1}) + LPIPS VGG (x{l.lambda_perceptual})"
    else:
        training = (" + ".join(critics) + f"{', DiffAugment' if l.diff_augment else ''}; PatchNCE on the generator's 5 "
                    f"declared feature maps, {l.num_patches} locations, T={l.nce_temperature}, weight {l.lambda_nce}, "
                    f"locations inside the region sampled with weight {l.nce_hole_weight}, identity NCE "
                    f"{'on' if l.nce_idt else 'off'}; {l.gan_mode} GAN loss")
    return (f"{'luminance' if m.channels == 1 else 'RGB'} ResNet generator at {m.image_size}x{m.image_size}: 7x7 conv "
            f"(ngf={m.ngf}), two stride-2 convs, {m.n_blocks} residual blocks, {attention}, two transposed convs"
            f"{' with U-Net skips' if m.skips else ''}, 7x7 conv + tanh; {REGIONS[m.region]}; {training}")


def write_card(trainer: Any, weights_sha256: str) -> None:
    """Write ``<name>.json`` beside the weights (paths in it are relative to the card)."""
    from inpaint.train import peak_memory_mb

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
        "cpu_seconds": round(trainer.cpu_seconds, 1),
        "cpu_hours": round(trainer.cpu_seconds / 3600, 3),
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "training": "supervised on synthetic (masked, clean) pairs" if cfg.loss.supervised else "unpaired",
        "device": str(trainer.device),
        "data": {"dataset": "LFW (lfw-gray, research use only)", "split_rule": cfg.data.split,
                 "split_rule_text": SPLIT_RULES[cfg.data.split], "training_images": len(trainer.data),
                 "split_file": os.path.relpath(paths["split"], folder), "mask_styles": cfg.data.mask_styles,
                 "validation_images": len(trainer.data.val_faces)},
        "train_log": os.path.relpath(paths["log"], folder),
        "validation_log": os.path.relpath(paths["val"], folder) if paths["val"].is_file() else None,
        "validation_last": _last_row(paths["val"]),
        "samples": os.path.relpath(paths["samples"], folder),
        "config": cfg.to_dict(),
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "state": (f"trained {trainer.step} of {cfg.steps} planned steps ({100 * fraction:.1f}%), batch "
                  f"{cfg.batch_size}, on {trainer.device}; " + (
                      "the planned schedule is not complete: results are those of a partly trained model"
                      if fraction < 1 else "the planned schedule is complete")),
    })
