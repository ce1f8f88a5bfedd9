"""``bench train CONFIG.yaml [--resume] [--steps N] [--out DIR]``: train the inpainting model."""
from __future__ import annotations

import argparse

from inpaint import train as trainer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    trainer.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return trainer.run(args)
