"""bark_core.studio: the app's request logic without Gradio (the app tests drive the same code through a browser's
API; these check each piece on its own, including the paths a page cannot easily reach)."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bark_core import GenerationCancelled
from bark_core.generation.longform import LongFormSettings
from bark_core.generation.settings import DEFAULT_SAMPLING, SAMPLING
from bark_core.studio import requests as studio
from bark_core.studio.evaluation import Cell, cell_record, rate
from bark_core.studio.fields import allowed_in_page, for_people, from_page, initial_value, sampling_from_page
from bark_core.studio.registry import Pipelines
from bark_core.voices.catalog import check_preset_name, presets_for

LONG = LongFormSettings()


def test_overall_progress_mapping():
    assert studio.overall_progress("semantic", 0, 768) == (0.0, "semantic 0/768")
    assert studio.overall_progress("decode", 1, 1)[0] == 1.0
    frac, label = studio.overall_progress("chunk 2/4 coarse", 5, 10)
    assert abs(frac - (1 + 0.25 + 0.55 * 0.5) / 4) < 1e-9 and label == "chunk 2/4 coarse 5/10"


def test_sampling_settings_turn_the_pages_off_values_into_none():
    page = dict(text_temp=0.7, waveform_temp=0.6, fine_temp=0.5, top_k=0, top_p=1.0, min_eos_p=0.2, max_duration_s=0)
    kw = studio.sampling_settings(page, 42, False)
    assert kw == dict(text_temp=0.7, waveform_temp=0.6, fine_temp=0.5, top_k=None, top_p=None, min_eos_p=0.2,
                      max_duration_s=None, seed=42)
    kw = studio.sampling_settings({**page, "top_k": 50.0, "top_p": 0.9, "max_duration_s": 3.5}, 42.0, False)
    assert (kw["top_k"], kw["top_p"], kw["max_duration_s"], kw["seed"]) == (50, 0.9, 3.5, 42)
    assert type(kw["top_k"]) is int and type(kw["seed"]) is int
    assert studio.sampling_settings({}, 1, False) == {**DEFAULT_SAMPLING, "seed": 1}  # a field not sent: its default
    seeds = {studio.sampling_settings(page, None, True)["seed"] for _ in range(20)}
    assert len(seeds) > 1 and all(0 <= s < 2**32 for s in seeds)  # drawn here, so the take can report it


@pytest.mark.parametrize("seed", [1.5, "x", float("nan"), float("inf"), -1, 2**64, True])
def test_a_seed_that_is_not_whole_is_refused(seed):
    with pytest.raises(ValueError, match="seed must be a whole number from 0 to"):
        studio.sampling_settings({}, seed, False)


@pytest.mark.parametrize("seed", [None, "", "  "])
def test_an_empty_seed_is_called_empty(seed):
    with pytest.raises(ValueError, match="seed is empty: enter a whole number from 0 to .*, or tick 'random seed'"):
        studio.sampling_settings({}, seed, False)


# (setting, value the page sends, the message) -- each field named as the page labels it, with what it allows
FIELD_CASES = [
    ("top_k", -5, r"top-k must be 0 \(off\) or more; got -5"),
    ("top_k", 2.5, "top-k must be a whole number; got 2.5"),
    ("top_k", "ten", r"top-k must be 0 \(off\) or more; got 'ten'"),
    ("top_p", 0.0, r"top-p must be more than 0 and at most 1 \(1 = off\); got 0.0"),
    ("top_p", 1.5, r"top-p must be more than 0 and at most 1 \(1 = off\); got 1.5"),
    ("text_temp", 0, "text temperature must be more than 0 and at most 10; got 0"),
    ("waveform_temp", 11, "waveform temperature must be more than 0 and at most 10; got 11"),
    ("fine_temp", -1, "fine temperature must be more than 0 and at most 10; got -1"),
    ("max_duration_s", -5, r"max duration \(s\) must be 0 \(no limit\) or more; got -5"),
    # An emptied field: off for a setting that has an off, refused (never a silent None) for the others.
    ("text_temp", None, "text temperature is empty: enter a number more than 0 and at most 10"),
    ("fine_temp", None, "fine temperature is empty: enter a number more than 0 and at most 10"),
    ("min_eos_p", "", "min_eos_p is empty: enter a number more than 0 and at most 1"),
    ("text_temp", True, "text temperature must be"),
]


@pytest.mark.parametrize("name,value,message", FIELD_CASES)
def test_a_field_out_of_range_is_named_as_the_page_labels_it(name, value, message):
    with pytest.raises(ValueError, match=message):
        sampling_from_page({name: value})


def test_an_emptied_field_with_an_off_value_is_off():
    assert sampling_from_page({"top_k": None, "top_p": None, "max_duration_s": None}) == {
        **sampling_from_page({}), "top_k": None, "top_p": None, "max_duration_s": None}


def test_every_setting_has_a_page_message_from_its_definition():
    """The words come from SAMPLING, so a setting added there gets a field and a message without more code."""
    for s in SAMPLING:
        assert allowed_in_page(s) and initial_value(s) is not None
        with pytest.raises(ValueError, match=f"^{re.escape(s.label)} must be "):
            from_page(s, "not a number")
        assert from_page(s, initial_value(s)) == s.default  # the form's initial value is the engine's default
    with pytest.raises(ValueError, match="unknown setting temperature; the settings are text_temp"):
        sampling_from_page({"temperature": 0.7})


def test_engine_messages_lose_their_python_names():
    assert for_people("text is 25,000 characters; at most 20,000 are accepted per generation "
                      "(LongFormSettings.max_chars)") == ("text is 25,000 characters; at most 20,000 are accepted "
                                                          "per generation")
    assert for_people("unknown voice preset 'xyz'. Presets look like 'announcer'; or pass a path to an .npz file.") \
        == "unknown voice preset 'xyz'. Presets look like 'announcer'; or upload an .npz under \"Your own voice\"."
    with pytest.raises(ValueError) as refused:  # the engine's own message, as the page words it
        check_preset_name("xyz")
    assert 'or upload an .npz under "Your own voice"' in for_people(str(refused.value))
    assert for_people("at most 10 min per generation (LongFormSettings.max_audio_s). Split it.") == \
        "at most 10 min per generation. Split it."
    assert for_people("top-k must be 0 (off) or more (1.5 is not whole)") == \
        "top-k must be 0 (off) or more (1.5 is not whole)"  # words in parentheses stay


def test_text_over_the_cap_is_refused_with_its_length():
    studio.check_length("x" * LONG.max_chars, LONG)
    with pytest.raises(ValueError, match="the text is 20,001 characters; at most 20,000 fit one take"):
        studio.check_length("x" * (LONG.max_chars + 1), LONG)


def test_loading_progress_in_words():
    assert studio.loading_progress("loading the text model", 1, 4) == (0.0, "loading the text model 1/4…")
    assert studio.loading_progress("loading the codec and tokenizer", 4, 4)[1] == "loading the codec and tokenizer 4/4…"
    assert studio.loading_progress("preparing the fast weights", 1, 1) == (0.0, "preparing the fast weights…")
    frac, label = studio.loading_progress("downloading text_2.pt", 1_200_000_000, 5_350_000_000)
    assert abs(frac - 1.2 / 5.35) < 1e-9 and label == "downloading text_2.pt: 1,200 of 5,350 MB"
    assert studio.loading_progress("downloading config.json", 3_000_000, 0)[1] == "downloading config.json: 3 MB"


def test_precision_mode_of_a_recorded_take():
    assert studio.precision_mode("fp32") == "exact" and studio.precision_mode(None) == "exact"
    assert studio.precision_mode("int8-dynamic, bf16 prefill and fine") == "fast"
    assert studio.precision_mode("bf16-autocast", "cpu") == "bf16"


def test_pipelines_report_what_they_load_and_load_it_once(model_dir):
    """A first request hears each part as it loads (the page's "loading the text model 1/4…"); later ones hear
    nothing: the models are loaded once and shared."""
    pipes = Pipelines([str(model_dir)], device="cpu")
    heard = []
    exact = pipes.get(str(model_dir), progress=lambda *e: heard.append(e))
    assert heard == [("loading the text model", 1, 4), ("loading the coarse model", 2, 4),
                     ("loading the fine model", 3, 4), ("loading the codec and tokenizer", 4, 4)]
    heard.clear()
    fast = pipes.get(str(model_dir), "fast", progress=lambda *e: heard.append(e))
    assert heard == [("preparing the fast weights", 1, 1)] and fast.weights_fingerprint() == exact.weights_fingerprint()
    heard.clear()
    assert pipes.get(str(model_dir), "fast", progress=lambda *e: heard.append(e)) is fast and heard == []
    assert pipes.default_precision == "fast"  # the models run on this machine's CPU


def test_offline_folder_is_marked_random_and_can_make_voices(tmp_path):
    """write_offline_folder's folder says its weights are random (before anything loads, and once loaded) and holds
    what a voice from a recording needs, where the app looks for it."""
    from bark_core.models.hub import RANDOM_WEIGHTS_MARKER, has_random_weights
    from bark_core.testing.random_weights import write_offline_folder

    folder = write_offline_folder(tmp_path / "tiny")
    assert json.loads((folder / RANDOM_WEIGHTS_MARKER).read_text())["random_weights"] is True
    pipes = Pipelines([str(folder)], device="cpu")
    assert pipes.random_weights(str(folder)) and has_random_weights(folder) and not has_random_weights(tmp_path)
    assert pipes.get(str(folder)).random_weights and pipes.get(str(folder), "fast").random_weights
    from .test_cloning import speech_like

    wav = tmp_path / "me.wav"
    import soundfile as sf

    sf.write(wav, speech_like(2.0), 24_000)
    voice = pipes.cloner(str(folder)).voice_from_recording(wav)  # hubert/ and quantizer.pth found in the folder
    assert voice.semantic_prompt.ndim == 1 and voice.fine_prompt.shape[0] == 8


def test_download_progress_reaches_the_caller_and_prints_nothing(monkeypatch, capsys):
    """huggingface_hub hands its tqdm class the bytes as they come; the caller hears them as ("downloading text.pt",
    bytes done, bytes total). The Hub cannot be reached here: the download is played as huggingface_hub plays it."""
    import huggingface_hub

    from bark_core.models import hub

    def fake_download(repo_id, filename, tqdm_class=None, **kw):
        bar = tqdm_class(unit="B", unit_scale=True, total=3000, initial=1000, desc=filename)  # a resumed download
        for _ in range(2):
            bar.update(1000)
        bar.close()
        files = tqdm_class(total=2, desc="Fetching files")  # a bar counting files, not bytes: not passed on
        files.update(1)
        return str(tmp_file)

    tmp_file = Path(__file__)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout: True)
    heard = []
    opts = hub.HubOptions(progress=lambda *e: heard.append(e))
    assert hub.hub_file("suno/bark", "text.pt", opts) == tmp_file
    assert heard == [("downloading text.pt", 2000, 3000), ("downloading text.pt", 3000, 3000)]
    assert capsys.readouterr().err == ""
    assert hub.download_bar(None, "text.pt") is None


@pytest.mark.parametrize("n,ok", [(1, True), (4.0, True), (0, False), (5, False), (2.5, False), (None, False),
                                  ("two", False), (float("nan"), False)])
def test_check_takes(n, ok):
    if ok:
        assert studio.check_takes(n) == int(n)
    else:
        with pytest.raises(ValueError, match="whole number from 1 to 4"):
            studio.check_takes(n)


def fake_result(seed=3, first_audio=None):
    timings = dict(semantic=1.0, coarse=2.0, fine=0.5, decode=0.1, total=3.6)
    if first_audio is not None:
        timings["first_audio"] = first_audio
    return SimpleNamespace(duration_s=1.8, rtf=2.0, seed=seed, timings=timings)


def test_timing_summary():
    line = studio.timing_summary([fake_result()])
    assert line.startswith("**1.80 s** of audio in 3.6 s") and "real-time factor **2.00**" in line
    assert "coarse 2.00 s" in line and "seed **3**" in line and "first audio" not in line
    assert studio.timing_summary([fake_result(), fake_result(4)]).startswith("2 takes in 3.6 s")
    assert "first audio after **0.8 s**" in studio.timing_summary([fake_result(first_audio=0.8)])


def test_text_summary_estimates_without_a_tokenizer_and_counts_with_one(pipe):
    assert studio.text_summary("   ", None, "en", LONG) == ("0 BERT tokens · 0 s", [])
    line, rows = studio.text_summary("Hello there.", None, "any", LONG)
    assert line.startswith("≈3 BERT tokens") and rows == [[1, "Hello there.", rows[0][2]]]
    line, rows = studio.text_summary("Hello there.", pipe.tokenizer, "en", LONG)
    n = len(pipe.tokenizer("Hello there.", add_special_tokens=False)["input_ids"])
    assert line.startswith(f"{n} BERT tokens")
    text = " ".join(f"Sentence number {i} is here, and it goes on for a while." for i in range(40))
    line, rows = studio.text_summary(text, pipe.tokenizer, "en", LONG)
    assert f"{len(rows)} chunks of ≤ 11 s" in line and len(rows) > 1
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert " ".join(r[1] for r in rows) == text  # the preview shows every character, in order


class RecordingPipe:
    """A pipeline that records which entry point a request reached (and with which arguments)."""

    def __init__(self, tokenizer):
        self.tokenizer, self.calls = tokenizer, []

    def generate_takes(self, text, n_takes, voice, progress, **kw):
        self.calls.append(("takes", text, n_takes, kw["seed"]))
        return [f"take {i}" for i in range(n_takes)]

    def stream(self, text, voice, n_takes, progress, **kw):
        self.calls.append(("stream", text, n_takes, kw["seed"]))
        progress("semantic", 1, 2)
        yield SimpleNamespace(audio=np.zeros(3, np.float32), result=None)
        yield SimpleNamespace(audio=np.ones(2, np.float32), result=None)
        takes = ("streamed take", *[f"streamed take {i}" for i in range(1, n_takes)])
        yield SimpleNamespace(audio=None, result=takes[0], takes=takes)

    def generate_long(self, text, voice, language, settings, progress, seed, on_preview=None, **kw):
        self.calls.append(("long", text, seed, on_preview is not None))
        progress("chunk 1/1 coarse", 1, 1)
        if on_preview is not None:
            on_preview(np.zeros(4, np.float32))
        return f"take with seed {seed}"


def test_run_request_dispatches_batches_streams_and_long_text(pipe):
    kw = dict(text_temp=0.7, seed=10)
    rec, marks, chunks = RecordingPipe(pipe.tokenizer), [], []
    run = lambda n, on_audio=None, text="Hello.": studio.run_request(  # noqa: E731
        rec, text, None, "en", kw, n, on_audio, lambda f, label: marks.append((f, label)), threading.Event(), LONG)
    assert run(3) == ["take 0", "take 1", "take 2"] and rec.calls[-1] == ("takes", "Hello.", 3, 10)
    assert run(1, chunks.append) == ["streamed take"] and [len(c) for c in chunks] == [3, 2]
    assert run(2, chunks.append) == ["streamed take", "streamed take 1"]  # a batch streams its first take
    assert rec.calls[-1] == ("stream", "Hello.", 2, 10) and [len(c) for c in chunks] == [3, 2, 3, 2]
    del chunks[2:]
    assert run(2) and run(1) == ["take with seed 10"]  # no live preview: the one entry point for every length
    long_text = " ".join(f"Sentence number {i} is here, and it goes on for a while." for i in range(40))
    assert run(2, chunks.append, long_text) == ["take with seed 10", "take with seed 11"]
    assert [c[3] for c in rec.calls[-2:]] == [False, False] and len(chunks) == 2  # takes of long text: no stream
    assert run(1, chunks.append, long_text) == ["take with seed 10"]  # one take of long text streams its chunks
    assert rec.calls[-1][3] and [len(c) for c in chunks] == [3, 2, 4]
    assert kw == dict(text_temp=0.7, seed=10)  # the caller's settings are not changed
    assert marks and all(0 <= f <= 1 for f, _ in marks)


def test_run_request_ends_at_the_next_step_once_cancelled(pipe):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelled):
        studio.run_request(RecordingPipe(pipe.tokenizer), "Hello.", None, "en", dict(seed=1), 1, None,
                           lambda *a: None, cancel, LONG)


def test_save_take_keeps_going_when_the_disk_is_full(tmp_path):
    def full(path):
        raise OSError(28, "No space left on device")

    def too_short(name):
        raise ValueError("too short to be a voice")

    result = SimpleNamespace(to_voice=too_short, save_wav=full)
    files, error = studio.save_take(tmp_path, None, result, None, "en", LONG)
    assert error == "The take could not be saved for download (No space left on device); it still plays here."
    assert files["voice"] is None and files["wav"] is None and files["bundle"] is None and len(files["id"]) == 8


def test_save_take_writes_every_download(tmp_path, pipe):
    result = pipe.generate("Hello.", voice=None, seed=1, max_duration_s=0.5)
    files, error = studio.save_take(tmp_path, pipe, result, None, "en", LONG)
    assert error is None and files["voice"] is not None
    for key, suffix in (("wav", ".wav"), ("bundle", ".zip"), ("tokens", ".npz"), ("npz", ".npz")):
        assert files[key].endswith(suffix) and files["id"] in files[key] and (tmp_path / files[key]).is_file()


def test_save_take_without_extras_writes_only_the_wav_and_bundle(tmp_path, pipe):
    result = pipe.generate("Hello.", voice=None, seed=1, max_duration_s=0.5)
    files, error = studio.save_take(tmp_path, pipe, result, None, "en", LONG, extras=False)
    assert error is None and files["voice"] is None and files["tokens"] is None and files["npz"] is None
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".wav", ".zip"]


def test_grid_cells_become_rated_rows():
    cell = Cell(row=1, column=0, text="Hi.", value="0.5", settings=dict(
        text_temp=0.5, waveform_temp=0.5, fine_temp=0.5, top_k=None, top_p=None, min_eos_p=0.2))
    done = [cell_record(2, cell, "temperature", "v2/en_speaker_6", "bark-small", 9, 1.234, 3.456)]
    assert done[0]["cell"] == 3 and done[0]["duration_s"] == 1.23 and done[0]["rtf"] == 3.46
    assert (done[0]["row"], done[0]["column"]) == (2, 1)  # counted from 1, as the page says "row 2"
    marks = ["", False, ""] * 2 + ["4", True, "crisp"]
    (row,) = rate(done, marks)
    assert (row["rating"], row["favourite"], row["note"], row["seed"]) == (4, True, "crisp", 9)
    assert rate(done, [None, None, None] * 3)[0]["rating"] is None
    with pytest.raises(ValueError, match="Fill the grid first"):
        rate([], [])


def test_presets_for_a_language():
    every = presets_for("any")
    assert every[0].startswith("v2/") and len(every) == 271
    assert presets_for("de") == [f"v2/de_speaker_{i}" for i in range(10)] + [f"de_speaker_{i}" for i in range(10)]


def test_changed_settings_name_what_differs_from_the_defaults():
    from bark_core.studio.fields import changed_settings, sampling_from_page

    assert changed_settings(sampling_from_page({})) == ""
    assert changed_settings(sampling_from_page({"max_duration_s": 0.3, "top_k": 50, "text_temp": 0.7})) == \
        "top-k 50, max duration (s) 0.3"
    assert changed_settings(sampling_from_page({"text_temp": 0.5})) == "text temperature 0.5"


def test_ratings_csv_defuses_formulas_and_reads_back():
    from bark_core.studio.evaluation import ratings_from_csv, ratings_to_csv

    cell = Cell(row=0, column=0, text="=1+1 said the dog", value="0.5", settings=dict(
        text_temp=0.5, waveform_temp=0.5, fine_temp=0.5, top_k=None, top_p=None, min_eos_p=0.2))
    notes = ['=HYPERLINK("http://x", "click")', "+cmd", "-2", "@SUM(A1)", "fine, \"quoted\"\nline"]
    rows = [rate([cell_record(0, cell, "temperature", "v2/en_speaker_6", "m", 1, 1.0, 1.0)], [None, False, n])[0]
            for n in notes]
    text = ratings_to_csv(rows)
    import csv
    import io

    written = list(csv.DictReader(io.StringIO(text)))
    assert [r["note"] for r in written] == ["'" + n for n in notes[:4]] + [notes[4]]  # no cell starts a formula
    assert written[0]["text"] == "'=1+1 said the dog"
    back = ratings_from_csv(text)
    assert [r["note"] for r in back] == notes and back[0]["text"] == "=1+1 said the dog"
