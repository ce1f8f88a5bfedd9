"""The CSV logs of a training run (losses, validation) and the process's peak memory.

Rows past the step a run resumes from (left by a run that died after its last checkpoint) are
dropped, so a log always matches the checkpoint it sits beside.
"""
from __future__ import annotations

import csv
import resource
from pathlib import Path
from typing import Any

from bench.atomic import atomic_write


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_rows(path: Path, step: int) -> list[list[str]]:
    """Data rows of a CSV log up to ``step`` (rows past it were left by a run that died after its last save)."""
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [r for r in list(csv.reader(handle))[1:] if r and int(r[0]) <= step]


def write_rows(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *rows])

    atomic_write(path, write)


class _Log:
    def __init__(self, handle: Any) -> None:
        self.handle, self.writer = handle, csv.writer(handle)

    def writerow(self, row: list[Any]) -> None:
        self.writer.writerow(row)


def open_log(path: Path, step: int, columns: list[str]) -> _Log:
    """Open the loss log for appending (columns: step, seconds, lr, then ``columns``), dropping
    rows past ``step``."""
    header = ["step", "seconds", "lr", *columns]
    rows = read_rows(path, step) if step > 0 else []
    handle = open(path, "w", newline="", encoding="utf-8")
    log = _Log(handle)
    log.writerow(header)
    for row in rows:  # rows of a run logged before a column was added get it empty
        log.writerow(row + [""] * (len(header) - len(row)))
    return log
