"""Progress bars for the long-running loads (census, learning records): a factory the loader
calls, so the domain never draws one itself and tests run silent."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Protocol


class Progress(Protocol):
    def update(self, n: int) -> object: ...

    def close(self) -> object: ...


#: ``factory(description, total, already_done)`` -> a progress bar.
ProgressFactory = Callable[[str, int, int], Progress]


class _Silent:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def silent(description: str, total: int, initial: int) -> Progress:
    return _Silent()


def terminal(unit: str, binary: bool = False) -> ProgressFactory:
    """tqdm bars on stderr with rate and ETA, counting ``unit`` (``binary``: bytes, in KiB,
    MiB, …)."""

    def bar(description: str, total: int, initial: int) -> Progress:
        from tqdm import tqdm

        return tqdm(
            total=total,
            initial=initial,
            desc=description,
            unit=unit,
            unit_scale=True,
            unit_divisor=1024 if binary else 1000,
            smoothing=0.1,
            file=sys.stderr,
            dynamic_ncols=True,
        )

    return bar
