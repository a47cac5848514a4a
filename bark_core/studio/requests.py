"""What the app does with one request, free of Gradio: check the page's settings, run the takes (a batch, a live
stream or long-form text), save a take's downloads, and say how long each stage took.

`app.py` lays out the page and turns the `ValueError`s raised here into messages; this module is what it calls, so
the same request logic is testable without a browser and usable from Python.
"""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..generation.longform import LongFormSettings, plan_chunks, split_text
from ..generation.result import BarkResult
from ..generation.semantic import GenerationCancelled
from ..generation.text import check_text, estimate_seconds, tokenize
from .bundle import write_bundle

if TYPE_CHECKING:
    from ..pipeline import BarkPipeline

APP_MAX_TAKES = 4  # takes per request in the app (one batch; the engine allows up to cascade.MAX_BATCH_TAKES)
# Each stage's share of a take's progress bar: roughly where the time goes on a CPU.
STAGE_SPAN = {"semantic": (0.0, 0.25), "coarse": (0.25, 0.8), "fine": (0.8, 0.95), "decode": (0.95, 1.0)}
CHARS_PER_TOKEN = 3.5  # a rough BERT-token count when the model's tokenizer is not loaded yet


def overall_progress(stage: str, done: int, total: int) -> tuple[float, str]:
    """Engine progress ("coarse", or "chunk 2/5 coarse" for long text) -> (fraction of the whole take, label)."""
    m = re.fullmatch(r"chunk (\d+)/(\d+) (\w+)", stage)
    k, n, name = (int(m[1]) - 1, int(m[2]), m[3]) if m else (0, 1, stage)
    lo, hi = STAGE_SPAN.get(name, (0.0, 1.0))
    inner = lo + (hi - lo) * done / max(total, 1)
    return (k + inner) / n, f"{stage} {done}/{total}"


def sampling_settings(text_temp: float, waveform_temp: float, fine_temp: float, top_k, top_p, min_eos_p: float,
                      max_duration, seed, random_seed: bool) -> dict:
    """The page's sampling controls -> `generate` keyword arguments (0 / 1 / empty mean "off"; a random seed is
    drawn here, so the take reports the seed that made it)."""
    if not random_seed and not _whole(seed):
        raise ValueError(f"seed must be a whole number (or tick 'random'); got {seed!r}")
    return dict(text_temp=text_temp, waveform_temp=waveform_temp, fine_temp=fine_temp,
                top_k=int(top_k) if top_k else None, top_p=None if top_p is None or top_p >= 1 else top_p,
                min_eos_p=min_eos_p, max_duration_s=max_duration or None,
                seed=secrets.randbelow(2**32) if random_seed else int(seed))


def check_takes(n_takes) -> int:
    """The number of takes asked for, checked: a whole number in 1..APP_MAX_TAKES."""
    if not _whole(n_takes) or not 1 <= int(n_takes) <= APP_MAX_TAKES:
        raise ValueError(f"takes must be a whole number from 1 to {APP_MAX_TAKES}; got {n_takes!r}")
    return int(n_takes)


def _whole(value) -> bool:
    """Whether `value` is a whole number (an int, or a float like 3.0, as a page's number field sends it)."""
    try:
        return value is not None and float(value) == int(value)
    except (TypeError, ValueError, OverflowError):
        return False


def run_request(pipe: BarkPipeline, text: str, voice, language: str, kw: dict, n_takes: int,
                on_audio: Callable[[np.ndarray], None] | None, progress: Callable[[float, str], None],
                cancel: threading.Event, long: LongFormSettings) -> list[BarkResult]:
    """The takes of one request: a batch of takes, a live stream (`on_audio` gets each float32 chunk of the first
    take's preview; a batch of takes, or one take of long text), or long-form text (one take at a time).
    progress(fraction of the request, label); `cancel` set -> GenerationCancelled at the next step, which frees
    the generation's memory."""
    kw = dict(kw)
    chunks = plan_chunks(pipe, text, language, long)
    # Streamed: one chunk (one take or a batch of them, the preview playing the first) or one take of long text.
    streamed = on_audio is not None and (len(chunks) == 1 or n_takes == 1)
    shown = [0.0]

    def report(stage: str, done: int, total: int) -> None:
        if cancel.is_set():
            raise GenerationCancelled("stopped by the user")
        fraction, label = overall_progress(stage, done, total)
        if streamed:  # a fast-mode stream interleaves semantic and coarse steps: the bar only moves forward
            fraction = shown[0] = max(shown[0], fraction)
        progress(fraction, label)

    if len(chunks) == 1 and on_audio is not None:
        for chunk in pipe.stream(chunks[0], voice=voice, n_takes=n_takes, progress=report, **kw):
            if chunk.result is None:
                on_audio(chunk.audio)
        return list(chunk.takes)
    if len(chunks) == 1 and n_takes > 1:
        return pipe.generate_takes(chunks[0], n_takes=n_takes, voice=voice, progress=report, **kw)
    # One entry point for every length: text that fits one window is exactly `generate`. A single take of long
    # text streams chunk by chunk (the same take); several takes of it run one after another, unstreamed.
    seed = kw.pop("seed")
    preview = on_audio if n_takes == 1 else None
    return [pipe.generate_long(text, voice=voice, language=language, settings=long, progress=report,
                               seed=None if seed is None else seed + i, on_preview=preview, **kw)
            for i in range(n_takes)]


def timing_summary(results: list[BarkResult]) -> str:
    """One line (Markdown) on the request: audio length or number of takes, time per stage, RTF, seed."""
    result, t = results[0], results[0].timings
    batch = f"{len(results)} takes" if len(results) > 1 else f"**{result.duration_s:.2f} s** of audio"
    line = (f"{batch} in {t['total']:.1f} s — real-time factor **{result.rtf:.2f}** · semantic "
            f"{t['semantic']:.2f} s · coarse {t['coarse']:.2f} s · fine {t['fine']:.2f} s · decode "
            f"{t['decode']:.2f} s · seed **{result.seed}**")
    if "first_audio" in t:
        line += f" · first audio after **{t['first_audio']:.1f} s**"
    return line


def token_counter(tokenizer) -> Callable[[str], int]:
    """text -> its number of BERT tokens: exact with the model's tokenizer, estimated from its length without."""
    if tokenizer is None:
        return lambda t: round(len(t) / CHARS_PER_TOKEN)
    return lambda t: len(tokenize(tokenizer, t)) if t else 0


def text_summary(text: str, tokenizer, language: str, long: LongFormSettings) -> tuple[str, list[list]]:
    """The live count under the text box and the split preview's rows (chunk number, text, estimated seconds).

    Exact with the model's tokenizer; with `tokenizer=None` (not loaded yet) an estimate, marked "≈".
    """
    count = token_counter(tokenizer)
    try:
        norm = check_text(text)
    except ValueError:
        return "0 BERT tokens · 0 s", []
    chunks = [c.strip() for c in split_text(norm, count, language if language != "any" else "en", long)]
    rows = [[i + 1, c, round(estimate_seconds(count(c)), 1)] for i, c in enumerate(chunks)]
    approx = "" if tokenizer is not None else "≈"
    seconds = sum(estimate_seconds(count(c)) for c in chunks)
    parts = f" · {len(chunks)} chunks of ≤ {long.max_chunk_seconds:.0f} s" if len(chunks) > 1 else ""
    return f"{approx}{count(norm)} BERT tokens · ≈{seconds:.1f} s of speech{parts}", rows


def save_take(out_dir: Path, pipe: BarkPipeline, result: BarkResult, voice, language: str,
              long: LongFormSettings, extras: bool = True) -> tuple[dict, str | None]:
    """Write a take's downloads under a fresh id: WAV, reproducibility bundle, and with `extras` its tokens and
    the take as a voice (the Evaluate grid offers only the first two).

    Returns ({"id", "voice", "wav", "bundle", "tokens", "npz"}, error): the paths are None for what could not be
    written, with `error` saying why (e.g. a full disk) — the take itself is never lost for that. A take too
    short to be a voice prompt has no voice ("voice" and "npz" None, and no error).
    """
    take_id = uuid.uuid4().hex[:8]
    try:
        take_voice = result.to_voice(name=f"take-{take_id}") if extras else None
    except ValueError:
        take_voice = None
    files = dict(wav=None, bundle=None, tokens=None, npz=None)
    error = None
    try:
        files["wav"] = str(result.save_wav(out_dir / f"bark-{take_id}.wav"))
        files["bundle"] = str(write_bundle(out_dir / f"bark-take-{take_id}.zip", pipe, result, voice, language,
                                           long))
        if extras:
            files["tokens"] = str(result.save_tokens(out_dir / f"bark-tokens-{take_id}.npz"))
        if take_voice is not None:
            files["npz"] = str(take_voice.save(out_dir / f"bark-voice-{take_id}.npz"))
    except OSError as e:
        error = f"The take could not be saved for download ({e.strerror or e}); it still plays here."
    return {"id": take_id, "voice": take_voice, **files}, error
