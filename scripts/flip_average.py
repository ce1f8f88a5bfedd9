"""Score checkpoints on the training pool's validation faces with one pass and with flip averaging.

    BENCH_DATA=../shared/data python scripts/flip_average.py inpaint/weights/cl-attn.safetensors [...]

For each checkpoint and test-time mode it prints the validation scores of training (KID, LPIPS,
PSNR in the mask, dlib identity), plus two ranking scores of identity among the validation faces.
"own-vs-others AUC" is the share of other faces whose clean original is less similar (dlib
cosine) to the output than its own original. "top-1" is how often its own original is the most
similar of all. The occluded input's row is the level an inpainting must beat to help
verification. The faces come from the release config's split (``data.val_images``), never
from pairs.txt.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from inpaint.checkpoint import load_generator
from inpaint.config import load_config
from inpaint.data import UnpairedFaces
from inpaint.validate import Validator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--config", type=Path, default=Path("inpaint/configs/cl-attn.yaml"),
                        help="the config whose validation split is used")
    parser.add_argument("--cache", type=Path, default=Path("inpaint/weights/landmarks-cache"))
    parser.add_argument("--one-pass", action="store_true", help="score one pass only (no flip averaging)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.config)
    validator = Validator(UnpairedFaces(cfg.data, cfg.model.image_size, cfg.seed, args.cache), cfg.seed)
    print("| checkpoint | test time | KID | LPIPS | PSNR (mask) | dlib identity | own-vs-others AUC | top-1 |")
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    for path in args.checkpoints:
        generator, _ = load_generator(path, "cpu")
        for flip in (False,) if args.one_pass else (False, True):
            validator.flip_average = flip
            outputs = validator.outputs(generator)
            scores = validator.score(outputs)
            print(f"| {path.name} | {'flip average' if flip else 'one pass'} | {scores['kid']:.4f} | {scores['lpips']:.4f} "
                  f"| {scores['psnr_mask']:.2f} | {scores['id_dlib']:.4f} | {scores['id_auc']:.4f} "
                  f"| {scores['id_top1']:.3f} |", flush=True)
    masked = validator.masked_identity
    print(f"| occluded input | | | | | {masked['id_dlib']:.4f} | {masked['id_auc']:.4f} | {masked['id_top1']:.3f} |")


if __name__ == "__main__":
    main()
