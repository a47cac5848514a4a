"""The four stages run for a batch of takes: semantic and coarse decode all takes together, fine and the codec
take by take. `BarkPipeline.generate_takes`, long-form chunks and the streamed take's ending all go through here."""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import time
from collections.abc import Iterator

import numpy as np
import torch

from ..voices.voice import Voice
from .coarse import generate_coarse_takes
from .engine import Engine
from .fine import decode_codes, generate_fine
from .progress import Progress, report
from .result import BarkResult
from .sampling import StageGenerators
from .semantic import generate_semantic_takes, require_speech
from .settings import MAX_SEED, StageSettings, check_seed, whole_number
from .text import encode_text

MAX_BATCH_TAKES = 8  # takes decoded in one batch


def batch_seeds(seed: int | None, n_takes: int) -> list[int]:
    """The seeds of a batch's takes: seed, seed + 1, ... (the first drawn if None), n_takes and each seed checked."""
    n_takes = whole_number(n_takes, "n_takes", 1, MAX_BATCH_TAKES, wording="from {low} to {high}")
    seed = secrets.randbelow(2**32) if seed is None else check_seed(seed)
    if seed + n_takes - 1 > MAX_SEED:  # take i uses seed + i: the last one must be a seed too
        raise ValueError(f"with {n_takes} takes the seed must be at most {MAX_SEED - n_takes + 1} (the takes use "
                         f"seeds s to s + {n_takes - 1}); got {seed}")
    return [seed + i for i in range(n_takes)]


def label_takes(takes: list[BarkResult], settings: dict, seed: int) -> list[BarkResult]:
    """Each take with its seed (seed + i) and the settings that made it, with its place in the batch when there
    are several (in fast mode a take depends on its batch: reproducing one re-runs the batch)."""
    if len(takes) > 1:
        settings = {**settings, "takes": len(takes)}
    return [dataclasses.replace(r, seed=seed + i, settings={**settings, "take": i} if len(takes) > 1 else settings)
            for i, r in enumerate(takes)]


def run_takes(engine: Engine, text: str, voice: Voice | None, stages: StageSettings,
              generators: list[StageGenerators], progress: Progress | None = None) -> list[BarkResult]:
    """One take per `StageGenerators` for validated inputs: semantic and coarse decode all takes as one batch; fine
    and the codec run take by take (they are compute-bound, and each take has its own length). Timings are the
    batch's."""
    ids = encode_text(engine.tokenizer, text)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # 1. semantic: text (and the voice's semantic history) -> semantic tokens
    with timed(timings, "semantic"), engine.runtime.using(engine.text_model):
        semantic = generate_semantic_takes(engine.text_model, ids, None if voice is None else voice.semantic_prompt,
                                           stages.semantic, [g.semantic for g in generators], progress,
                                           engine.row_exact, graphs=engine.graphs)
    require_speech(semantic)
    # 2. coarse: semantic tokens -> EnCodec's first two codebooks, window by window
    with timed(timings, "coarse"), engine.runtime.using(engine.coarse_model):
        coarse = generate_coarse_takes(engine.coarse_model, semantic,
                                       None if voice is None else (voice.semantic_prompt, voice.coarse_prompt),
                                       stages.coarse, [g.coarse for g in generators], progress, engine.row_exact,
                                       reuse_prefix=not engine.row_exact, graphs=engine.graphs)
    fine, audio = finish(engine, coarse, voice, stages, [g.fine for g in generators], progress, timings)
    timings["total"] = time.perf_counter() - t0
    return [BarkResult(a, s, c, f, None, dict(timings))
            for a, s, c, f in zip(audio, semantic, coarse, fine, strict=True)]


def finish(engine: Engine, coarse: list[np.ndarray], voice: Voice | None, stages: StageSettings,
           generators: list[torch.Generator], progress: Progress | None,
           timings: dict[str, float]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Fine codes (8, T_i) and audio (320 * T_i,) of each take's coarse codes (2, T_i), take by take, timing
    "fine" and "decode" into `timings`."""
    # 3. fine: coarse codes -> all 8 codebooks
    with timed(timings, "fine"), engine.runtime.using(engine.fine_model):
        fine = [generate_fine(engine.fine_model, c, None if voice is None else voice.fine_prompt, stages.fine, g,
                              progress) for c, g in zip(coarse, generators, strict=True)]
    # 4. codec decode: fine codes -> 24 kHz audio
    with timed(timings, "decode"), engine.runtime.using(engine.codec):
        report(progress, "decode", 0, 1)
        audio = [decode_codes(engine.codec, f) for f in fine]
        report(progress, "decode", 1, 1)
    return fine, audio


@contextlib.contextmanager
def timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """timings[key] = seconds spent in the block."""
    t = time.perf_counter()
    yield
    timings[key] = time.perf_counter() - t
