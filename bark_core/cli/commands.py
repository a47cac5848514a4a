"""The commands that make one thing each: say (a text, in takes), voice (from a recording), voices (the preset
catalogue), reproduce (a take from its bundle) and demo-weights (an offline random-weights folder)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..voices.catalog import preset_label, presets_for
from .options import (
    DEFAULT_LANGUAGE,
    DEFAULT_MODEL,
    EXIT_TOKENS_DIFFER,
    PROG,
    StageBar,
    quiet_libraries,
    sampling_of,
    status,
)
from .takes import (
    LONG_FORM,
    bundle_voice,
    describe_take,
    load_pipeline,
    output_path,
    preset_language,
    read_text,
    save_take,
)


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
    from ..studio.bundle import read_bundle, reproduce

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
    from ..testing.random_weights import write_offline_folder

    folder = Path(args.folder).expanduser()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(f"{args.folder!r} exists and is not an empty folder; name a new one")
    quiet_libraries(args)
    status(args, f"{PROG}: writing random {args.size} weights to {folder} ...")
    write_offline_folder(folder, size=args.size, seed=args.seed)
    print(folder)
    return 0
