"""The `bark-studio` command line (also `python -m bark_core`): say, batch, voice, voices, reproduce, demo-weights.

It drives the engine through its public API only. Progress bars (tqdm, on stderr when it is a terminal) live
here: the engine never prints. Bad input is one line on stderr and exit code 2 (never a traceback); Ctrl-C exits
with 130. What was written is printed on stdout, one file per line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from . import __version__
from .generation.longform import LongFormSettings
from .generation.settings import MAX_SEED, SAMPLING, SETTINGS, Setting, check_seed, whole_number
from .models.graphs import GRAPH_MODES
from .models.loading import PRECISIONS
from .voices.catalog import catalog, languages, preset_label, preset_names, presets_for

PROG = "bark-studio"
EXIT_BAD_INPUT = 2
EXIT_TOKENS_DIFFER = 1  # `reproduce --strict`
EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C
EXIT_BROKEN_PIPE = 1  # stdout closed early, as Python's documentation of SIGPIPE advises
DEFAULT_MODEL = "bark-small"
DEFAULT_LANGUAGE = "en"  # for text whose voice does not say its language
MANIFEST = "manifest.jsonl"
LINE_KEYS = ("text", "voice", "seed", "language", "name", *SETTINGS)  # what a JSONL line of `batch` may set
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # a batch output's file stem: no folders, no hidden files
LONG_FORM = LongFormSettings()  # how long text is split and joined (the engine's defaults)


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (no usage block) with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ---------------------------------------------------------------------------------------------------------------
# options


def sampling_flag(setting: Setting) -> str:
    """The flag of a sampling setting: its keyword with dashes, a unit suffix left to the help (`--text-temp`,
    `--max-duration` for max_duration_s)."""
    return "--" + setting.name.removesuffix("_s").replace("_", "-")


def sampling_allowed(setting: Setting) -> str:
    """What a sampling flag takes, in words: the setting's numbers, and 'none' (or its form value, such as top-k 0)
    where None means something."""
    numbers = setting.allowed().removesuffix(f" or None ({setting.none})") if setting.none else setting.allowed()
    if not setting.none:
        return numbers
    also = "" if setting.form_off is None else f" or {setting.form_off:g}"
    return f"{numbers}, or none{also} ({setting.none})"


def sampling_value(setting: Setting) -> Callable[[str], float | int | None]:
    """argparse type of a sampling flag (see `sampling_allowed`); the setting's own check decides."""

    def parse(text: str) -> float | int | None:
        if setting.none and text.strip().lower() == "none":
            return None
        try:
            value = int(text) if setting.integer else float(text)
            if setting.form_off is not None and value == setting.form_off:
                return None
            return setting.check(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {sampling_allowed(setting)}; got {text!r}") from None

    parse.__name__ = setting.name
    return parse


def sampling_help(setting: Setting) -> str:
    default = "none" if setting.default is None else f"{setting.default:g}"
    return f"{setting.help}: {sampling_allowed(setting)} (default: {default})".replace("%", "%%")


def seed_value(text: str) -> int:
    try:
        return check_seed(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_SEED}; got {text!r}") from None


def takes_value(text: str) -> int:
    try:
        return whole_number(int(text), "--takes", 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1; got {text!r}") from None


def add_model_options(p: argparse.ArgumentParser, from_bundle: bool = False) -> None:
    g = p.add_argument_group("model")
    default = " (default: the bundle's)" if from_bundle else f" (default: {DEFAULT_MODEL})"
    g.add_argument("--model", default=None if from_bundle else DEFAULT_MODEL,
                   help="bark, bark-small, a Hub repo id, or a local folder of suno .pt files or the transformers "
                        f"layout (`{PROG} demo-weights` writes an offline one){default}")
    g.add_argument("--voices", default=None, help="where preset voices come from: a folder of Bark .npz files "
                   "(v2/en_speaker_6.npz ...) or a Hub repo (default: the model folder's voices, else suno/bark)")
    g.add_argument("--device", default="auto", help="auto (a CUDA GPU when there is one), cpu, cuda or cuda:N "
                   "(default: auto)")
    g.add_argument("--precision", default=None if from_bundle else "exact", choices=PRECISIONS,
                   help="exact: fp32 on CPUs, token-identical to Bark's reference; fast: int8 weights on CPUs; "
                        "bf16: bf16 autocast on any device" + (" (default: the bundle's)" if from_bundle
                                                              else " (default: exact)"))
    g.add_argument("--graphs", default="auto", choices=GRAPH_MODES,
                   help="how decoding steps run: auto (CUDA graphs on a GPU, else eager), off, cuda, static, or "
                        "compile (torch.compile; the first generation compiles) (default: auto)")
    g.add_argument("--local-files-only", action="store_true",
                   help="never download: use local folders and the Hugging Face cache only")


def add_generation_options(p: argparse.ArgumentParser, batch: bool = False) -> None:
    g = p.add_argument_group("voice and seed" + (" (what a line does not set)" if batch else ""))
    g.add_argument("--voice", default=None, help="a preset name (e.g. v2/en_speaker_6; see `bark-studio voices`) "
                   "or a Bark .npz voice file (default: none, Bark picks a speaker)")
    seed = ("a line without a seed gets SEED + its line number - 1" if batch else
            "take k of --takes gets SEED + k - 1, the same take as --seed SEED+k-1 alone")
    g.add_argument("--seed", type=seed_value, default=None, help=f"the take's seed; {seed} (default: drawn at random "
                   "and reported)")
    g.add_argument("--language", default=None, choices=tuple(languages()),
                   help=f"the text's language, for splitting long text into sentences (default: the voice preset's "
                        f"language, else {DEFAULT_LANGUAGE})")
    s = p.add_argument_group("sampling", "Bark's sampling settings, the keywords of BarkPipeline.generate")
    for setting in SAMPLING:
        s.add_argument(sampling_flag(setting), dest=setting.name, type=sampling_value(setting),
                       default=argparse.SUPPRESS, metavar="N" if setting.integer else "X", help=sampling_help(setting))


def add_output_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what is written besides the WAV")
    g.add_argument("--bundle", action="store_true", help=f"the reproducibility bundle (.zip beside the WAV: audio, "
                   f"tokens, voice and every setting; `{PROG} reproduce` re-makes the take from it)")
    g.add_argument("--tokens", action="store_true", help="the tokens of every stage (.tokens.npz beside the WAV: "
                   "semantic_tokens, coarse_tokens, fine_tokens, sample_rate, seed)")


def sampling_of(args: argparse.Namespace) -> dict:
    """The sampling settings given on the command line (the engine's defaults apply to the rest)."""
    return {s.name: getattr(args, s.name) for s in SAMPLING if hasattr(args, s.name)}


# ---------------------------------------------------------------------------------------------------------------
# shared pieces


def status(args: argparse.Namespace, message: str) -> None:
    """A status line on stderr, only where a person watches it (as the progress bars): stderr a terminal and no
    --quiet. Scripts see stdout and, on failure, the one error line."""
    if not args.quiet and sys.stderr.isatty():
        print(message, file=sys.stderr)


def quiet_libraries(args: argparse.Namespace) -> None:
    """Hugging Face's own progress bars (downloads, saving weights) follow the same rule as ours: shown only on a
    terminal, never with --quiet."""
    if args.quiet or not sys.stderr.isatty():
        from huggingface_hub.utils import disable_progress_bars
        from transformers.utils import logging as transformers_logging

        disable_progress_bars()
        transformers_logging.disable_progress_bar()


class StageBar:
    """The engine's progress callback (stage, done, total) as one tqdm bar on stderr; off with --quiet or when
    stderr is not a terminal."""

    def __init__(self, quiet: bool, label: str = "", position: int = 0):
        from tqdm import tqdm

        self.bar = tqdm(total=1, desc=label, leave=False, disable=True if quiet else None, unit="step",
                        position=position, dynamic_ncols=True)
        self.label, self.stage = label, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.stage = stage
            self.bar.reset(total=total)
            self.bar.set_description(f"{self.label}{stage}")
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> StageBar:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()


def load_pipeline(args: argparse.Namespace):
    from .pipeline import BarkPipeline

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
    from .studio.bundle import write_bundle

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


# ---------------------------------------------------------------------------------------------------------------
# say


def run_say(args: argparse.Namespace) -> int:
    text = read_text(args.text)
    out = output_path(args.output, ".wav", "output")
    pipe = load_pipeline(args)
    voice = pipe.resolve_voice(args.voice)
    language = args.language or preset_language(args.voice) or DEFAULT_LANGUAGE
    paths = [out] if args.takes == 1 else [out.with_name(f"{out.stem}-{k}{out.suffix}")
                                           for k in range(1, args.takes + 1)]
    seed = args.seed
    for k, path in enumerate(paths):
        label = f"take {k + 1}/{len(paths)} " if len(paths) > 1 else ""
        with StageBar(args.quiet, label) as bar:
            result = pipe.generate_long(text, voice=voice, language=language, settings=LONG_FORM, seed=seed,
                                        progress=bar, **sampling_of(args))
        seed = result.seed + 1  # the next take's seed (the first, if drawn, is the engine's)
        written = save_take(path, pipe, result, bundle_voice(args.voice, voice), language, args)
        print(describe_take(path, result))
        for extra in written[1:]:
            print(extra)
    return 0


# ---------------------------------------------------------------------------------------------------------------
# batch


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
        sampling = {**sampling_of(args), **{k: SETTINGS[k].check(v) for k, v in entry.items() if k in SETTINGS}}
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


# ---------------------------------------------------------------------------------------------------------------
# voice, voices, reproduce, demo-weights


def run_voice(args: argparse.Namespace) -> int:
    recording = Path(args.recording).expanduser()
    if not recording.is_file():
        raise ValueError(f"the recording {args.recording!r} does not exist")
    out = output_path(args.output, ".npz", "voice file")
    pipe = load_pipeline(args)
    status(args, f"{PROG}: loading HuBERT and the quantizer ...")
    cloner = pipe.voice_cloner(hubert=args.hubert, quantizer=args.quantizer)
    voice = cloner.voice_from_recording(recording, name=out.stem)
    voice.save(out)
    print(f"{out}\t{voice.duration_s:.2f} s of voice prompt")
    return 0


def run_voices(args: argparse.Namespace) -> int:
    for name in presets_for(args.language or "any"):
        print(preset_label(name))
    return 0


def run_reproduce(args: argparse.Namespace) -> int:
    from .studio.bundle import read_bundle, reproduce

    bundle = read_bundle(Path(args.bundle_file).expanduser())
    out = output_path(args.output, ".wav", "output")
    args.model = args.model or bundle.settings["model"].get("name") or DEFAULT_MODEL
    args.precision = args.precision or precision_for(bundle.settings.get("precision"))
    pipe = load_pipeline(args)
    with StageBar(args.quiet) as bar:
        result, differences, same = reproduce(pipe, bundle, progress=bar)
    result.save_wav(out)
    print(describe_take(out, result))
    print("the same tokens as the bundle's" if same else "the tokens differ from the bundle's")
    for difference in differences:
        print(f"  {difference}")
    return EXIT_TOKENS_DIFFER if args.strict and not same else 0


def precision_for(recorded: object) -> str:
    """The `precision=` that loads what a bundle records (`BarkPipeline.precision`: "fp32", "int8-dynamic...",
    "bf16-autocast")."""
    recorded = str(recorded or "")
    if recorded.startswith("int8"):
        return "fast"
    return "bf16" if recorded.startswith("bf16") else "exact"


def run_demo_weights(args: argparse.Namespace) -> int:
    from .testing.random_weights import write_offline_folder

    folder = Path(args.folder).expanduser()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(f"{args.folder!r} exists and is not an empty folder; name a new one")
    quiet_libraries(args)
    status(args, f"{PROG}: writing random {args.size} weights to {folder} ...")
    write_offline_folder(folder, size=args.size, seed=args.seed)
    print(folder)
    return 0


# ---------------------------------------------------------------------------------------------------------------
# the parser


def quiet_option() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars or status lines (they show only when stderr is a terminal)")
    return common


def add_say(commands, common) -> None:
    p = commands.add_parser("say", parents=[common], help="text -> a WAV (any length; takes; bundle, tokens)",
                            description="Say a text: write a 24 kHz 16-bit WAV. Text of any length: long text is "
                            "split into sentences and generated in one voice (long-form); text that fits one "
                            "generation gives exactly BarkPipeline.generate's take.",
                            epilog=f'example: {PROG} say "Hello! [laughs]" -o hello.wav --voice v2/en_speaker_6 '
                            "--seed 7")
    p.add_argument("text", help="what to say (cues such as [laughs] and ♪ work as in Bark); - reads stdin")
    p.add_argument("-o", "--output", required=True, help="the WAV to write (with --takes N: NAME-1.wav ... "
                   "NAME-N.wav)")
    p.add_argument("--takes", type=takes_value, default=1, help="how many takes, one after another, with seeds "
                   "SEED, SEED+1, ... (default: 1)")
    add_output_options(p)
    add_generation_options(p)
    add_model_options(p)
    p.set_defaults(run=run_say)


def add_batch(commands, common) -> None:
    p = commands.add_parser("batch", parents=[common], help="one take per line of a text or JSONL file",
                            description="One take per non-blank line of LINES, written as OUTDIR/NNNN.wav (NNNN: "
                            f"the line number) with OUTDIR/{MANIFEST}, one JSON record per take: its line, files, "
                            "seed and every setting. Resumable: lines whose WAV exists are skipped, so run the same "
                            "command again after an interruption. A .jsonl file has one object per line with "
                            f"\"text\" and any of {', '.join(k for k in LINE_KEYS if k != 'text')} (null: none "
                            "or off); the options below apply to what a line does not set.",
                            epilog=f"example: {PROG} batch lines.txt -o takes/ --voice v2/en_speaker_6 --seed 1;  "
                            'a JSONL line: {"text": "Hi!", "voice": "v2/de_speaker_3", "seed": 7, "text_temp": 0.6, '
                            '"name": "greeting"}')
    p.add_argument("lines", help="a text file (one text per line) or a .jsonl file (one JSON object per line)")
    p.add_argument("-o", "--output", required=True, help="the folder to write into (made if missing)")
    add_output_options(p)
    add_generation_options(p, batch=True)
    add_model_options(p)
    p.set_defaults(run=run_batch)


def add_voice(commands, common) -> None:
    p = commands.add_parser("voice", parents=[common], help="a voice (.npz) from a recording",
                            description="Make a Bark voice (.npz history prompt) from a recording of one speaker "
                            "(wav, flac, ogg or mp3; a few seconds to a few minutes of clean speech), with the "
                            "model's codec, HuBERT and a HuBERT quantizer.",
                            epilog=f"example: {PROG} voice me.wav -o me.npz;  then: {PROG} say \"Hi\" -o hi.wav "
                            "--voice me.npz")
    p.add_argument("recording", help="the recording")
    p.add_argument("-o", "--output", required=True, help="the voice file to write (.npz)")
    g = p.add_argument_group("voice cloning")
    g.add_argument("--hubert", default=None, help="HuBERT: a Hub id or a local folder (default: "
                   "facebook/hubert-base-ls960)")
    g.add_argument("--quantizer", default=None, help="the HuBERT quantizer: a .pth file or owner/repo/file.pth "
                   "(default: GitMylo/bark-voice-cloning's)")
    add_model_options(p)
    p.set_defaults(run=run_voice)


def add_voices(commands, common) -> None:
    p = commands.add_parser("voices", parents=[common], help="the catalogue of preset voices",
                            description="List Bark's preset voices, one per line: the name (what --voice takes), "
                            "its language, and the gender and note Suno's speaker library gives, where one does.",
                            epilog=f"example: {PROG} voices --language de")
    p.add_argument("--language", default=None, choices=tuple(languages()),
                   help="only the presets of this language (default: all)")
    p.set_defaults(run=run_voices)


def add_reproduce(commands, common) -> None:
    p = commands.add_parser("reproduce", parents=[common], help="re-make a take from its bundle (.zip)",
                            description="Re-make a take from its reproducibility bundle (written by the app or "
                            "by --bundle) and say whether its tokens are the bundle's, and what differs in the "
                            "set-up (weights, device, precision, versions) when they are not.",
                            epilog=f"example: {PROG} reproduce take.zip -o again.wav")
    p.add_argument("bundle_file", metavar="bundle", help="the take's bundle (.zip)")
    p.add_argument("-o", "--output", required=True, help="the WAV to write")
    p.add_argument("--strict", action="store_true",
                   help=f"exit with code {EXIT_TOKENS_DIFFER} when the tokens differ from the bundle's")
    add_model_options(p, from_bundle=True)
    p.set_defaults(run=run_reproduce)


def add_demo_weights(commands, common) -> None:
    from .testing.random_weights import SIZES

    p = commands.add_parser("demo-weights", parents=[common], help="write an offline random-weights model folder",
                            description="Write a model folder of random weights in the real file formats (suno "
                            ".pt checkpoints, tokenizer, codec), which runs with no download: its audio is noise, "
                            "but everything around it is real. For trying the tools offline.",
                            epilog=f'example: {PROG} demo-weights tiny-bark && {PROG} say "Hello" -o hello.wav '
                            "--model tiny-bark")
    p.add_argument("folder", help="the folder to write (new or empty)")
    p.add_argument("--size", default="tiny", choices=tuple(SIZES),
                   help="tiny (seconds to write and run) or the real models' sizes (default: tiny)")
    p.add_argument("--seed", type=seed_value, default=0, help="the seed of the random weights (default: 0)")
    p.set_defaults(run=run_demo_weights)


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Bark text-to-audio from the command line: say, batch, voices from "
                    "recordings, the preset catalogue, reproducing takes. Each command's --help lists its options.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    common = quiet_option()
    for add in (add_say, add_batch, add_voice, add_voices, add_reproduce, add_demo_weights):
        add(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 done, 2 bad input, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # stdout's reader stopped early (`| head`): no message, and nothing more to print
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (ValueError, OSError) as e:  # bad input: the engine's messages, files that cannot be read or written
        message = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.strerror and e.filename else str(e)
        print(f"{PROG} {args.command}: error: {' '.join(message.split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
