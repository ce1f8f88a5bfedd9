"""Checkpoints as safetensors: a small inference file (generator only) and a full resumable one.

The inference file holds the generator's weights; its metadata holds the model config (JSON),
the name and the steps trained, so :func:`load_generator` can rebuild the network. The
resumable file also holds the discriminator, the PatchNCE projection, every optimizer state
(flattened to tensors; hyper-parameters in the metadata) and the torch RNG states. Files are
written to a temporary file and moved into place, so a crash never leaves half a checkpoint.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from bench.api import BenchError
from bench.atomic import atomic_write
from bench.hashing import sha256_file as sha256
from inpaint.config import ModelConfig, config_from_dict
from inpaint.networks import Generator
from inpaint.networks.region import RegionGenerator

FORMAT = "masked-face-inpaint/1"


def _save(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    atomic_write(Path(path), lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def _load(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            meta = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except (SafetensorError, OSError) as exc:
        raise BenchError(f"{path}: not a readable safetensors file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise BenchError(f"{path}: not a checkpoint of this model (format {meta.get('format')!r}, expected {FORMAT!r})")
    return tensors, meta


def build_generator(model: ModelConfig) -> RegionGenerator:
    """The generator a model config describes: the backbone inside its region compositing."""
    backbone = Generator(ngf=model.ngf, n_blocks=model.n_blocks, attention=model.attention, image_size=model.image_size,
                         in_channels=model.channels + (model.region == "given"),
                         out_channels=model.channels + (model.region == "learned"), skips=model.skips)
    return RegionGenerator(backbone, model.region, model.channels, model.region_dilate, model.region_feather)


def save_generator(path: Path, generator: nn.Module, config: dict[str, Any], step: int, extra: dict[str, Any] | None = None) -> str:
    """Write the inference file; return its sha256."""
    meta = {"format": FORMAT, "kind": "generator", "config": json.dumps(config), "step": str(step),
            "extra": json.dumps(extra or {})}
    _save(path, {f"G.{k}": v for k, v in generator.state_dict().items()}, meta)
    return sha256(Path(path))


def load_generator(path: Path, device: str | torch.device = "cpu") -> tuple[RegionGenerator, dict[str, Any]]:
    """Rebuild the generator of an inference or resumable checkpoint; return it (eval mode) and
    ``{"config", "step", "extra"}``."""
    tensors, meta = _load(path)
    config = config_from_dict(json.loads(meta["config"]), f"{path} (metadata)")
    generator = build_generator(config.model)
    state = {k[2:]: v for k, v in tensors.items() if k.startswith("G.")}
    if state and not any(k.startswith("backbone.") for k in state):  # files written before the region wrapper
        state = {f"backbone.{k}": v for k, v in state.items()}
    try:
        generator.load_state_dict(state)
    except RuntimeError as exc:
        raise BenchError(f"{path}: generator weights do not match its config ({exc})") from None
    info = {"config": config, "step": int(meta["step"]), "extra": json.loads(meta.get("extra", "{}"))}
    return generator.to(device).eval(), info


def _flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], str]:
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"{prefix}.{index}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, json.dumps(state["param_groups"])


def _unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], groups: str) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": json.loads(groups)}


def save_resume(path: Path, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                config: dict[str, Any], step: int, extra: dict[str, Any] | None = None,
                scalers: dict[str, torch.amp.GradScaler] | None = None) -> None:
    """Write everything needed to continue training exactly."""
    tensors: dict[str, torch.Tensor] = {}
    meta = {"format": FORMAT, "kind": "resume", "config": json.dumps(config), "step": str(step),
            "extra": json.dumps(extra or {})}
    for name, module in modules.items():
        tensors.update({f"{name}.{k}": v for k, v in module.state_dict().items()})
    for name, optimizer in optimizers.items():
        flat, groups = _flatten_optimizer(f"opt_{name}", optimizer)
        tensors.update(flat)
        meta[f"opt_{name}"] = groups
    tensors["rng.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda{i}"] = state
    for name, scaler in (scalers or {}).items():
        meta[f"scaler_{name}"] = json.dumps({k: float(v) if torch.is_tensor(v) else v for k, v in scaler.state_dict().items()})
    _save(path, tensors, meta)


def load_resume(path: Path, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                scalers: dict[str, torch.amp.GradScaler] | None = None,
                optional: dict[str, nn.Module] | None = None) -> dict[str, Any]:
    """Restore modules, optimizers and RNG states in place; return ``{"step", "config", "extra",
    "missing"}``. ``optional`` modules are restored where the file has them and listed in
    ``missing`` where it has not (a part a run turned on after its last save)."""
    tensors, meta = _load(path)
    if meta.get("kind") != "resume":
        raise BenchError(f"{path}: an inference-only checkpoint; resuming needs the .resume.safetensors file")
    missing = []
    for name, module in (modules | (optional or {})).items():
        state = {k[len(name) + 1:]: v for k, v in tensors.items() if k.startswith(name + ".")}
        if not state and name in (optional or {}):
            missing.append(name)
            continue
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise BenchError(f"{path}: {name} weights do not match the config ({exc})") from None
    for name, optimizer in optimizers.items():
        if f"opt_{name}" not in meta:
            raise BenchError(f"{path}: no state for optimizer {name}")
        optimizer.load_state_dict(_unflatten_optimizer(f"opt_{name}", tensors, meta[f"opt_{name}"]))
    torch.set_rng_state(tensors["rng.cpu"])
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda")]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    for name, scaler in (scalers or {}).items():
        if f"scaler_{name}" in meta and scaler.is_enabled():
            scaler.load_state_dict(json.loads(meta[f"scaler_{name}"]))
    return {"step": int(meta["step"]), "config": json.loads(meta["config"]), "extra": json.loads(meta.get("extra", "{}")),
            "missing": missing}
