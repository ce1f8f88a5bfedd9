"""dlib's face recognition ResNet evaluated with torch, with the weights of dlib's own
``dlib_face_recognition_resnet_model_v1.dat`` (the ``dlib-bin`` wheel has no BLAS and is slow).

:func:`read_weights` parses dlib's serialisation of exactly this network (the ``anet_type`` of
dlib's ``face_recognition_model_v1``), :class:`DlibFaceResNet` is the network, and
:func:`face_descriptors` maps 150 x 150 chips cut by ``dlib.get_face_chip`` to dlib's descriptors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.api import BenchError

CHIP_SIZE = 150
DIM = 128
#: (channels, plain blocks) per level from the input up; levels after the first start with a strided block.
LEVELS = ((32, 3), (64, 3), (128, 2), (256, 2), (256, 0))


def _layer_spec() -> list[tuple]:
    """The network's layers from the input up, as dlib nests them (tags and skips included)."""
    def block(n: int, stride: int) -> list[tuple]:
        return [("tag", 1), ("con", n, 3, stride), ("affine", n), ("relu",), ("con", n, 3, 1), ("affine", n)]
    spec: list[tuple] = [("con", 32, 7, 2), ("affine", 32), ("relu",), ("max_pool", 3, 2)]
    for level, (n, plain) in enumerate(LEVELS):
        if level > 0:
            spec += block(n, 2) + [("tag", 2), ("skip", 1), ("avg_pool", 2, 2), ("add_prev",), ("relu",)]
        for _ in range(plain):
            spec += block(n, 1) + [("add_prev",), ("relu",)]
    return spec + [("avg_pool", 0, 1), ("fc", DIM)]


@dataclass
class DlibWeights:
    """Input channel means (R, G, B) and the ``(kind, arrays)`` of every con_ (weight, bias),
    affine_ (gamma, beta) and fc_ (weight as inputs x outputs) layer from the input up."""

    means: tuple[float, float, float]
    layers: list[tuple[str, tuple[np.ndarray, ...]]]


class _Reader:
    """dlib's serialisation primitives over the bytes of one file."""

    def __init__(self, path: Path) -> None:
        self.path, self.pos = path, 0
        try:
            self.data = path.read_bytes()
        except OSError as exc:
            raise BenchError(f"dlib: cannot read {path}: {exc}") from exc

    def fail(self, what: str) -> BenchError:
        return BenchError(f"dlib: {self.path} is not dlib's face recognition ResNet v1 ({what}, at byte {self.pos})")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"the file ends at byte {len(self.data)}" if n >= 0 else f"a negative size {n}")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def int(self, nbytes: int = 8) -> int:
        control = self.take(1)[0]
        size = control & 0x0F
        if size == 0 or size > nbytes or control & 0x70:
            raise self.fail(f"bad integer control byte {control:#04x}")
        value = int.from_bytes(self.take(size), "little")
        return -value if control & 0x80 else value

    def real(self) -> float:
        if self.pos < len(self.data) and self.data[self.pos] & 0x70:
            raise self.fail("a float in dlib's old text format")
        mantissa, exponent = self.int(8), self.int(2)
        if exponent > 900:  # dlib marks inf, -inf and nan with 32000-32002; none belongs in this file
            raise self.fail(f"a float with exponent {exponent}")
        return math.ldexp(mantissa, exponent)

    def ints(self, n: int) -> tuple[int, ...]:
        return tuple(self.int() for _ in range(n))

    def reals(self, n: int) -> tuple[float, ...]:
        return tuple(self.real() for _ in range(n))

    def bool(self) -> bool:
        if (ch := self.take(1)) not in (b"0", b"1"):
            raise self.fail(f"bad bool {ch!r}")
        return ch == b"1"

    def string(self) -> str:
        return self.take(self.int()).decode("latin-1")

    def version(self, allowed: tuple, what: str):
        value = self.string() if isinstance(allowed[0], str) else self.int()
        if value not in allowed:
            raise self.fail(f"{what} version {value!r}, expected one of {allowed}")
        return value

    def expect(self, got, wanted, what: str) -> None:
        if got != wanted:
            raise self.fail(f"{what} is {got}, expected {wanted}")

    def tensor(self) -> np.ndarray:
        self.version((2,), "tensor")
        shape = self.ints(4)
        if min(shape) < 0:
            raise self.fail(f"tensor of shape {shape}")
        return np.frombuffer(self.take(4 * math.prod(shape)), dtype="<f4").astype(np.float32).reshape(shape)

    def alias(self) -> tuple[int, ...]:
        self.version((1,), "alias_tensor")
        return self.ints(4)


def _read_layer(r: _Reader, layer: tuple, channels: int) -> tuple[np.ndarray, ...] | None:
    """One layer's record; returns the con_/affine_/fc_ arrays, None for the others."""
    kind = layer[0]
    if kind == "con":
        n, size, stride = layer[1:]
        version = r.version(("con_4", "con_5", "con_6"), "con_")
        params = r.tensor().ravel()
        pad = 0 if stride != 1 else size // 2
        r.expect(r.ints(7), (n, size, size, stride, stride, pad, pad), "con_ (filters, nr, nc, strides, paddings)")
        r.expect(r.alias(), (n, channels, size, size), "con_ filter shape")
        r.alias(), r.reals(4)
        use_bias = r.bool() if version != "con_4" else True
        r.expect(r.bool() if version == "con_6" else False, False, "con_ use_relu")
        weights = n * channels * size * size
        r.expect(params.size, weights + n * use_bias, "con_ parameter count")
        bias = params[weights:] if use_bias else np.zeros(n, np.float32)
        return params[:weights].reshape(n, channels, size, size), bias
    if kind == "affine":
        version = r.version(("affine_", "affine_2"), "affine_")
        params = r.tensor().ravel()
        r.expect((r.alias(), r.alias()), ((1, channels, 1, 1),) * 2, "affine_ (gamma, beta) shapes")
        r.expect(r.int(), 0, "affine_ mode (0: per channel)")
        r.expect(r.bool() if version == "affine_2" else False, False, "affine_ disabled")
        r.expect(params.size, 2 * channels, "affine_ parameter count")
        return params[:channels], params[channels:]
    if kind == "fc":
        version = r.version(("fc_2", "fc_3"), "fc_")
        r.expect(r.ints(2), (layer[1], channels), "fc_ (outputs, inputs)")
        params = r.tensor().ravel()
        r.expect(r.alias(), (channels, layer[1], 1, 1), "fc_ weight shape")
        r.alias()
        r.expect(r.int(), 1, "fc_ bias mode (1: no bias)")
        r.reals(4)
        if version == "fc_3":
            r.bool()
        r.expect(params.size, channels * layer[1], "fc_ parameter count")
        return (params.reshape(channels, layer[1]),)
    if kind == "relu":
        version = r.version(("relu_", "relu_2"), "relu_")
        r.expect(r.bool() if version == "relu_2" else False, False, "relu_ disabled")
    elif kind == "add_prev":
        r.version(("add_prev_",), "add_prev_")
    else:
        size, stride = layer[1:]
        r.version((f"{kind}_2",), f"{kind}_")
        pad = 0 if stride != 1 else size // 2
        r.expect(r.ints(6), (size, size, stride, stride, pad, pad), f"{kind}_ (nr, nc, strides, paddings)")
    return None


def read_weights(path: str | Path) -> DlibWeights:
    """Parse dlib's ``dlib_face_recognition_resnet_model_v1.dat``; :class:`BenchError` naming the
    file if it is not that network as dlib serialises it."""
    r = _Reader(Path(path))
    spec = _layer_spec()
    r.version((1,), "add_loss_layer")
    if r.version(("loss_metric_", "loss_metric_2"), "loss layer") == "loss_metric_2":
        r.reals(2)
    # Each layer writes its version, then the layers below it, then its own record.
    versions = {}
    for i in reversed(range(len(spec))):
        if spec[i][0] in ("tag", "skip"):
            r.version((1,), f"{spec[i][0]} layer")
        else:
            versions[i] = r.version((2, 3) if i == 0 else (1, 2), "add_layer")
    r.version(("input_rgb_image_sized",), "input layer")
    means = r.reals(3)
    r.expect(r.ints(2), (CHIP_SIZE, CHIP_SIZE), "input size")
    layers, channels = [], 3
    for i in sorted(versions):
        arrays = _read_layer(r, spec[i], channels)
        if arrays is not None:
            layers.append((spec[i][0], arrays))
            channels = spec[i][1]
        r.bool(), r.bool(), r.bool(), r.tensor(), r.tensor()
        if i == 0 or versions[i] == 2:
            r.tensor()  # the bottom layer's grad_final, the others' params_grad
        if i == 0 and versions[i] == 3:
            r.int()  # sample expansion factor
    if r.pos != len(r.data):
        raise r.fail(f"{len(r.data) - r.pos} byte(s) after the network")
    return DlibWeights(means=means, layers=layers)


class _Affine(nn.Module):
    """dlib's affine_ in its per-channel mode: ``x * gamma + beta``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("gamma", torch.ones(channels))
        self.register_buffer("beta", torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma[:, None, None] + self.beta[:, None, None]


def _conv(cin: int, cout: int, size: int, stride: int) -> nn.Conv2d:
    """dlib's con_: no padding when strided, ``size // 2`` otherwise (its pools pad alike)."""
    return nn.Conv2d(cin, cout, size, stride, padding=0 if stride != 1 else size // 2)


def _add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev_: both tensors zero-padded at the end of every dimension to the larger size, added."""
    if a.shape == b.shape:
        return a + b
    _, c, h, w = (max(x, y) for x, y in zip(a.shape, b.shape))
    a, b = (F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1])) for t in (a, b))
    return a + b


class _Block(nn.Module):
    """conv3x3, affine, relu, conv3x3, affine, added to the shortcut, relu; with stride 2 the first
    conv is strided and the shortcut is a 2 x 2 average pool of stride 2."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.affine1 = _conv(cin, cout, 3, stride), _Affine(cout)
        self.conv2, self.affine2 = _conv(cout, cout, 3, 1), _Affine(cout)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        return F.relu(_add_padded(y, F.avg_pool2d(x, 2, 2) if self.stride != 1 else x))


class DlibFaceResNet(nn.Module):
    """dlib's face recognition ResNet: uint8 RGB N x 150 x 150 x 3 in, N x 128 descriptors out."""

    def __init__(self, weights: DlibWeights | None = None) -> None:
        super().__init__()
        self.register_buffer("means", torch.tensor([122.782, 117.001, 104.298]))
        self.conv, self.affine = _conv(3, 32, 7, 2), _Affine(32)
        blocks, cin = [], 32
        for level, (n, plain) in enumerate(LEVELS):
            blocks += [_Block(cin, n, 2)] if level > 0 else []
            blocks += [_Block(n, n, 1) for _ in range(plain)]
            cin = n
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, DIM, bias=False)
        if weights is not None:
            self.load_dlib(weights)

    @torch.no_grad()
    def load_dlib(self, weights: DlibWeights) -> None:
        """Copy dlib's parameters, layer by layer from the input up."""
        pairs = [(self.conv, self.affine)]
        pairs += [p for b in self.blocks for p in ((b.conv1, b.affine1), (b.conv2, b.affine2))]
        targets = [t for c, a in pairs for t in (c.weight, c.bias, a.gamma, a.beta)] + [self.fc.weight]
        sources = [a.T if kind == "fc" else a for kind, arrays in weights.layers for a in arrays]
        if [tuple(t.shape) for t in targets] != [a.shape for a in sources]:
            raise BenchError("dlib: the weights do not have the layers of dlib's face recognition ResNet")
        self.means.copy_(torch.tensor(weights.means))
        for target, source in zip(targets, sources):
            target.copy_(torch.from_numpy(np.ascontiguousarray(source)))

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = (chips.permute(0, 3, 1, 2).float() - self.means[:, None, None]) / 256.0
        x = self.blocks(F.max_pool2d(F.relu(self.affine(self.conv(x))), 3, 2))
        return self.fc(x.mean(dim=(2, 3)))

    @classmethod
    def from_file(cls, path: str | Path) -> DlibFaceResNet:
        """The network with the weights of dlib's ``.dat`` file, in eval mode."""
        return cls(read_weights(path)).eval()


def face_descriptors(net: DlibFaceResNet, chips: np.ndarray, batch_size: int = 32,
                     device: str | torch.device | None = None) -> np.ndarray:
    """dlib's unnormalised float32 N x 128 descriptors of uint8 RGB N x 150 x 150 x 3 chips, in
    batches. ``device`` moves ``net`` there first; cuDNN may not use TF32 meanwhile."""
    chips = np.asarray(chips)
    if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise BenchError(f"dlib: expected uint8 chips N x 150 x 150 x 3, got {chips.dtype} {chips.shape}")
    if int(batch_size) < 1:
        raise BenchError(f"dlib: batch_size must be positive, got {batch_size}")
    net = net.to(device) if device is not None else net
    out = np.empty((chips.shape[0], DIM), dtype=np.float32)
    tf32, torch.backends.cudnn.allow_tf32 = torch.backends.cudnn.allow_tf32, False
    try:
        with torch.inference_mode():
            for start in range(0, chips.shape[0], int(batch_size)):
                batch = torch.from_numpy(np.ascontiguousarray(chips[start:start + int(batch_size)]))
                out[start:start + batch.shape[0]] = net(batch.to(net.means.device)).cpu().numpy()
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    return out
