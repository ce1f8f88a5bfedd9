"""``bench export METHOD OUT.onnx [--checkpoint PATH]``: the generator of a trained model as ONNX.

``METHOD`` is one of the model's inpainters (``cl-attn``, ``cut``, ``unet-paired``); the
released checkpoint is used unless ``--checkpoint`` names another. The file is checked against
the torch network with onnxruntime before the command reports success (inputs, outputs and
conventions: :mod:`inpaint.export`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bench import registry
from bench.api import BenchError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method", metavar="METHOD", help="a model inpainter: cl-attn, cut or unet-paired")
    parser.add_argument("out", type=Path, metavar="OUT.onnx", help="where the ONNX file is written")
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint (.safetensors) instead of the released one")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")


def run(args: argparse.Namespace) -> int:
    from inpaint.export import export_onnx
    from inpaint.inpainter import ModelInpainter

    cls = registry.resolve("inpainter", args.method)
    if not (isinstance(cls, type) and issubclass(cls, ModelInpainter)):
        raise BenchError(f"{args.method!r} is not one of the model's inpainters (cl-attn, cut, unet-paired)")
    model = cls(checkpoint=args.checkpoint, device="cpu")
    diff = export_onnx(model.generator, args.out, opset=args.opset)
    m = model.config.model
    print(f"wrote {args.out}: {args.method} at step {model.step}, {m.image_size}x{m.image_size}, "
          f"{m.channels} channel(s), region {m.region}; max difference from torch {diff:.1e}")
    return 0
