"""The model card written next to a checkpoint: what the network is, how and how long it was trained."""
from __future__ import annotations

import os
from pathlib import Path
from datetime import datetime, timezone
from typing import Any

from bench.atomic import write_json
from inpaint.data import SPLIT_RULES
from inpaint.logs import peak_memory_mb


def _last_row(path: Any) -> dict | None:
    import csv

    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {k: float(v) for k, v in rows[-1].items() if v not in ("", None)} if rows else None


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
        identity_terms = [
            (l.lambda_id, "identity consistency 1 - cos(FaceNet(output), FaceNet(input)) with the input's "
                          "embedding detached"),
            (l.lambda_id_nce, f"contrastive identity (InfoNCE, T={l.id_temperature}: the output's FaceNet embedding "
                              f"against its own input's and those of the batch and the last {l.id_queue} inputs)"),
            (l.lambda_id_shift, "identity-neutral fill (each face's FaceNet embedding move from input to output "
                                "against the batch's mean move, squared L2)"),
            (l.lambda_id_dlib, "identity consistency through dlib's ResNet, 1 - cos(dlib(output), dlib(input)); "
                               "dlib's verification scores are then not independent of training"),
        ]
        training += "".join(f"; {text}, weight {weight}" for weight, text in identity_terms if weight > 0)
    if cfg.ema > 0:
        training += f"; released weights: exponential moving average of the generator (decay {cfg.ema})"
    return (f"{'luminance' if m.channels == 1 else 'RGB'} ResNet generator at {m.image_size}x{m.image_size}: 7x7 conv "
            f"(ngf={m.ngf}), two stride-2 convs, {m.n_blocks} residual blocks, {attention}, two transposed convs"
            f"{' with U-Net skips' if m.skips else ''}, 7x7 conv + tanh; {REGIONS[m.region]}; {training}")


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


SCORES = (("psnr", "PSNR", 2), ("ssim", "SSIM", 4), ("lpips", "LPIPS", 4), ("psnr-mask", "PSNR (mask)", 2),
          ("fid", "FID", 1), ("kid", "KID", 4))


def _scores(metrics_csv: Path, method: str) -> list[str]:
    """Markdown lines: the method's image scores and verification accuracies from a run's metrics.csv."""
    import pandas as pd

    frame = pd.read_csv(metrics_csv, keep_default_na=False)
    rows = frame[(frame.method == method) | frame.method.str.startswith(method + " (")]  # a protocol label
    if rows.empty:
        return [f"_{metrics_csv} has no rows for {method!r}._"]
    lines = [f"From `{metrics_csv}`:", ""]
    for mask, group in rows.groupby("mask"):
        values = {r.metric: float(r.value) for r in group.itertuples() if r.recognizer == ""}
        shown = [(label, f"{values[k]:.{digits}f}") for k, label, digits in SCORES if k in values]
        if shown:
            lines += [f"| {mask} | " + " | ".join(label for label, _ in shown) + " |",
                      "|---|" + "--:|" * len(shown), "| | " + " | ".join(v for _, v in shown) + " |", ""]
        accuracy = [f"{r.recognizer} {100 * float(r.value):.2f}%" for r in group.itertuples() if r.metric == "acc"]
        if accuracy:
            lines += [f"Verification accuracy ({mask}): " + ", ".join(accuracy), ""]
    return lines


def markdown(card: dict, scores: Path | None = None) -> str:
    """A short human-readable model card from the JSON card (and a benchmark run's scores)."""
    data, val = card["data"], card.get("validation_last")
    lines = [f"# Model card: {card['name']}", "",
             f"- **Training:** {card.get('training', 'unpaired')}; {card['state']}.",
             f"- **Architecture:** {card['architecture']}.",
             f"- **Parameters:** {card['generator_parameters'] / 1e6:.2f} M (generator).",
             f"- **Data:** {data['dataset']}; {data['split_rule_text']}; {data['training_images']} training faces, "
             f"{data.get('validation_images', 0)} held out for validation (`{data['split_file']}`); "
             f"masks: {', '.join(data['mask_styles'])}.",
             f"- **Compute:** {card['steps_trained']} steps of batch {card['batch_size']} "
             f"({card['images_seen_per_domain']} images per domain), {card['training_seconds'] / 3600:.2f} h wall, "
             f"{card.get('cpu_hours', 0):.2f} CPU-hours, on {card['device']}; peak memory "
             f"{card.get('peak_memory_mb', 0) / 1024:.2f} GB.",
             f"- **Weights:** `{card['weights']}` (sha256 `{card['sha256'][:16]}...`); resume state `{card['resume']}` "
             "(kept in the tree only while the run continues).",
             f"- **Logs:** `{card['train_log']}` (losses), `{card.get('validation_log')}` (validation)."]
    if val:
        lines.append(f"- **Last validation** (step {int(val['step'])}, one pass): KID {val['kid']:.4f}, "
                     f"LPIPS {val['lpips']:.4f}, PSNR in the mask {val['psnr_mask']:.2f} dB"
                     + (f", dlib identity {val['id_dlib']:.4f} (occluded input {val['id_dlib_masked']:.4f})"
                        if val.get("id_dlib") is not None else "") + ".")
    lines += ["- **Limits:** trained on grayscale 160x160 LFW crops at 128x128; a colour photo's hidden region "
              "is filled in gray; the face photos are for research use only.", ""]
    if scores is not None:
        lines += ["## Benchmark scores", "", *_scores(Path(scores), card["name"])]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m inpaint.card", description="Render a model card as markdown.")
    parser.add_argument("card", type=Path, help="the JSON card, e.g. inpaint/weights/cl-attn.json")
    parser.add_argument("--scores", type=Path, help="a run's metrics.csv whose rows for this model to include")
    parser.add_argument("--out", type=Path, help="write here (default: the card's path with .md)")
    args = parser.parse_args(argv)
    out = args.out or args.card.with_suffix(".md")
    out.write_text(markdown(json.loads(args.card.read_text(encoding="utf-8")), args.scores), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
