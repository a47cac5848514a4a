"""Long-form: any length of text as chunks that fit Bark's window, generated in one consistent voice.

Splitting never drops or duplicates a character: the planned chunks (`split_text`) are consecutive slices of the
normalised text, so `"".join(chunks) == normalize_text(text)`. Each is generated from its `sung_texts` form: stripped,
and where a ♪…♪ song had to be cut, opened and closed with ♪ at the cut (the only characters ever added).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from .. import constants as C
from ..voices.voice import Voice
from .cascade import run_takes
from .chunking import cues_with_their_sentence, plan, sung_texts
from .engine import Engine
from .progress import Progress
from .settings import SETTINGS, StageSettings, whole_number
from .streaming import StreamSettings, stream_take
from .text import BERT_TOKENS_PER_SECOND, EMPTY_TEXT, estimate_seconds, normalize_text

CARRY_MODES = ("previous", "original")


@dataclass(frozen=True)
class LongFormSettings:
    """Chunk budget (safely inside the 256-token / ~15 s window), voice carry, joins and caps.

    min_chunk_seconds: the estimated speech under which a chunk is a fragment (Bark reads prompts of two or three
    words badly): the planner gives no chunk less unless the whole text is that short, taking words from a
    neighbour if it must. At most a third of the budget is used as this minimum (`chunk_token_range`).
    chunk_min_eos_p: the min_eos_p chunks use when the caller gives none (see `BarkPipeline.generate_long`).
    """

    max_chunk_tokens: int = 200
    max_chunk_seconds: float = 11.0
    min_chunk_seconds: float = 2.0
    carry: str = "previous"  # condition chunk k on chunk k-1's generation, or always on the original voice
    reanchor_every: int | None = None  # with carry="previous": go back to the original voice every N chunks
    silence_s: float = 0.25
    crossfade_s: float = 0.0  # > 0: overlap chunks by this much instead of inserting silence
    chunk_min_eos_p: float | None = 0.05  # lower than 0.2 so a chunk ends cleanly instead of trailing noise
    max_chars: int = 20_000
    max_audio_s: float = 600.0

    def __post_init__(self) -> None:
        whole_number(self.max_chunk_tokens, "max_chunk_tokens", 1, C.TEXT_WINDOW)
        if not 0 < self.max_chunk_seconds <= C.SEMANTIC_MAX_STEPS / C.SEMANTIC_RATE_HZ:
            raise ValueError("max_chunk_seconds must be in (0, 15.4]")
        if not 0 <= self.min_chunk_seconds <= C.SEMANTIC_MAX_STEPS / C.SEMANTIC_RATE_HZ:
            raise ValueError("min_chunk_seconds must be in [0, 15.4]")
        if self.carry not in CARRY_MODES:
            raise ValueError(f"carry must be one of {CARRY_MODES}; got {self.carry!r}")
        if self.reanchor_every is not None:
            whole_number(self.reanchor_every, "reanchor_every", 1, extra=" or None")
        if not 0 <= self.silence_s <= 5 or not 0 <= self.crossfade_s <= 1:
            raise ValueError("silence_s must be in [0, 5] and crossfade_s in [0, 1] seconds")
        try:
            SETTINGS["min_eos_p"].check(self.chunk_min_eos_p)
        except ValueError as e:
            raise ValueError(f"chunk_{e}") from None
        whole_number(self.max_chars, "max_chars", 1)
        if self.max_audio_s <= 0:
            raise ValueError("max_audio_s must be positive")


def _sentences(text: str, language: str) -> list[str]:
    from sentencex import segment

    lang = language if language in C.SUPPORTED_LANGUAGES else "en"
    parts = [p for p in segment(lang, text) if p]
    if "".join(parts) != text:  # the splitter must never lose text; if so, don't use it
        return [text]
    return cues_with_their_sentence(parts)


def chunk_token_range(settings: LongFormSettings) -> tuple[int, int]:
    """(least, most) BERT tokens of a planned chunk: most is what fits the budget (max_chunk_tokens, and at most
    max_chunk_seconds by `estimate_seconds`); least is min_chunk_seconds' worth, at most a third of most."""
    most = next((n for n in range(settings.max_chunk_tokens, 0, -1)
                 if estimate_seconds(n) <= settings.max_chunk_seconds), 0)
    least = min(math.ceil(settings.min_chunk_seconds * BERT_TOKENS_PER_SECOND - 1e-9), most // 3)
    return least, most


def split_text(text: str, count_tokens: Callable[[str], int], language: str = "en",
               settings: LongFormSettings = LongFormSettings()) -> list[str]:
    """Normalised text -> planned chunks, consecutive slices of it: `"".join(chunks) == normalize_text(text)`.

    Text that fits the budget is one chunk. Otherwise the cuts are chosen over the whole text (`chunking.plan`):
    every chunk's `sung_texts` form is within the budget (`chunk_token_range`, counted by `count_tokens`) unless it
    is a single cue or character (or, in a budget of two or three tokens, one word with ♪ added); no chunk is under
    the minimum size where the text allows it (a short piece is packed with a neighbour, or words move to it from
    one); cuts go, best first, at sentence ends and song edges, clause punctuation, before conjunctions, between
    words, between characters of a word too long for a chunk; an over-long clause is split into balanced parts. A
    cue `[...]` is never cut, nor a ♪…♪ song that fits a chunk; a song that does not fit is cut, and `sung_texts`
    opens and closes each piece with ♪."""
    norm = normalize_text(text)
    least, most = chunk_token_range(settings)
    return plan(_sentences(norm, language), count_tokens, language, most, least) if norm else []


def _chunk_progress(progress, k: int, n: int):
    if progress is None:
        return None
    return lambda stage, done, total: progress(f"chunk {k + 1}/{n} {stage}", done, total)


def join_audio(parts: list, sample_rate: int, silence_s: float, crossfade_s: float):
    """Concatenate chunk audio with silence or a linear cross-fade; returns (audio, start sample of each part)."""
    import numpy as np

    fade = int(crossfade_s * sample_rate)
    gap = np.zeros(int(silence_s * sample_rate), dtype=np.float32) if not fade else np.zeros(0, np.float32)
    out, starts = np.zeros(0, np.float32), []
    for part in parts:
        f = min(fade, len(out), len(part))
        if f:
            ramp = np.linspace(0.0, 1.0, f, dtype=np.float32)
            out[-f:] = out[-f:] * (1 - ramp) + part[:f] * ramp
            starts.append(len(out) - f)
            out = np.concatenate([out, part[f:]])
        else:
            if len(out):
                out = np.concatenate([out, gap])
            starts.append(len(out))
            out = np.concatenate([out, part])
    return out, starts


def plan_chunks(pipe, text: str, language: str, settings: LongFormSettings) -> list[str]:
    """The texts `generate_long` would generate, one per chunk (`sung_texts` of `split_text`), after its checks:
    ValueError for text with nothing to say (as `generate`), over max_chars, or of more than max_audio_s.
    One text: the text fits one generation (it is then the normalised text)."""
    from .text import check_text, tokenize

    norm = check_text(text)
    if len(norm) > settings.max_chars:
        raise ValueError(f"text is {len(norm):,} characters; at most {settings.max_chars:,} are accepted per "
                         f"generation (LongFormSettings.max_chars)")
    if not tokenize(pipe.tokenizer, norm):
        raise ValueError(EMPTY_TEXT)
    chunks = sung_texts(split_text(norm, lambda s: len(tokenize(pipe.tokenizer, s)) if s else 0, language,
                                   settings))
    estimate = sum(estimate_seconds(len(tokenize(pipe.tokenizer, c))) for c in chunks)
    if estimate > settings.max_audio_s:
        raise ValueError(f"this text would make about {estimate / 60:.0f} min of audio; at most "
                         f"{settings.max_audio_s / 60:.0f} min per generation (LongFormSettings.max_audio_s)")
    return chunks


def generate_long(engine: Engine, chunks: list[str], original: Voice | None, *, settings: LongFormSettings,
                  stages: StageSettings, seed: int, base: dict, progress: Progress | None = None,
                  on_preview: Callable | None = None):
    """Generate `plan_chunks`' chunks one after another from the same random generators, in the resolved voice
    `original`; `base`: the settings the result records. See `BarkPipeline.generate_long`.
    on_preview: each chunk is streamed (`streaming.stream_take` on the chunks' shared generators, so the take is the
    same) and its preview audio passed on as it comes, with `silence_s` of silence between chunks."""
    import dataclasses

    import numpy as np

    from .result import BarkResult

    generators = engine.make_generators(seed)
    run = partial(_run_chunk, engine, stages=stages, generators=generators, seed=seed, on_preview=on_preview,
                  gap=np.zeros(int(settings.silence_s * C.SAMPLE_RATE), np.float32))
    if len(chunks) == 1:  # exactly `generate`
        one = run(chunks[0], original, 0, progress)
        return dataclasses.replace(one, seed=seed, settings=base, chunks=tuple(chunks))
    anchor, current, results, used = original, original, [], []
    for k, chunk in enumerate(chunks):
        if k > 0:
            reanchor = settings.reanchor_every is not None and k % settings.reanchor_every == 0
            if settings.carry == "previous" and not reanchor:
                current = _voice_or(results[-1], current)
            else:
                current = anchor
        used.append(current)
        r = run(chunk, current, k, _chunk_progress(progress, k, len(chunks)), stages=stages)
        results.append(r)
        if anchor is None:  # no voice given: the first chunk's speaker is the voice for the rest
            anchor = _voice_or(r, None)
    audio, sample_starts = join_audio([r.audio for r in results], C.SAMPLE_RATE, settings.silence_s,
                                      settings.crossfade_s)
    keys = dict.fromkeys(key for r in results for key in r.timings)  # every chunk's, in order
    timings = {key: sum(r.timings.get(key, 0.0) for r in results) for key in keys}
    if "first_audio" in results[0].timings:  # streamed: the first chunk's first audio is the take's
        timings["first_audio"] = results[0].timings["first_audio"]
    sem = [r.semantic_tokens for r in results]
    frames = [r.coarse_tokens for r in results]
    return BarkResult(
        audio, np.concatenate(sem), np.concatenate(frames, axis=1),
        np.concatenate([r.fine_tokens for r in results], axis=1), seed, timings,
        {**base, "carry": settings.carry, "reanchor_every": settings.reanchor_every, "chunk_voices":
         [voice.name if voice is not None else None for voice in used]},
        chunks=tuple(chunks), semantic_starts=_starts(sem), frame_starts=_starts(frames),
        sample_starts=tuple(sample_starts))


def _run_chunk(engine: Engine, chunk: str, voice, k: int, progress, *, stages, generators, seed: int, on_preview,
               gap):
    """One chunk's take from the shared `generators`: as `cascade.run_takes` makes it, or streamed through
    `on_preview` (after `gap` when it is not the first) — the same take either way."""
    if on_preview is None:
        return run_takes(engine, chunk, voice, stages, [generators], progress)[0]
    if k > 0 and len(gap):
        on_preview(gap)
    for piece in stream_take(engine, chunk, voice, stages, seed + k, StreamSettings(), progress, [generators]):
        if piece.result is not None:
            return piece.result
        on_preview(piece.audio)
    raise RuntimeError("the stream ended without its take")  # stream_take always ends with the take


def _starts(arrays: list) -> tuple[int, ...]:
    """Start index of each array along its last axis once they are concatenated."""
    out, pos = [], 0
    for a in arrays:
        out.append(pos)
        pos += a.shape[-1]
    return tuple(out)


def _voice_or(result, fallback):
    """A chunk's generation as the next voice; a chunk too short to be a valid prompt keeps the fallback."""
    try:
        return result.to_voice(name="previous chunk")
    except ValueError:
        return fallback
