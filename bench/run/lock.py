"""An exclusive lock on a results folder, so two runs never write the same files.

Uses ``fcntl.flock``: the kernel drops the lock when its process dies, so a killed run never
leaves the folder stuck.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from bench.api import BenchError


class RunLock:
    """``with RunLock(folder):`` holds ``folder/.lock`` or raises BenchError naming the holder."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / ".lock"
        self._handle = None

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise BenchError(
                f"{self.path.parent} is in use by a running bench process (pid {holder}); "
                "wait for it to finish or choose another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
