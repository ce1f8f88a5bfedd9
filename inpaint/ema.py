"""An exponential moving average of a network's weights (the released generator when ``ema > 0``)."""
from __future__ import annotations

import copy

import torch
from torch import nn


def averaged_copy(net: nn.Module) -> nn.Module:
    """A frozen copy of ``net`` to hold the average; it starts at ``net``'s weights."""
    return copy.deepcopy(net).requires_grad_(False)


@torch.no_grad()
def update_average(average: nn.Module, net: nn.Module, decay: float) -> None:
    """``average <- decay * average + (1 - decay) * net`` for parameters; buffers are copied."""
    for avg, param in zip(average.parameters(), net.parameters()):
        avg.lerp_(param.detach(), 1 - decay)
    for avg, buf in zip(average.buffers(), net.buffers()):
        avg.copy_(buf)
