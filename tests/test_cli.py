"""The `bark-studio` command line end to end on the tiny offline folder: the files it writes, the seeds and settings
it passes to the engine, batches that resume, and bad input as one line with exit code 2."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import soundfile as sf

from bark_core import BarkPipeline, Voice, __version__
from bark_core.cli import batch, options
from bark_core.cli.main import build_parser, main
from bark_core.generation.settings import SAMPLING
from bark_core.studio.bundle import read_bundle
from bark_core.testing.random_weights import write_hubert, write_quantizer
from bark_core.voices.catalog import preset_label, presets_for

from .conftest import ROOT

SHORT = ("--max-duration", "0.3")  # random weights rarely end a take on their own: keep each one short


def run(capsys, *argv) -> tuple[int, str, str]:
    """The command line in this process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse: --help, --version and bad arguments
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def tokens(path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def pcm(path) -> np.ndarray:
    return sf.read(path, dtype="int16")[0]


def manifest(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / batch.MANIFEST).read_text(encoding="utf-8").splitlines()]


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


# --- say --------------------------------------------------------------------------------------------------------


def test_say_writes_the_apis_take_as_a_24khz_pcm16_wav(capsys, tmp_path, model_dir, pipe):
    wav = tmp_path / "hello.wav"
    code, out, err = run(capsys, "say", "Hello! [laughs]", "-o", wav, "--model", model_dir, "--seed", 7,
                         "--text-temp", 0.6, "--top-k", 50, "--fine-temp", "none", *SHORT, "--tokens", "--bundle")
    assert (code, err) == (0, "")
    info = sf.info(wav)
    assert (info.samplerate, info.subtype, info.channels) == (24_000, "PCM_16", 1) and info.frames > 0
    # The flags reach the engine: the same take as the API call with those keywords.
    api = pipe.generate("Hello! [laughs]", seed=7, text_temp=0.6, top_k=50, fine_temp=None, max_duration_s=0.3)
    saved = tokens(tmp_path / "hello.tokens.npz")
    for key in ("semantic_tokens", "coarse_tokens", "fine_tokens"):
        np.testing.assert_array_equal(saved[key], getattr(api, key))
    assert int(saved["seed"]) == 7
    np.testing.assert_array_equal(pcm(wav), pcm(api.save_wav(tmp_path / "api.wav")))
    bundle = read_bundle(tmp_path / "hello.zip").settings
    assert bundle["seed"] == 7 and bundle["text"] == "Hello! [laughs]"
    assert (bundle["sampling"]["text_temp"], bundle["sampling"]["top_k"], bundle["sampling"]["fine_temp"]) == \
        (0.6, 50, None)
    assert out.splitlines() == [f"{wav}\t{api.duration_s:.2f} s\tseed 7", str(tmp_path / "hello.tokens.npz"),
                                str(tmp_path / "hello.zip")]


def test_takes_are_the_takes_of_consecutive_seeds(capsys, tmp_path, model_dir, pipe):
    code, _, _ = run(capsys, "say", "Hello there.", "-o", tmp_path / "hi.wav", "--takes", 2, "--seed", 5,
                     "--model", model_dir, "--tokens", *SHORT)
    assert code == 0
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == ["hi-1.wav", "hi-2.wav"]
    first, second = tokens(tmp_path / "hi-1.tokens.npz"), tokens(tmp_path / "hi-2.tokens.npz")
    assert (int(first["seed"]), int(second["seed"])) == (5, 6)
    api = pipe.generate("Hello there.", seed=6, max_duration_s=0.3)  # take 2 is `say --seed 6` alone
    for key in ("semantic_tokens", "coarse_tokens", "fine_tokens"):
        np.testing.assert_array_equal(second[key], getattr(api, key))


def test_say_without_a_seed_reports_the_drawn_one_and_reads_stdin(capsys, tmp_path, model_dir, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello from a pipe."))
    code, out, _ = run(capsys, "say", "-", "-o", tmp_path / "p.wav", "--model", model_dir, "--takes", 2, "--bundle",
                       *SHORT)
    assert code == 0
    first, second = (read_bundle(tmp_path / f"p-{k}.zip").settings for k in (1, 2))
    assert first["text"] == "Hello from a pipe." and second["seed"] == first["seed"] + 1
    assert f"seed {first['seed']}" in out.splitlines()[0]


def test_long_text_goes_through_long_form(capsys, tmp_path, model_dir):
    text = "The first sentence is long enough to fill most of a chunk. The second one has to go into another."
    code, _, _ = run(capsys, "say", text, "-o", tmp_path / "long.wav", "--model", model_dir, "--seed", 1,
                     "--bundle", *SHORT)
    assert code == 0
    chunks = read_bundle(tmp_path / "long.zip").settings["chunks"]
    assert len(chunks) > 1 and " ".join(chunk.strip() for chunk in chunks) == text


# --- batch ------------------------------------------------------------------------------------------------------


def test_batch_resumes_after_an_interruption_without_redoing_finished_lines(capsys, tmp_path, model_dir, pipe,
                                                                              monkeypatch):
    entries = [{"text": "First line.", "seed": 11, "text_temp": 0.5, "top_k": 20}, None,
               {"text": "Second line.", "name": "second", "fine_temp": None}, {"text": "Third line."}]
    lines = tmp_path / "lines.jsonl"  # line 2 is blank: outputs are named by line number as an editor shows it
    lines.write_text("".join(("" if e is None else json.dumps(e)) + "\n" for e in entries), encoding="utf-8")
    out = tmp_path / "out"
    command = ("batch", lines, "-o", out, "--model", model_dir, "--seed", 100, *SHORT)
    calls, stop_at = [], [2]
    generate_long = BarkPipeline.generate_long

    def counted(self, text, **kw):
        calls.append(text)
        if len(calls) == stop_at[0]:
            raise KeyboardInterrupt  # Ctrl-C while the second take is being made
        return generate_long(self, text, **kw)

    monkeypatch.setattr(BarkPipeline, "generate_long", counted)
    code, _, err = run(capsys, *command)
    assert (code, err) == (options.EXIT_INTERRUPTED, "bark-studio batch: interrupted\n")
    finished = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.suffix == ".wav"}
    assert sorted(finished) == ["0001.wav"] and [r["line"] for r in manifest(out)] == [1]
    assert not [p for p in out.iterdir() if "partial" in p.name]

    calls.clear()
    stop_at[0] = 0
    code, stdout, _ = run(capsys, *command)
    assert code == 0
    assert calls == ["Second line.", "Third line."]  # only what was not finished
    assert {name: (out / name).stat().st_mtime_ns for name in finished} == finished  # finished takes untouched
    assert [line.split("\t")[0] for line in stdout.splitlines()] == [str(out / "second.wav"), str(out / "0004.wav")]
    records = manifest(out)
    assert [(r["line"], r["wav"], r["seed"], r["text"]) for r in records] == [
        (1, "0001.wav", 11, "First line."), (3, "second.wav", 102, "Second line."), (4, "0004.wav", 103, "Third line.")]
    assert [(r["settings"]["text_temp"], r["settings"]["top_k"], r["settings"]["fine_temp"]) for r in records] == [
        (0.5, 20, 0.5), (0.7, None, None), (0.7, None, 0.5)]
    assert {r["settings"]["max_duration_s"] for r in records} == {0.3}
    # A record re-makes its take through the API.
    again = pipe.generate(records[0]["text"], seed=records[0]["seed"], **records[0]["settings"])
    np.testing.assert_array_equal(pcm(out / "0001.wav"), pcm(again.save_wav(tmp_path / "again.wav")))

    calls.clear()
    assert run(capsys, *command)[0] == 0 and calls == []  # all done: nothing is made again


def test_batch_of_a_text_file_with_a_voice_file(capsys, tmp_path, model_dir, pipe):
    rng = np.random.default_rng(0)
    voice = Voice.from_arrays({"semantic_prompt": rng.integers(0, 10_000, 100),
                               "coarse_prompt": rng.integers(0, 1024, (2, 150)),
                               "fine_prompt": rng.integers(0, 1024, (8, 150))}).save(tmp_path / "me.npz")
    lines = tmp_path / "lines.txt"
    lines.write_text("\n  \nOne line of text.\n", encoding="utf-8")
    code, _, _ = run(capsys, "batch", lines, "-o", tmp_path / "out", "--model", model_dir, "--voice", voice,
                     "--bundle", *SHORT)
    assert code == 0
    records = manifest(tmp_path / "out")
    assert [(r["line"], r["text"], r["voice"], r["files"]) for r in records] == [
        (3, "One line of text.", str(voice), ["0003.zip"])]
    prompt = read_bundle(tmp_path / "out" / "0003.zip").prompt  # the voice file travels in the bundle
    np.testing.assert_array_equal(prompt.semantic_prompt, Voice.load(voice).semantic_prompt)


# --- voice, voices, reproduce, demo-weights ---------------------------------------------------------------------


def test_voice_from_a_recording_then_said_with_it(capsys, tmp_path, model_dir):
    rng = np.random.default_rng(0)
    t = np.arange(3 * 16_000) / 16_000
    envelope = np.sin(2 * np.pi * 2 * t) ** 2 * 0.8 + 0.2  # syllable-like bursts
    sf.write(tmp_path / "me.wav", (0.1 * rng.standard_normal(len(t)) * envelope).astype(np.float32), 16_000)
    hubert, quantizer = write_hubert(tmp_path / "hubert"), write_quantizer(tmp_path / "q.pth")
    capsys.readouterr()  # what transformers printed while saving HuBERT
    code, out, err = run(capsys, "voice", tmp_path / "me.wav", "-o", tmp_path / "me.npz", "--model", model_dir,
                         "--hubert", hubert, "--quantizer", quantizer)
    assert (code, err) == (0, "")
    voice = Voice.load(tmp_path / "me.npz")
    assert voice.duration_s > 2 and out.startswith(str(tmp_path / "me.npz"))
    code, _, _ = run(capsys, "say", "Hello.", "-o", tmp_path / "hi.wav", "--voice", tmp_path / "me.npz",
                     "--model", model_dir, *SHORT)
    assert code == 0 and sf.info(tmp_path / "hi.wav").frames > 0


def test_voices_lists_the_catalogue(capsys):
    code, out, _ = run(capsys, "voices", "--language", "de")
    assert code == 0 and out.splitlines() == [preset_label(name) for name in presets_for("de")]
    assert len(out.splitlines()) == 20 and out.startswith("v2/de_speaker_0 · German")
    assert len(run(capsys, "voices")[1].splitlines()) == 271


def test_reproduce_remakes_the_take_and_says_when_it_differs(capsys, tmp_path, model_dir):
    run(capsys, "say", "Hello again.", "-o", tmp_path / "take.wav", "--model", model_dir, "--seed", 4, "--bundle",
        *SHORT)
    code, out, _ = run(capsys, "reproduce", tmp_path / "take.zip", "-o", tmp_path / "again.wav", "--strict")
    assert code == 0 and "the same tokens as the bundle's" in out
    np.testing.assert_array_equal(pcm(tmp_path / "again.wav"), pcm(tmp_path / "take.wav"))
    # A bundle whose tokens are not what its settings make: reported, and --strict fails.
    with zipfile.ZipFile(tmp_path / "take.zip") as z:
        entries = {name: z.read(name) for name in z.namelist()}
    saved = tokens(io.BytesIO(entries["tokens.npz"]))
    saved["semantic_tokens"] = (saved["semantic_tokens"] + 1) % 10_000
    buffer = io.BytesIO()
    np.savez(buffer, **saved)
    with zipfile.ZipFile(tmp_path / "edited.zip", "w") as z:
        for name, data in {**entries, "tokens.npz": buffer.getvalue()}.items():
            z.writestr(name, data)
    code, out, _ = run(capsys, "reproduce", tmp_path / "edited.zip", "-o", tmp_path / "x.wav", "--strict")
    assert code == options.EXIT_TOKENS_DIFFER and "the tokens differ from the bundle's" in out


def test_demo_weights_writes_a_folder_say_and_voice_run_on(capsys, tmp_path):
    """The offline recipe: one folder serves `say` and, through its hubert/ and quantizer.pth, `voice`."""
    folder = tmp_path / "tiny-bark"
    code, out, err = run(capsys, "demo-weights", folder)
    assert (code, out.strip(), err) == (0, str(folder), "")  # no progress bars off a terminal, not even transformers
    assert {"text.pt", "coarse.pt", "fine.pt", "tokenizer", "codec", "hubert", "quantizer.pth"} <= {
        p.name for p in folder.iterdir()}
    assert run(capsys, "say", "Hi.", "-o", tmp_path / "hi.wav", "--model", folder, *SHORT)[0] == 0
    assert sf.info(tmp_path / "hi.wav").samplerate == 24_000
    t = np.arange(2 * 16_000) / 16_000
    sf.write(tmp_path / "me.wav", (0.1 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 2 * t) ** 2), 16_000)
    code, _, err = run(capsys, "voice", tmp_path / "me.wav", "-o", tmp_path / "me.npz", "--model", folder)
    assert (code, err) == (0, "") and Voice.load(tmp_path / "me.npz").duration_s > 1


# --- help and errors --------------------------------------------------------------------------------------------


def test_every_subcommand_has_complete_help(capsys):
    commands = subcommands()
    assert sorted(commands) == ["batch", "demo-weights", "reproduce", "say", "voice", "voices"]
    for name, parser in commands.items():
        code, out, _ = run(capsys, name, "--help")
        assert code == 0 and parser.description and parser.epilog
        for action in parser._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
            assert all(option in out for option in action.option_strings), (name, action.option_strings)
    code, out, _ = run(capsys, "--help")
    assert code == 0 and all(name in out for name in commands)
    assert run(capsys, "--version")[1].strip() == f"bark-studio {__version__}"


def test_sampling_flags_are_the_engines_settings(capsys):
    help_text = " ".join(run(capsys, "say", "--help")[1].split())
    flags = [options.sampling_flag(s) for s in SAMPLING]
    assert flags == ["--text-temp", "--waveform-temp", "--fine-temp", "--top-k", "--top-p", "--min-eos-p",
                     "--max-duration"]
    for setting, flag in zip(SAMPLING, flags, strict=True):
        assert flag in help_text and " ".join(setting.help.split()) in help_text
    parser = subcommands()["say"]
    assert options.sampling_of(parser.parse_args(["Hi", "-o", "x.wav"])) == {}  # the engine's defaults apply
    given = parser.parse_args(["Hi", "-o", "x.wav", "--top-k", "0", "--fine-temp", "none", "--top-p", "0.9",
                               "--max-duration", "2", "--min-eos-p", "None"])
    assert options.sampling_of(given) == {"top_k": None, "fine_temp": None, "top_p": 0.9, "max_duration_s": 2.0,
                                      "min_eos_p": None}


BAD_ARGUMENTS = [  # (arguments, what the one line must say); run in an empty folder
    (["say", "Hi", "-o", "x.wav", "--top-k", "-1"], "argument --top-k: must be a whole number >= 1"),
    (["say", "Hi", "-o", "x.wav", "--text-temp", "0"], "argument --text-temp: must be a number in (0, 10]"),
    (["say", "Hi", "-o", "x.wav", "--fine-temp", "warm"], "argument --fine-temp"),
    (["say", "Hi", "-o", "x.wav", "--seed", "-3"], "argument --seed: must be a whole number from 0"),
    (["say", "Hi", "-o", "x.wav", "--takes", "0"], "argument --takes"),
    (["say", "Hi", "-o", "x.wav", "--precision", "turbo"], "argument --precision: invalid choice"),
    (["say", "Hi"], "the following arguments are required: -o/--output"),
    (["say", "Hi", "-o", "x.mp3"], "the output must be a .wav file"),
    (["say", "Hi", "-o", "missing/x.wav"], "the folder of 'missing/x.wav' does not exist"),
    (["sing", "Hi"], "invalid choice: 'sing'"),
    (["voices", "--language", "xx"], "argument --language: invalid choice"),
    (["batch", "missing.txt", "-o", "out"], "the lines file 'missing.txt' does not exist"),
    (["voice", "missing.wav", "-o", "me.npz"], "the recording 'missing.wav' does not exist"),
    (["reproduce", "junk.zip", "-o", "x.wav"], "junk.zip is not a take bundle"),
    (["demo-weights", "full"], "'full' exists and is not an empty folder"),
]
BAD_INPUT = [  # found once the model is loaded, or in a batch file's lines
    (["say", " ", "-o", "x.wav"], "text is empty"),
    (["say", "Hi", "-o", "x.wav", "--voice", "v2/en_speaker_66"], "unknown voice preset 'v2/en_speaker_66'"),
    (["say", "Hi", "-o", "x.wav", "--device", "tpu"], "device must be"),
    (["batch", "bad.jsonl", "-o", "out"], "line 2: top_k must be a whole number >= 1"),
    (["batch", "keys.jsonl", "-o", "out"], "line 1: unknown key 'txt'; a line may set text, voice, seed"),
    (["batch", "notjson.jsonl", "-o", "out"], "line 1 is not valid JSON"),
    (["batch", "twice.jsonl", "-o", "out"], "line 2: name 'a' is already line 1's"),
]


@pytest.mark.parametrize("argv,message", BAD_ARGUMENTS + [(a + ["--model", "MODEL"], m) for a, m in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_code_2(capsys, tmp_path, monkeypatch, model_dir, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "text.pt").write_bytes(b"")
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"text": "Hi", "top_k": -1}\n', encoding="utf-8")
    (tmp_path / "keys.jsonl").write_text('{"txt": "Hi"}\n', encoding="utf-8")
    (tmp_path / "notjson.jsonl").write_text("Hi\n", encoding="utf-8")
    (tmp_path / "twice.jsonl").write_text('{"text": "Hi", "name": "a"}\n{"text": "Ho", "name": "a"}\n',
                                          encoding="utf-8")
    code, out, err = run(capsys, *[str(model_dir) if a == "MODEL" else a for a in argv])
    assert code == options.EXIT_BAD_INPUT
    assert err.count("\n") == 1 and err.startswith("bark-studio") and "Traceback" not in err, err
    assert message in err
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "out" / "0001.wav").exists()


def test_python_m_bark_core_is_the_command_line():
    help_run = subprocess.run([sys.executable, "-m", "bark_core", "--help"], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
    assert help_run.returncode == 0 and "usage: bark-studio" in help_run.stdout
    assert all(name in help_run.stdout for name in subcommands())
    bad = subprocess.run([sys.executable, "-m", "bark_core", "say", "Hi", "-o", "x.wav", "--top-p", "2"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.splitlines() == ["bark-studio say: error: argument --top-p: must be a number in (0, 1], or "
                                       "none or 1 (off); got '2' (see bark-studio say --help)"]


def test_a_jsonl_line_takes_off_values_as_its_flags_do():
    """top_k 0, top_p 1 and max_duration_s 0 in a batch line mean off, as --top-k 0 does; others are checked."""
    from bark_core.generation.settings import SETTINGS

    assert [batch.line_value(SETTINGS[k], v) for k, v in (("top_k", 0), ("top_p", 1.0), ("max_duration_s", 0),
                                                          ("top_k", None), ("top_k", 5))] == [None, None, None,
                                                                                              None, 5]
    with pytest.raises(ValueError, match="top_k"):
        batch.line_value(SETTINGS["top_k"], -1)

