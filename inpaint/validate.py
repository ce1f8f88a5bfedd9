"""Validation during training: KID, LPIPS, PSNR inside the mask and identity on faces held out of the pool.

The validation faces (``data.val_images``) are carved from the training pool, never from
pairs.txt, and are never trained on. Each is occluded once with a fixed style and seed (the
styles in turn), inpainted at its own resolution exactly as the benchmark does
(:func:`inpaint.inference.inpaint_batch`), and scored against its clean original with the
benchmark's own metrics. Only this measurement sees the clean originals; no loss does.

Identity: ``id_dlib`` is the mean cosine similarity between dlib's ResNet embeddings of each
output and of its clean original (aligned on the clean face's landmarks, as the benchmark's
verification does); ``id_dlib_masked`` is the same for the occluded input, the level an
inpainting must beat to help verification. No loss uses dlib, so this is an independent check
of the identity term (which uses FaceNet). ``id_auc`` and ``id_top1`` rank identity among the
validation faces: the share of other faces whose clean original is less similar to an output
than its own original, and how often its own original is the most similar of all (the occluded
input's levels are ``id_auc_masked`` and ``id_top1_masked``). They follow verification more
closely than the mean cosine, which a fill can raise without becoming more distinctive.
"""
from __future__ import annotations

import numpy as np
import torch

from bench.masks import occlude
from bench.metrics.fid import inception_features, kernel_inception_distance
from bench.metrics.lpips_metric import lpips_distances, lpips_network
from bench.metrics.pixel import PSNRMask
from bench.recognizers.dlib_resnet import DlibResNet
from inpaint.data import UnpairedFaces
from inpaint.inference import inpaint_batch
from inpaint.networks.region import RegionGenerator


def ranking(embeddings: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    """(own-vs-others AUC, top-1) of embeddings against those of the clean originals, by cosine."""
    sims = embeddings @ clean.T
    own = np.diag(sims)
    auc = float(((sims < own[:, None]).sum(axis=1) / (len(own) - 1)).mean())
    return auc, float((sims.argmax(axis=1) == np.arange(len(own))).mean())


class Validator:
    """Scores a generator on the held-out faces of ``data``; the clean features are computed once."""

    def __init__(self, data: UnpairedFaces, seed: int, device: torch.device | str = "cpu", batch_size: int = 16,
                 flip_average: bool = False) -> None:
        styles = data.cfg.mask_styles
        occluded = [occlude(image, marks, styles[i % len(styles)], seed + i, face.id)
                    for i, (image, marks, face) in enumerate(zip(data.val_images, data.val_landmarks, data.val_faces))]
        self.clean = data.val_images
        self.masked = np.stack([o[0] for o in occluded])
        self.masks = np.stack([o[1] for o in occluded])
        self.device, self.batch_size, self.flip_average = str(device), batch_size, flip_average
        self.clean_features = inception_features(self.clean, device=self.device)
        self.lpips = lpips_network("alex", self.device)
        self.landmarks = data.val_landmarks
        self.dlib = DlibResNet()
        self.clean_identity = self.dlib.embed(self.clean, self.landmarks)
        self.masked_identity = self._identity(self.masked)

    def _identity(self, images: np.ndarray) -> dict[str, float]:
        embeddings = self.dlib.embed(images, self.landmarks)
        auc, top1 = ranking(embeddings, self.clean_identity)
        return {"id_dlib": float((embeddings * self.clean_identity).sum(axis=1).mean()), "id_auc": auc, "id_top1": top1}

    def outputs(self, generator: RegionGenerator) -> np.ndarray:
        generator.eval()
        return np.concatenate([
            inpaint_batch(generator, self.masked[i:i + self.batch_size], self.masks[i:i + self.batch_size], self.device,
                          self.flip_average)
            for i in range(0, len(self.masked), self.batch_size)])

    def __call__(self, generator: RegionGenerator) -> dict[str, float]:
        return self.score(self.outputs(generator))

    def score(self, out: np.ndarray) -> dict[str, float]:
        """The validation scores of inpainted faces (in the order of the validation faces)."""
        kid = kernel_inception_distance(self.clean_features, inception_features(out, device=self.device))[0]
        return {"kid": kid, "lpips": float(lpips_distances(self.lpips, self.clean, out).mean()),
                "psnr_mask": float(np.nanmean(PSNRMask().per_image(self.clean, out, self.masks))),
                **self._identity(out), **{f"{k}_masked": v for k, v in self.masked_identity.items()}}
