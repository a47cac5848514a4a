"""The four stages run for a batch of takes: semantic and coarse decode all takes together, fine and the codec
take by take. `BarkPipeline.generate_takes`, long-form chunks and the streamed take's ending all go through here."""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..voices.voice import Voice
from .coarse import generate_coarse_takes
from .fine import decode_codes, generate_fine
from .result import BarkResult
from .sampling import StageStreams
from .semantic import Progress, generate_semantic_takes, report, require_speech
from .settings import StageSettings, check_seed
from .text import encode_text

if TYPE_CHECKING:
    from ..pipeline import BarkPipeline

MAX_BATCH_TAKES = 8  # takes decoded in one batch


def batch_seed(seed: int | None, n_takes: int) -> int:
    """A batch's first seed (drawn if None), with n_takes and every seed of the batch (seed + i) checked."""
    whole = isinstance(n_takes, (int, np.integer)) and not isinstance(n_takes, bool)
    if not whole or not 1 <= n_takes <= MAX_BATCH_TAKES:
        raise ValueError(f"n_takes must be a whole number from 1 to {MAX_BATCH_TAKES}; got {n_takes!r}")
    seed = secrets.randbelow(2**32) if seed is None else check_seed(seed)
    check_seed(seed + n_takes - 1)
    return seed


def label_takes(takes: list[BarkResult], settings: dict, seed: int) -> list[BarkResult]:
    """Each take with its seed (seed + i) and the settings that made it, with its place in the batch when there
    are several (in fast mode a take depends on its batch: reproducing one re-runs the batch)."""
    if len(takes) > 1:
        settings = {**settings, "takes": len(takes)}
    return [dataclasses.replace(r, seed=seed + i, settings={**settings, "take": i} if len(takes) > 1 else settings)
            for i, r in enumerate(takes)]


def run_takes(pipe: BarkPipeline, text: str, v: Voice | None, stages: StageSettings, streams: list[StageStreams],
              progress: Progress | None = None) -> list[BarkResult]:
    """One take per `StageStreams` for validated inputs: semantic and coarse decode all takes as one batch; fine
    and the codec run take by take (they are compute-bound, and each take has its own length). Timings are the
    batch's."""
    ids = encode_text(pipe.tokenizer, text)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with timed(timings, "semantic"), pipe._running(pipe.text_model):
        semantic = generate_semantic_takes(pipe.text_model, ids, None if v is None else v.semantic_prompt,
                                           stages.semantic, [s.semantic for s in streams], progress,
                                           pipe.row_exact, graphs=pipe.graphs)
    require_speech(semantic)
    with timed(timings, "coarse"), pipe._running(pipe.coarse_model):
        coarse = generate_coarse_takes(pipe.coarse_model, semantic,
                                       None if v is None else (v.semantic_prompt, v.coarse_prompt),
                                       stages.coarse, [s.coarse for s in streams], progress, pipe.row_exact,
                                       reuse_prefix=not pipe.row_exact, graphs=pipe.graphs)
    fine, audio = finish(pipe, coarse, v, stages, [s.fine for s in streams], progress, timings)
    timings["total"] = time.perf_counter() - t0
    return [BarkResult(a, s, c, f, None, dict(timings))
            for a, s, c, f in zip(audio, semantic, coarse, fine, strict=True)]


def finish(pipe: BarkPipeline, coarse: list[np.ndarray], v: Voice | None, stages: StageSettings,
           gens: list[torch.Generator], progress: Progress | None,
           timings: dict[str, float]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Fine codes (8, T_i) and audio (320 * T_i,) of each take's coarse codes (2, T_i), take by take, timing
    "fine" and "decode" into `timings`."""
    with timed(timings, "fine"), pipe._running(pipe.fine_model):
        fine = [generate_fine(pipe.fine_model, c, None if v is None else v.fine_prompt, stages.fine, g, progress)
                for c, g in zip(coarse, gens, strict=True)]
    with timed(timings, "decode"), pipe._running(pipe.codec):
        report(progress, "decode", 0, 1)
        audio = [decode_codes(pipe.codec, f) for f in fine]
        report(progress, "decode", 1, 1)
    return fine, audio


@contextlib.contextmanager
def timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """timings[key] = seconds spent in the block."""
    t = time.perf_counter()
    yield
    timings[key] = time.perf_counter() - t
