"""Identity consistency without a clean twin: the inpainted face should keep the identity that a
face recognizer reads from the occluded input.

``ID = 1 - cos(FaceNet(G(x)), FaceNet(x))`` per image, with the input's embedding detached. It
compares an output with its own input only (as PatchNCE does), never with the clean version of
the face, so training stays unpaired. A recognizer reads identity mostly from the visible upper
face and partly ignores an occluder; a fill that invents a lower face of somebody else moves
the embedding away, and this term pushes the fill towards lower faces that agree with the
identity of the visible part.

The recognizer is FaceNet 20180408-102900 (:mod:`bench.recognizers.facenet_torch`, the weights of the
benchmark's ``facenet`` asset), frozen. The benchmark scores verification with FaceNet too, so
the tables treat dlib's ResNet, which no loss sees, as the independent judge. ``recognizer="dlib"``
uses dlib's ResNet instead (:mod:`bench.recognizers.dlib_torch`), for the pilot that puts that
judge in the loss too (``loss.lambda_id_dlib``, docs/model.md).

Crop: the benchmark aligns each face to the recognizer's crop from its landmarks; training
batches are flipped and jittered, so one fixed crop is used instead, the mean of the per-face
crop transforms over the training pool (:func:`mean_crop_theta`, :func:`mean_dlib_chip_theta`),
taken differentiably with ``grid_sample``.
"""
from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.landmarks import five_point
from bench.recognizers.facenet import ASSET_NAME, SIZE, crop_matrix
from bench.recognizers.dlib_torch import CHIP_SIZE, DlibFaceResNet
from bench.recognizers.facenet_torch import InceptionResnetV1, load_graph_weights, prewhiten

#: crop side and embedding size of the recognizers an identity term can use
RECOGNIZERS = {"facenet": (SIZE, 512), "dlib": (CHIP_SIZE, 128)}


def _homogeneous(matrix: np.ndarray) -> np.ndarray:
    return np.vstack([matrix, [0.0, 0.0, 1.0]])


def mean_crop_theta(landmarks: np.ndarray, image_size: int, size: int = SIZE) -> torch.Tensor:
    """The ``2 x 3`` ``affine_grid`` matrix (crop -> image, normalised coordinates, corners not
    aligned) of the mean FaceNet crop of faces with 68-point ``landmarks`` in square images of
    side ``image_size``."""
    mean = np.mean([crop_matrix(p) for p in five_point(np.asarray(landmarks, dtype=np.float64))], axis=0)
    return _grid_theta(mean, image_size, size)


def mean_dlib_chip_theta(landmarks: np.ndarray, image_size: int) -> torch.Tensor:
    """As :func:`mean_crop_theta`, for the mean of dlib's 150 x 150 chips (``get_face_chip``)."""
    from bench.recognizers.dlib_resnet import DlibResNet

    return _grid_theta(DlibResNet(backend="dlib").chip_matrices(landmarks).mean(axis=0), image_size, CHIP_SIZE)


def _grid_theta(crop_from_image_px: np.ndarray, image_size: int, size: int) -> torch.Tensor:
    crop_from_image = _homogeneous(crop_from_image_px)
    # normalised -> pixel (centres at (2i + 1) / n - 1) for the crop, pixel -> normalised for the image
    crop_px = np.array([[size / 2, 0, size / 2 - 0.5], [0, size / 2, size / 2 - 0.5], [0, 0, 1]])
    image_norm = np.array([[2 / image_size, 0, 1 / image_size - 1], [0, 2 / image_size, 1 / image_size - 1], [0, 0, 1]])
    theta = image_norm @ np.linalg.inv(crop_from_image) @ crop_px
    return torch.tensor(theta[:2], dtype=torch.float32)


def load_dlib() -> DlibFaceResNet:
    """dlib's ResNet in torch with the weights of the benchmark's ``dlib`` recognizer."""
    from bench.recognizers.dlib_resnet import default_model_path

    return DlibFaceResNet.from_file(default_model_path()).requires_grad_(False)


def load_facenet() -> InceptionResnetV1:
    """FaceNet in torch from the benchmark's verified asset (fetched like the other weights)."""
    from bench.assets import resolve

    path = resolve(ASSET_NAME, fetch=True, log=lambda m: print(m, file=sys.stderr))
    return load_graph_weights(InceptionResnetV1(), path).requires_grad_(False)


class EmbeddingQueue(nn.Module):
    """The last ``size`` occluded-input embeddings seen in training, newest first: the
    contrastive term's extra negatives. Its buffers are part of the trainer's resume state, so a
    resumed run sees the same negatives as an uninterrupted one."""

    def __init__(self, size: int, dim: int = 512) -> None:
        super().__init__()
        self.register_buffer("memory", torch.zeros(size, dim))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    def embeddings(self) -> torch.Tensor:
        return self.memory[: int(self.filled)]

    def push(self, embeddings: torch.Tensor) -> None:
        size = len(self.memory)
        self.memory.copy_(torch.cat([embeddings.detach().to(self.memory), self.memory])[:size])
        self.filled.fill_(min(int(self.filled) + len(embeddings), size))


class IdentityLoss(nn.Module):
    """``1 - cos`` between the embeddings of an output and of its input (detached), per image.

    ``theta``: the crop from the model frame (:func:`mean_crop_theta` for FaceNet,
    :func:`mean_dlib_chip_theta` for dlib, scaled to the frame the images come in). Images are
    ``N x C x S x S`` in [-1, 1], C = 1 (luminance) or 3.
    """

    def __init__(self, theta: torch.Tensor, net: nn.Module | None = None, queue: int = 0,
                 temperature: float = 0.1, recognizer: str = "facenet") -> None:
        super().__init__()
        if recognizer not in RECOGNIZERS:
            raise ValueError(f"recognizer must be one of {sorted(RECOGNIZERS)}, got {recognizer!r}")
        self.recognizer = recognizer
        self.size, self.dim = RECOGNIZERS[recognizer]
        if net is None:
            net = load_facenet() if recognizer == "facenet" else load_dlib()
        self.net = net.requires_grad_(False).eval()
        self.register_buffer("theta", theta.float(), persistent=False)
        self.temperature = float(temperature)
        self.memory = EmbeddingQueue(int(queue), self.dim) if queue > 0 else None

    @property
    def queue(self) -> torch.Tensor:
        """The queued input embeddings, newest first (none without a queue)."""
        return self.memory.embeddings() if self.memory is not None else torch.zeros(0, self.dim)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings of ``N x C x S x S`` images in [-1, 1]."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        n, size = images.shape[0], self.size
        grid = F.affine_grid(self.theta.expand(n, 2, 3), [n, 3, size, size], align_corners=False)
        pixels = (images.float() + 1) * 127.5  # outside the image the crop is black, as the benchmark's
        crops = F.grid_sample(pixels, grid.to(images.device), mode="bilinear", padding_mode="zeros", align_corners=False)
        if self.recognizer == "facenet":
            return self.net(prewhiten(crops))
        return F.normalize(self.net(crops.permute(0, 2, 3, 1)), dim=1)  # dlib takes H x W x C chips

    def forward(self, output: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return self.terms(output, source)["ID"]

    def terms(self, output: torch.Tensor, source: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per image, by the trainer's loss names:

        - ``ID``: ``1 - cos`` to its own input.
        - ``ID_NCE``: the InfoNCE loss of telling an output's own input apart from the inputs of
          the other faces in the batch and of the last ``queue`` occluded inputs seen in training
          (their embeddings, detached): the fill should carry *this* person's identity, not a
          generic lower face that every input is equally close to. Zeros without a queue.
        - ``ID_SHIFT``: how far the embedding's move from input to output, ``FaceNet(G(x)) -
          FaceNet(x)``, lies from the batch's mean move (squared L2). Removing a mask must move
          every embedding somewhere; a move common to all faces carries no identity, while a
          fill that invents a lower face of its own moves each face differently.

        Outputs are compared with occluded inputs only, so training stays unpaired.
        """
        with torch.no_grad():
            target = self.embed(source).float()
        embedding = self.embed(output).float()
        own = (embedding * target).sum(dim=1)
        move = embedding - target
        terms = {"ID": 1 - own, "ID_NCE": torch.zeros_like(own),
                 "ID_SHIFT": (move - move.mean(dim=0, keepdim=True)).pow(2).sum(dim=1)}
        if self.memory is None:
            return terms
        others = torch.cat([target, self.queue])
        logits = embedding @ others.T / self.temperature
        terms["ID_NCE"] = F.cross_entropy(logits, torch.arange(len(own), device=logits.device), reduction="none")
        if torch.is_grad_enabled():  # a training step: later batches see these inputs as negatives
            self.memory.push(target)
        return terms

    def train(self, mode: bool = True) -> IdentityLoss:
        super().train(mode)
        self.net.eval()  # the recognizer's batch norm keeps its statistics
        return self
