"""`bark-studio batch`: one take per line of a text or JSONL file, every line checked before the first take, a
manifest of what was made, and resuming where an interrupted batch stopped."""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..generation.settings import SAMPLING, SETTINGS, Setting, check_seed
from ..version import __version__
from ..voices.catalog import languages
from .options import DEFAULT_LANGUAGE, PROG, StageBar, sampling_of, status
from .takes import LONG_FORM, bundle_voice, describe_take, load_pipeline, preset_language, save_take

MANIFEST = "manifest.jsonl"
LINE_KEYS = ("text", "voice", "seed", "language", "name", *SETTINGS)  # what a JSONL line of `batch` may set
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # a batch output's file stem: no folders, no hidden files


@dataclass(frozen=True)
class BatchLine:
    """One line of a batch file, with the command line's defaults filled in."""

    number: int  # in the file, from 1 (blank lines count, so numbers match an editor's)
    name: str  # the output's file stem
    text: str
    voice: str | None
    seed: int | None
    language: str
    sampling: dict


def parse_line(raw: str, number: int, jsonl: bool) -> dict:
    """What a line sets: a text file's line its text; a JSONL line an object of LINE_KEYS with a text."""
    if not jsonl:
        return {"text": raw}
    try:
        entry = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"line {number} is not valid JSON ({e})") from None
    if not isinstance(entry, dict):
        raise ValueError(f"line {number} must be a JSON object such as {{\"text\": \"Hello!\", \"seed\": 7}}")
    unknown = [k for k in entry if k not in LINE_KEYS]
    if unknown:
        raise ValueError(f"line {number}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
                         f"; a line may set {', '.join(LINE_KEYS)}")
    if not isinstance(entry.get("text"), str) or not entry["text"].strip():
        raise ValueError(f"line {number}: \"text\" must be a non-empty string")
    return entry


def line_value(setting: Setting, value: object) -> float | int | None:
    """A sampling setting of a JSONL line, read as its flag is: null, or the flag's "off" value (top-k 0, top-p 1,
    max duration 0), is off; anything else must be what the setting allows."""
    if setting.form_off is not None and not isinstance(value, bool) and value == setting.form_off:
        return None
    return setting.check(value)


def batch_line(entry: dict, number: int, args: argparse.Namespace) -> BatchLine:
    """A line's take: what the line sets, else the command line's options; ValueError names the line."""
    try:
        voice = entry.get("voice", args.voice)
        if voice is not None and not isinstance(voice, str):
            raise ValueError(f"voice must be a preset name or a path to an .npz file, or null; got {voice!r}")
        seed = entry.get("seed", None if args.seed is None else args.seed + number - 1)
        language = entry.get("language") or args.language or preset_language(voice) or DEFAULT_LANGUAGE
        if language not in languages():
            raise ValueError(f"language must be one of {', '.join(languages())}; got {language!r}")
        name = entry.get("name", f"{number:04d}")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ValueError(f"name must be a file name of letters, digits and _ . - (no folder); got {name!r}")
        sampling = {**sampling_of(args), **{k: line_value(SETTINGS[k], v) for k, v in entry.items() if k in SETTINGS}}
        return BatchLine(number, name, entry["text"], voice, None if seed is None else check_seed(seed), language,
                         sampling)
    except ValueError as e:
        raise ValueError(f"line {number}: {e}") from None


def read_batch(path: Path, args: argparse.Namespace) -> list[BatchLine]:
    """Every non-blank line of a text file (one text per line) or of a JSONL file (`.jsonl`, `.ndjson`: one
    object per line), checked before anything is generated."""
    if not path.is_file():
        raise ValueError(f"the lines file {str(path)!r} does not exist")
    try:
        raws = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    lines = [batch_line(parse_line(raw, n, jsonl), n, args) for n, raw in enumerate(raws, 1) if raw.strip()]
    if not lines:
        raise ValueError(f"{path} has no lines to say")
    seen: dict[str, int] = {}
    for line in lines:
        if line.name in seen:
            raise ValueError(f"line {line.number}: name {line.name!r} is already line {seen[line.name]}'s")
        seen[line.name] = line.number
    return lines


def manifest_record(line: BatchLine, result, pipe, files: list[Path]) -> dict:
    """What the manifest says of a take: its line, files, seed and every setting it was made with."""
    return {"line": line.number, "wav": files[0].name, "seed": result.seed, "duration_s": round(result.duration_s, 3),
            "text": line.text, "voice": line.voice, "language": line.language,
            "settings": {s.name: result.settings.get(s.name) for s in SAMPLING}, "chunks": max(1, len(result.chunks)),
            "model": pipe.name, "precision": pipe.precision, "device": pipe.device.type, "bark_core": __version__,
            "files": [f.name for f in files[1:]]}


def finished_records(manifest: Path) -> list[dict]:
    """The manifest's records whose WAV exists, one per WAV. A record whose WAV never landed (the batch stopped
    between the two) and a torn last line are dropped."""
    if not manifest.exists():
        return []
    records = {}
    for raw in manifest.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("wav"), str) and \
                (manifest.parent / record["wav"]).is_file():
            records[record["wav"]] = record
    return list(records.values())


def write_manifest(manifest: Path, records: list[dict]) -> None:
    partial = manifest.with_name(f".{manifest.name}.partial")
    partial.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    os.replace(partial, manifest)


def append_record(manifest: Path, line: BatchLine, result, pipe, files: list[Path]) -> None:
    with manifest.open("a", encoding="utf-8") as f:
        f.write(json.dumps(manifest_record(line, result, pipe, files), ensure_ascii=False) + "\n")


def run_batch(args: argparse.Namespace) -> int:
    from functools import partial

    from tqdm import tqdm

    lines = read_batch(Path(args.lines).expanduser(), args)
    out_dir = Path(args.output).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / MANIFEST
    write_manifest(manifest, finished_records(manifest))
    todo = [line for line in lines if not (out_dir / f"{line.name}.wav").exists()]
    status(args, f"{PROG}: {len(lines) - len(todo)} of {len(lines)} lines already made in {out_dir}")
    if not todo:
        return 0
    pipe = load_pipeline(args)
    voices = {}  # each voice read once, and a bad one refused before the first take
    for line in todo:
        try:
            if line.voice not in voices:
                voices[line.voice] = pipe.resolve_voice(line.voice)
        except ValueError as e:
            raise ValueError(f"line {line.number}: {e}") from None
    with tqdm(total=len(lines), initial=len(lines) - len(todo), desc="batch", unit="take", dynamic_ncols=True,
              disable=True if args.quiet else None) as done:
        for line in todo:
            with StageBar(args.quiet, f"line {line.number} ", position=1) as bar:
                try:
                    result = pipe.generate_long(line.text, voice=voices[line.voice], language=line.language,
                                                settings=LONG_FORM, seed=line.seed, progress=bar, **line.sampling)
                except ValueError as e:
                    raise ValueError(f"line {line.number}: {e}") from None
            path = out_dir / f"{line.name}.wav"
            save_take(path, pipe, result, bundle_voice(line.voice, voices[line.voice]), line.language, args,
                      record=partial(append_record, manifest, line, result, pipe))
            print(describe_take(path, result), flush=True)
            done.update(1)
    return 0
