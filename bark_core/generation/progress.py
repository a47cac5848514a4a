"""How a generation reports its progress, and how a caller stops it: the progress callback raises
`GenerationCancelled`."""

from __future__ import annotations

from collections.abc import Callable

# progress(stage, done, total): stage is "semantic", "coarse", "fine" or "decode" (long-form: "chunk k/n coarse").
Progress = Callable[[str, int, int], None]


class GenerationCancelled(RuntimeError):
    """Raised by a progress callback to stop a generation at its next step (nothing is returned)."""


def report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    """progress(stage, done, total) when there is a callback."""
    if progress is not None:
        progress(stage, done, total)
