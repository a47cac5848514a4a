"""What the app does with one request, free of Gradio: check the page's settings, run the takes (a batch, a live
stream or long-form text), save a take's downloads, and say how long each stage took.

`app.py` lays out the page and turns the `ValueError`s raised here into messages; this module is what it calls, so
the same request logic is testable without a browser and usable from Python.
"""

from __future__ import annotations

import math
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..generation.longform import LongFormSettings, plan_chunks, split_text, sung_texts
from ..generation.result import BarkResult
from ..generation.semantic import GenerationCancelled
from ..generation.text import check_text, estimate_seconds, tokenize
from ..models.loading import resolve_device
from .bundle import write_bundle
from .fields import sampling_from_page, seed_from_page

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


def loading_progress(stage: str, done: int, total: int) -> tuple[float, str]:
    """Model-loading progress (`BarkPipeline.from_pretrained`'s) -> (fraction, label): "loading the text model
    1/4…", or "downloading text_2.pt: 120 of 2,400 MB" while a file comes from the Hub."""
    if stage.startswith("downloading"):
        return (done / total if total else 0.0), (f"{stage}: {done / 1e6:,.0f} of {total / 1e6:,.0f} MB" if total
                                                  else f"{stage}: {done / 1e6:,.0f} MB")
    return (done - 1) / max(total, 1), (f"{stage} {done}/{total}…" if total > 1 else f"{stage}…")


def precision_mode(recorded: str | None, device: str = "auto") -> str:
    """The precision mode ("exact", "fast", "bf16") that makes weights in the format a take recorded
    (`BarkPipeline.precision`: "fp32", "int8-dynamic…", "bf16-autocast"), so a bundle is re-created as it was made;
    "exact" when it recorded none."""
    if recorded and recorded.startswith("int8"):
        return "fast"
    if recorded == "bf16-autocast" and resolve_device(device).type == "cpu":
        return "bf16"
    return "exact"


def sampling_settings(fields: Mapping[str, object], seed: object, random_seed: bool) -> dict:
    """The page's sampling fields (keyed by setting name, as `fields.sampling_from_page` takes them), seed and
    random-seed box -> `generate` keyword arguments. The form's "off" values become None; a random seed is drawn
    here, so the take reports the seed that made it. ValueError names a field as the page labels it."""
    return {**sampling_from_page(fields), "seed": seed_from_page(seed, random_seed)}


def check_length(text: object, long: LongFormSettings) -> None:
    """Text longer than one take allows is refused with its length and the cap, as typed (never cut short)."""
    if isinstance(text, str) and len(text) > long.max_chars:
        raise ValueError(f"the text is {len(text):,} characters; at most {long.max_chars:,} fit one take: split it "
                         f"into several")


def check_takes(n_takes) -> int:
    """The number of takes asked for, checked: a whole number in 1..APP_MAX_TAKES."""
    whole = isinstance(n_takes, (int, float)) and not isinstance(n_takes, bool) and math.isfinite(n_takes) \
        and float(n_takes).is_integer()
    if not whole or not 1 <= int(n_takes) <= APP_MAX_TAKES:
        raise ValueError(f"takes must be a whole number from 1 to {APP_MAX_TAKES}; got {n_takes!r}")
    return int(n_takes)


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
    if tokenizer is not None and not count(norm):  # nothing BERT reads: the engine refuses it as empty text
        return "0 BERT tokens · 0 s", []
    chunks = sung_texts(split_text(norm, count, language if language != "any" else "en", long))
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
