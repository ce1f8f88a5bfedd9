"""Where chunk tasks run: in this process, in a pool of local processes, or as Ray tasks.

Every executor yields :class:`ChunkResult` objects as they complete; the runner writes them to
the cache. A task's result depends only on the task, never on the worker that ran it, so every
executor gives the same numbers.

- ``local`` with one worker runs the tasks in this process, with as many threads as this
  process has cores (its CPU affinity).
- ``local`` with N > 1 workers runs them in N spawned processes, each with ``cores // N``
  threads for torch, OpenCV and BLAS, so single-threaded libraries (dlib, OpenCV inpainting,
  mask synthesis) use every core and threaded ones do not oversubscribe.
- ``ray`` submits each task as a Ray task declaring ``num_cpus`` (and a share of a GPU when the
  cluster has GPUs); a worker that dies has its task retried.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterator

from bench.api import BenchError
from bench.components import Components
from bench.protocol import Protocol
from bench.run.chunk import ChunkResult, ChunkTask, ChunkWorker

EXECUTORS = ("local", "ray")
RAY_RETRIES = 3

_WORKER: dict = {}  # per worker process: the protocol it was built for and its ChunkWorker


def machine_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def limit_threads(threads: int) -> None:
    """Cap torch, OpenCV and the BLAS/OpenMP pools of this process at ``threads``."""
    import cv2
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    threadpool_limits(threads)


def run_chunk(protocol: Protocol, task: ChunkTask, threads: int = 1) -> ChunkResult:
    """Run one task in a worker process, building the protocol's components on its first task."""
    _warm_up(protocol, threads)
    return _WORKER["worker"].run(task)


def _exit_with_parent(parent: int) -> None:
    """A pool worker whose driver was killed exits instead of running on."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _pool_init(parent: int, threads: int) -> None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    _exit_with_parent(parent)
    limit_threads(threads)


def run_inline(worker: ChunkWorker, tasks: list[ChunkTask]) -> Iterator[ChunkResult]:
    limit_threads(machine_cores())
    for task in tasks:
        yield worker.run(task)


def _warm_up(protocol: Protocol, threads: int) -> None:
    """Build a worker's components before its first task arrives."""
    key = repr(protocol.to_dict())
    if _WORKER.get("key") != key:
        from bench import components

        limit_threads(threads)
        _WORKER.update(key=key, worker=ChunkWorker(protocol, components.build(protocol, log=lambda _: None)))


class LocalPool:
    """Worker processes started before the driver loads its own models, so that both load at
    once; each builds the protocol's components as soon as it starts."""

    def __init__(self, protocol: Protocol, workers: int) -> None:
        import multiprocessing

        self.workers = workers
        self.threads = max(1, machine_cores() // workers)
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_pool_init, initargs=(os.getpid(), self.threads))
        for _ in range(workers):  # one warm-up each: a busy process makes the pool spawn the next
            self.pool.submit(_warm_up, protocol, self.threads)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def start_pool(executor: str, protocol: Protocol, workers: int | None, n_chunks: int) -> LocalPool | None:
    """A started pool for a local run with more than one worker, else None."""
    n = resolve_workers(executor, workers, n_chunks)
    return LocalPool(protocol, n) if executor == "local" and n > 1 else None


def run_pool(protocol: Protocol, tasks: list[ChunkTask], local: LocalPool) -> Iterator[ChunkResult]:
    """Results of ``tasks`` from the pool's processes as they complete; the pool is closed after."""
    pending = {local.pool.submit(run_chunk, protocol, task, local.threads) for task in tasks}
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    except BrokenProcessPool as exc:
        raise BenchError(f"a worker process died ({exc}); run the same command again to resume from the cache") from None
    finally:
        for future in pending:
            future.cancel()
        local.close()


def resolve_workers(executor: str, workers: int | None, n_tasks: int) -> int:
    """Workers of a local run: ``--workers`` or every core, never more than there are tasks."""
    if workers is not None and workers < 1:
        raise BenchError("--workers must be at least 1")
    wanted = workers if workers is not None else machine_cores()
    return max(1, min(wanted, n_tasks)) if executor == "local" else wanted


def execute_tasks(executor: str, protocol: Protocol, comp: Components, tasks: list[ChunkTask],
                  workers: int | None, address: str | None, log: Callable[[str], None],
                  pool: LocalPool | None = None) -> Iterator[ChunkResult]:
    """Results of ``tasks`` as they complete, from the chosen executor (a local run with more
    than one worker uses ``pool`` when one was started, else starts its own)."""
    if not tasks:
        return iter(())
    if executor == "ray":
        from bench.run.ray_executor import run_ray

        return run_ray(protocol, tasks, workers, address, log)
    if executor != "local":
        raise BenchError(f"--executor: {executor!r} unknown; choose from {', '.join(EXECUTORS)}")
    if pool is None:
        n = resolve_workers(executor, workers, len(tasks))
        if n == 1:
            return run_inline(ChunkWorker(protocol, comp), tasks)
        pool = LocalPool(protocol, n)
    log(f"local executor: {pool.workers} worker processes, {pool.threads} thread(s) each")
    return run_pool(protocol, tasks, pool)
