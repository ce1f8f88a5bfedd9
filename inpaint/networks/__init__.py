"""Networks of the inpainting model: generator (with feature attention) and PatchGAN discriminator."""
from inpaint.networks.discriminator import PatchDiscriminator
from inpaint.networks.generator import Generator

__all__ = ["Generator", "PatchDiscriminator"]
