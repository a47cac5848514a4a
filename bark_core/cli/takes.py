"""What the commands share around the engine: loading the pipeline, checking output paths, a voice's language,
and writing a take (WAV, tokens, bundle) so that an existing WAV is always a finished one."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from ..generation.longform import LongFormSettings
from ..voices.catalog import catalog, preset_names
from .options import PROG, quiet_libraries, status

LONG_FORM = LongFormSettings()  # how long text is split and joined (the engine's defaults)


def load_pipeline(args: argparse.Namespace):
    from ..pipeline import BarkPipeline

    quiet_libraries(args)
    status(args, f"{PROG}: loading {args.model} ({args.precision}) ...")
    return BarkPipeline.from_pretrained(args.model, voices=args.voices, device=args.device, precision=args.precision,
                                        graphs=args.graphs, local_files_only=args.local_files_only)


def output_path(text: str, suffix: str, what: str) -> Path:
    """An output file path with `suffix` whose folder exists, or ValueError."""
    path = Path(text).expanduser()
    if path.suffix.lower() != suffix:
        raise ValueError(f"the {what} must be a {suffix} file; got {text!r}")
    if not path.parent.is_dir():
        raise ValueError(f"the folder of {text!r} does not exist")
    return path


def preset_language(voice: str | None) -> str | None:
    """The language of a preset voice by its catalogue entry; None for files, no voice and unlabelled presets."""
    return next((v["language"] for v in catalog() if v["name"] == voice), None)


def bundle_voice(voice: str | None, resolved):
    """What a bundle records as the voice: the preset name for a preset, else the Voice itself (embedded)."""
    return voice if voice in preset_names() else resolved


def read_text(text: str) -> str:
    return sys.stdin.read() if text == "-" else text


def save_take(path: Path, pipe, result, voice, language: str, args: argparse.Namespace,
              record: Callable[[list[Path]], None] | None = None) -> list[Path]:
    """Write a take: `path` (WAV, 24 kHz PCM 16) and, with --tokens / --bundle, its `.tokens.npz` / `.zip`.

    The WAV comes last, written under a temporary name and renamed into place, so an existing WAV is always a
    finished take (what `batch` resumes on); `record` (the batch's manifest) gets the written files just before
    the rename. Returns the files written."""
    from ..studio.bundle import write_bundle

    files = []
    if args.tokens:
        files.append(result.save_tokens(path.with_suffix(".tokens.npz")))
    if args.bundle:
        files.append(write_bundle(path.with_suffix(".zip"), pipe, result, voice, language, LONG_FORM))
    partial = path.with_name(f".{path.stem}.partial.wav")  # soundfile picks the format by the suffix
    try:
        result.save_wav(partial)
        if record is not None:
            record([path, *files])
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return [path, *files]


def describe_take(path: Path, result) -> str:
    return f"{path}\t{result.duration_s:.2f} s\tseed {result.seed}"
