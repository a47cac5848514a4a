"""Streaming: audio to listen to while the take is still being made.

Each coarse window is played as soon as it is done: its new frames go through a short fine window and the codec,
with earlier frames as context so that joins are seamless. The first chunk does not wait for the first window to
end: it is cut as soon as its frames and a short look-ahead exist (`StreamSettings.first_lookahead_frames`).
After the last window, fine and the codec run over the whole take exactly as `generate` runs them, so the final
result equals `generate(..., seed=seed)` token for token.

When the first window starts depends on the random streams (`sampling.StageStreams`). In exact mode every stage
draws from one stream in the reference's order, so all semantic tokens come first. In fast mode each stage has its
own stream, so the stages interleave: a coarse window starts as soon as the semantic tokens it reads exist (the
first needs 256 of them, or 47 past a voice's history), and the first audio comes long before the semantic stage
ends. Either way the take does not depend on the order.

The streamed audio is a preview of that take: the same coarse codes (the words, voice and timing you hear are the
take's), but fine codes from short windows and from their own random stream, so it differs from the final take in
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
from .coarse import coarse_windows
from .fine import decode_codes, generate_fine
from .result import BarkResult
from .sampling import StageStreams
from .semantic import Progress, SemanticFeed, semantic_steps
from .settings import FineSettings, StageSettings
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
    # chunk of the reference's coarse windows (32 history + 30 new + 16 look-ahead) with little padding: the
    # preview of a 6 s take cost 9.9 s of fine and codec work against 15 s with 128-frame windows (fast mode).
    fine_window: int = 80
    codec_context_frames: int = 50  # earlier frames decoded again, so the codec's convolutions and LSTM are warm

    def __post_init__(self):
        if not 0 <= self.lookahead_frames <= 75 or not 0 <= self.codec_context_frames <= 375:
            raise ValueError("lookahead_frames must be in 0..75 and codec_context_frames in 0..375")
        if not 0 <= self.first_lookahead_frames <= self.lookahead_frames:
            raise ValueError("first_lookahead_frames must be in 0..lookahead_frames")
        if not 64 <= self.fine_window <= C.FINE_WINDOW or self.fine_window % 2:
            raise ValueError(f"fine_window must be an even number of frames in 64..{C.FINE_WINDOW}")
        if not 0 <= self.fine_context_frames <= self.fine_window // 2:
            raise ValueError("fine_context_frames must be in 0..fine_window / 2")


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

    def __init__(self, pipe, voice: Voice | None, stages: StageSettings, settings: StreamSettings, seed: int):
        self.pipe, self.settings = pipe, settings
        self.fine_settings = FineSettings(stages.fine.temperature)
        self.history = None if voice is None else voice.fine_prompt
        self.generator = pipe.make_generator(seed)  # its own stream: the take's streams are not touched
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
        with self.pipe._running(self.pipe.fine_model):
            fine = generate_fine(self.pipe.fine_model, ahead, history, self.fine_settings, self.generator,
                                 window=s.fine_window)
        self.fine = np.hstack([self.fine, fine[:, : end - a]])
        context = max(0, a - s.codec_context_frames)
        with self.pipe._running(self.pipe.codec):
            audio = decode_codes(self.pipe.codec, self.fine[:, context:end])
        return audio[(a - context) * C.SAMPLES_PER_FRAME :]


def stream_take(pipe, text: str, voice: Voice | None, stages: StageSettings, seed: int,
                settings: StreamSettings, progress: Progress | None = None,
                streams: list[StageStreams] | None = None) -> Iterator[StreamChunk]:
    """Yield preview audio after each coarse window, then the final takes (see the module's docstring).

    streams: each take's random streams (default: one take, `pipe.make_streams(seed)`). Several takes decode as one
    batch, as `generate_takes` decodes them, and the preview plays the first; long-form passes the streams its
    chunks share, so a streamed chunk is the one `run_cascade` would make. The preview draws from its own generator,
    seeded by `seed`; take i's result carries seed + i."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    streams = streams if streams is not None else [pipe.make_streams(seed)]
    # Offloading moves one model at a time onto the accelerator: interleaving would move them at every window.
    interleave = streams[0].split and not pipe.offload
    with pipe._running(pipe.text_model):
        feed = SemanticFeed(semantic_steps(pipe.text_model, encode_text(pipe.tokenizer, text),
                                           None if voice is None else voice.semantic_prompt, stages.semantic,
                                           [s.semantic for s in streams], progress, pipe.row_exact,
                                           graphs=pipe.graphs))
        if not interleave:
            feed.pull()
    preview = _Preview(pipe, voice, stages, settings, seed)
    history = None if voice is None else (voice.semantic_prompt, voice.coarse_prompt)
    t_coarse, semantic_before = time.perf_counter(), feed.seconds
    with pipe._running(pipe.text_model) if interleave else contextlib.nullcontext(), pipe._running(pipe.coarse_model):
        codes: list[np.ndarray] = []
        # The first chunk's frames: those of the first window (30 frames) less the look-ahead.
        first = stages.coarse.sliding_window_len // C.N_COARSE_CODEBOOKS - settings.lookahead_frames
        early = C.N_COARSE_CODEBOOKS * (first + settings.first_lookahead_frames) if first > 0 else 0
        for codes in coarse_windows(pipe.coarse_model, feed, history, stages.coarse, [s.coarse for s in streams],
                                    progress, pipe.row_exact, reuse_prefix=not pipe.row_exact, early=early,
                                    graphs=pipe.graphs):
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
    fine, audio = finish(pipe, codes, voice, stages, [s.fine for s in streams], progress, timings)
    timings["total"] = time.perf_counter() - t0
    takes = tuple(BarkResult(a, s, c, f, seed + i, dict(timings))
                  for i, (a, s, c, f) in enumerate(zip(audio, feed.arrays(), codes, fine, strict=True)))
    yield StreamChunk(np.zeros(0, np.float32), len(audio[0]) / C.SAMPLE_RATE, takes[0], takes)
