"""A progress bar on stderr for long runs (stdout stays clean for `--json`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _RichSink:
    """Shows a bar once the announced work reaches `min_tasks`; silent below that."""

    def __init__(self, min_tasks: int) -> None:
        self.min_tasks = min_tasks
        self.total = 0
        self.progress: Any = None
        self.task: Any = None

    def add_total(self, tasks: int) -> None:
        self.total += tasks
        if self.progress is None and self.total >= self.min_tasks:
            from rich.console import Console
            from rich.progress import Progress

            self.progress = Progress(console=Console(stderr=True), transient=True)
            self.progress.start()
            self.task = self.progress.add_task("simulating", total=self.total)
        elif self.progress is not None:
            self.progress.update(self.task, total=self.total)

    def advance(self, tasks: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, tasks)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextmanager
def progress_bar(min_tasks: int) -> Iterator[_RichSink]:
    sink = _RichSink(min_tasks)
    try:
        yield sink
    finally:
        sink.close()
