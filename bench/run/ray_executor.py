"""Chunk tasks as Ray tasks: ``bench run PROTOCOL --executor ray [--address ADDR]``.

Without an address (and without ``RAY_ADDRESS``) a local Ray cluster is started with
``--workers`` CPUs (default: every core); ``--address auto`` or ``host:port`` joins a running
one. Tasks carry their images and send their arrays back, so the nodes share no filesystem
with the driver; each node needs the package, its plugins and their assets installed.
"""
from __future__ import annotations

import os
import socket
from typing import Callable, Iterator

from bench.api import BenchError
from bench.protocol import Protocol
from bench.run.chunk import ChunkResult, ChunkTask
from bench.run.executors import RAY_RETRIES, run_chunk

CONNECT_TIMEOUT_S = 5.0
INSTALL_HINT = "pip install -e '.[ray]' (or pip install ray)"


def _import_ray():
    try:
        import ray
    except ImportError:
        raise BenchError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def check_reachable(address: str) -> None:
    """Fail in seconds, naming the address, when nothing listens at ``host:port``."""
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise BenchError(f"--address {address!r}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise BenchError(f"--address {address}: no Ray cluster reachable there ({exc}); start one with "
                         "`ray start --head` on that machine, or leave out --address to start a local one") from None


def connect(address: str | None, workers: int | None) -> str:
    """Start or join a cluster; returns a description of it."""
    ray = _import_ray()
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address and address != "auto":
        check_reachable(address)
    options = {"include_dashboard": False, "logging_level": "ERROR", "log_to_driver": True}
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=workers, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise BenchError(f"--executor ray: cannot connect to Ray at {address or 'a new local cluster'}: {exc}") from None
    resources = ray.cluster_resources()
    return f"{int(resources.get('CPU', 0))} CPUs, {int(resources.get('GPU', 0))} GPUs"


def task_resources(protocol: Protocol, resources: dict[str, float], cpus_per_task: int = 1) -> dict[str, float]:
    """``num_cpus`` of each task, and a share of the cluster's GPUs for its torch stages when
    it has any (and the protocol does not ask for the CPU): each task slot gets an equal share."""
    out: dict[str, float] = {"num_cpus": cpus_per_task}
    gpus = resources.get("GPU", 0.0)
    if gpus > 0 and protocol.device != "cpu":
        slots = max(1, int(resources.get("CPU", 1) // cpus_per_task))
        out["num_gpus"] = min(1.0, gpus / slots)
    return out


def run_ray(protocol: Protocol, tasks: list[ChunkTask], workers: int | None, address: str | None,
            log: Callable[[str], None]) -> Iterator[ChunkResult]:
    ray = _import_ray()
    cluster = connect(address, workers)
    resources = task_resources(protocol, ray.cluster_resources())
    log(f"ray executor: {cluster}; each task {resources}")
    remote = ray.remote(max_retries=RAY_RETRIES, **resources)(run_chunk)
    protocol_ref = ray.put(protocol)
    try:
        pending = {remote.remote(protocol_ref, task): task.index for task in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                index = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                    if isinstance(cause, BenchError):
                        raise BenchError(str(cause)) from None
                    raise BenchError(f"chunk {index}: {type(cause).__name__}: {cause}") from None
                except ray.exceptions.WorkerCrashedError as exc:
                    raise BenchError(f"chunk {index}: its Ray worker died {RAY_RETRIES + 1} times ({exc}); "
                                     "run the same command again to resume from the cache") from None
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        ray.shutdown()
