"""Streaming: audio to listen to while the take is still being made.

Each coarse window is played as soon as it is done: its new frames go through a short fine window and the codec,
with earlier frames as context so that joins are seamless. The first chunk does not wait for the first window to
end: it is cut as soon as its frames and a short look-ahead exist (`StreamSettings.first_lookahead_frames`).
After the last window, fine and the codec run over the whole take exactly as `generate` runs them, so the final
result equals `generate(..., seed=seed)` token for token.

When the first window starts depends on the random generators (`sampling.StageGenerators`). In exact mode every
stage draws from one generator in the reference's order, so all semantic tokens come first. In fast mode each stage
has its own generator, so the stages interleave: a coarse window starts as soon as the semantic tokens it reads
exist (the first needs 256 of them, or 47 past a voice's history), and the first audio comes long before the
semantic stage ends. Either way the take does not depend on the order.

The streamed audio is a preview of that take: the same coarse codes (the words, voice and timing you hear are the
take's), but fine codes from short windows and from their own random generator, so it differs from the final take in
fine detail. The take to keep and download is the final one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .. import constants as C
from ..voices.voice import Voice
from .cascade import finish
from .coarse import CoarseWindows
from .engine import Engine
from .fine import decode_codes, generate_fine
from .progress import Progress
from .result import BarkResult
from .sampling import StageGenerators
from .semantic import SemanticFeed, semantic_steps
from .settings import FineSettings, StageSettings, whole_number
from .text import encode_text


@dataclass(frozen=True)
class StreamSettings:
    """How the preview is cut. Frames are EnCodec frames (75 per second)."""

    lookahead_frames: int = 16  # held back until the next window, so the preview's fine model sees a little ahead
    # The first chunk plays the frames the first window's chunk would (its frames less lookahead_frames), but is cut
    # inside that window as soon as they and this look-ahead exist: the first audio comes ~28 coarse steps sooner.
    first_lookahead_frames: int = 2
    fine_context_frames: int = 32  # earlier preview fine codes given to the next fine window as its history
    # Frames per preview fine window (the final take uses the reference's 1024). Its cost is the preview's cost:
    # the fine model is compute-bound, and each chunk runs a whole window for each of 6 codebooks. 80 holds a
    # chunk of the reference's coarse windows (32 history + 30 new + 16 look-ahead) with little padding.
    fine_window: int = 80
    codec_context_frames: int = 50  # earlier frames decoded again, so the codec's convolutions and LSTM are warm

    def __post_init__(self):
        whole_number(self.lookahead_frames, "lookahead_frames", 0, C.COARSE_RATE_HZ)
        whole_number(self.codec_context_frames, "codec_context_frames", 0, 5 * C.COARSE_RATE_HZ)
        whole_number(self.first_lookahead_frames, "first_lookahead_frames", 0, self.lookahead_frames,
                     extra=" (at most lookahead_frames)")
        if whole_number(self.fine_window, "fine_window", 64, C.FINE_WINDOW) % 2:
            raise ValueError(f"fine_window must be an even number of frames in 64..{C.FINE_WINDOW}")
        whole_number(self.fine_context_frames, "fine_context_frames", 0, self.fine_window // 2,
                     extra=" (at most fine_window / 2)")


@dataclass(frozen=True)
class StreamChunk:
    """audio: float32 (n,) new samples at 24 kHz, continuing the previous chunks; start_s: where they start.
    result: the finished take, on the last chunk only (its audio is the full-quality take, not the preview); with
    several takes, the first of `takes`."""

    audio: np.ndarray
    start_s: float
    result: BarkResult | None = None
    takes: tuple[BarkResult, ...] = ()  # on the last chunk: every take of the batch (result is the first)


class _Preview:
    """Fine codes and audio for frames as they arrive, each call continuing the previous one."""

    def __init__(self, engine: Engine, voice: Voice | None, stages: StageSettings, settings: StreamSettings,
                 seed: int):
        self.engine, self.settings = engine, settings
        self.fine_settings = FineSettings(stages.fine.temperature)
        self.history = None if voice is None else voice.fine_prompt
        self.generator = engine.make_generator(seed)  # its own: the take's generators are not touched
        self.fine = np.zeros((C.N_FINE_CODEBOOKS, 0), dtype=np.int64)

    def chunk(self, coarse: np.ndarray, end: int, timings: dict[str, float], t0: float) -> StreamChunk:
        """The next chunk (frames up to `end`), timing the preview work and the first audio."""
        t, start = time.perf_counter(), self.fine.shape[1]
        audio = self.frames(coarse, end)
        timings["preview"] = timings.get("preview", 0.0) + time.perf_counter() - t
        timings.setdefault("first_audio", time.perf_counter() - t0)
        return StreamChunk(audio, start / C.COARSE_RATE_HZ)

    def frames(self, coarse: np.ndarray, end: int) -> np.ndarray:
        """Audio of frames len(self.fine)..end-1, given coarse codes (2, T >= end)."""
        s, a = self.settings, self.fine.shape[1]
        ahead = coarse[:, a : min(coarse.shape[1], end + s.lookahead_frames)]
        history = self.fine[:, max(0, a - s.fine_context_frames) :] if a else self.history
        engine = self.engine
        with engine.runtime.using(engine.fine_model):
            fine = generate_fine(engine.fine_model, ahead, history, self.fine_settings, self.generator,
                                 window=s.fine_window)
        self.fine = np.hstack([self.fine, fine[:, : end - a]])
        context = max(0, a - s.codec_context_frames)
        with engine.runtime.using(engine.codec):
            audio = decode_codes(engine.codec, self.fine[:, context:end])
        return audio[(a - context) * C.SAMPLES_PER_FRAME :]


def stream_take(engine: Engine, text: str, voice: Voice | None, stages: StageSettings, seed: int,
                settings: StreamSettings, progress: Progress | None = None,
                generators: list[StageGenerators] | None = None) -> Iterator[StreamChunk]:
    """Yield preview audio after each coarse window, then the final takes (see the module's docstring).

    generators: each take's random generators (default: one take, `engine.make_generators(seed)`). Several takes
    decode as one batch, as `generate_takes` decodes them, and the preview plays the first; long-form passes the
    generators its chunks share, so a streamed chunk is the one `cascade.run_takes` would make. The preview draws
    from its own generator, seeded by `seed`; take i's result carries seed + i."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    generators = generators if generators is not None else [engine.make_generators(seed)]
    using = engine.runtime.using
    # Offloading moves one model at a time onto the accelerator: interleaving would move them at every window.
    interleave = generators[0].split and not engine.runtime.offload
    # 1. semantic: drawn all at once, or (interleaved) step by step as the coarse windows ask for tokens
    with using(engine.text_model):
        feed = SemanticFeed(semantic_steps(engine.text_model, encode_text(engine.tokenizer, text),
                                           None if voice is None else voice.semantic_prompt, stages.semantic,
                                           [g.semantic for g in generators], progress, engine.row_exact,
                                           graphs=engine.graphs))
        if not interleave:
            feed.pull()
    preview = _Preview(engine, voice, stages, settings, seed)
    history = None if voice is None else (voice.semantic_prompt, voice.coarse_prompt)
    t_coarse, semantic_before = time.perf_counter(), feed.seconds
    # 2. coarse, window by window, each window's new frames previewed (fine and codec on short windows)
    with using(engine.text_model) if interleave else contextlib.nullcontext(), using(engine.coarse_model):
        codes: list[np.ndarray] = []
        # The first chunk's frames: those of the first window (30 frames) less the look-ahead.
        first = stages.coarse.sliding_window_len // C.N_COARSE_CODEBOOKS - settings.lookahead_frames
        early = C.N_COARSE_CODEBOOKS * (first + settings.first_lookahead_frames) if first > 0 else 0
        for codes in CoarseWindows(engine.coarse_model, feed, history, stages.coarse,
                                   [g.coarse for g in generators], progress, engine.row_exact,
                                   reuse_prefix=not engine.row_exact, early=early, graphs=engine.graphs):
            coarse = codes[0]  # the take the preview plays
            if early and preview.fine.shape[1] == 0:
                ready = min(coarse.shape[1] - settings.first_lookahead_frames, first)
            else:
                ready = coarse.shape[1] - settings.lookahead_frames
            if ready > preview.fine.shape[1]:
                yield preview.chunk(coarse, ready, timings, t0)
    timings["semantic"] = feed.seconds
    # The coarse loop's time, less the preview's and the semantic steps it drew (interleaved).
    timings["coarse"] = (time.perf_counter() - t_coarse - timings.get("preview", 0.0)
                         - (feed.seconds - semantic_before))
    if codes[0].shape[1] > preview.fine.shape[1]:  # the held-back tail
        yield preview.chunk(codes[0], codes[0].shape[1], timings, t0)
    # 3. fine and 4. codec decode over the whole takes, as `generate` runs them
    fine, audio = finish(engine, codes, voice, stages, [g.fine for g in generators], progress, timings)
    timings["total"] = time.perf_counter() - t0
    takes = tuple(BarkResult(a, s, c, f, seed + i, dict(timings))
                  for i, (a, s, c, f) in enumerate(zip(audio, feed.arrays(), codes, fine, strict=True)))
    yield StreamChunk(np.zeros(0, np.float32), len(audio[0]) / C.SAMPLE_RATE, takes[0], takes)
