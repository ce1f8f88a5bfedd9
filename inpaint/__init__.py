"""The paper's model: unpaired contrastive masked-face inpainting (networks, losses, trainer, plugins)."""
