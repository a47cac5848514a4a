"""Text that users really type (issue 19), each kind of fault as a whole kind: text with nothing to say, long-form
fragments and songs (see also test_longform's plan properties), min_eos_p, voices given as strings, paths and
dicts, the one-window message, and the sampling settings' numeric edges."""

from __future__ import annotations

import copy
import math
import os
import shutil
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from bark_core import BarkPipeline
from bark_core.generation.longform import LongFormSettings, plan_chunks
from bark_core.generation.sampling import sample
from bark_core.generation.settings import SETTINGS, SamplingParams
from bark_core.generation.text import LongTextWarning, encode_text, says_something
from bark_core.studio import requests as studio

from .conftest import load_npz

LONG = LongFormSettings()
SEMANTIC = ("semantic_tokens", "coarse_tokens", "fine_tokens")


def same_tokens(a, b) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in SEMANTIC)


# 1. Text with nothing to say -------------------------------------------------------------------------------------

NOTHING_TO_SAY = [
    "\u200b",  # zero-width space (the issue's example)
    "\u200c\u200d", "\u2060", "\ufeff", "\u00ad",  # joiners, the word joiner, the byte-order mark, soft hyphen
    "\u200e\u200f", "\u180e",  # direction marks, the Mongolian vowel separator
    "\ufffd", "\ue000\U000f0000",  # the replacement character, private use
    "\U000e0041\U000e007f",  # tag characters
    " \u200b \n\t\u200b ", "\x00\u200b\x07",  # mixed with whitespace and control characters
    "\u3000\u00a0\u2028\u2029\u202f",  # other spaces and separators
    "\u0301\u0308", "\ufe0f\ufe0e", "\u034f",  # combining marks and variation selectors with nothing to mark
    "\u3164\uffa0", "\u2800",  # Hangul fillers, the blank Braille pattern
]


def test_every_character_bert_drops_is_nothing_to_say(pipe):
    """The character rule (`says_something`) against the tokenizer itself, over the whole Basic Multilingual Plane:
    every character BERT's cleaning drops (no token at all) is one the rule finds nothing to say in. (The tiny
    tokenizer has the real one's normaliser: which characters it drops does not depend on the vocabulary.)"""
    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    ids = pipe.tokenizer(chars, add_special_tokens=False)["input_ids"]
    dropped = [c for c, i in zip(chars, ids, strict=True) if not i]
    assert set("\u200b\u200c\u200d\u2060\ufeff\u00ad\ufffd\x00 \u3000") <= set(dropped)
    assert [f"U+{ord(c):04X}" for c in dropped if says_something(c)] == []


@pytest.mark.parametrize("text", NOTHING_TO_SAY)
def test_text_with_nothing_to_say_is_empty_everywhere(pipe, text):
    calls = {
        "generate": lambda: pipe.generate(text, seed=1),
        "generate_takes": lambda: pipe.generate_takes(text, n_takes=2, seed=1),
        "stream": lambda: list(pipe.stream(text, seed=1)),
        "generate_long": lambda: pipe.generate_long(text, seed=1),
        "text_to_semantic": lambda: pipe.text_to_semantic(text, generator=1),
        "plan_chunks": lambda: plan_chunks(pipe, text, "en", LONG),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match="text is empty"):
            call()
            pytest.fail(f"{name} accepted {text!r}")
    # The app's live count and split preview: nothing to say, no chunk (with the tokenizer and before it loads).
    assert studio.text_summary(text, pipe.tokenizer, "en", LONG) == ("0 BERT tokens · 0 s", [])
    assert studio.text_summary(text, None, "en", LONG) == ("0 BERT tokens · 0 s", [])


def test_text_of_no_token_is_empty_whatever_the_tokenizer_drops(pipe):
    """"No token at all" is the empty-text error by itself, not only through the character rule: a tokenizer that
    reads nothing in "Hello" makes it empty too."""

    class Deaf:
        @staticmethod
        def encode(text, add_special_tokens=False):
            return []

    with pytest.raises(ValueError, match="text is empty"):
        encode_text(Deaf(), "Hello")
    with pytest.raises(ValueError, match="text is empty"):
        plan_chunks(types.SimpleNamespace(tokenizer=Deaf()), "Hello", "en", LONG)
    assert studio.text_summary("Hello", Deaf(), "en", LONG) == ("0 BERT tokens · 0 s", [])


@pytest.mark.parametrize("text", ["[laughs]", "[laughs] [sighs]", "♪", "\u200b[music]\u200b", "Ok\u200b",
                                  "e\u0301", "नमस्ते", "\ufeffHello"])
def test_cues_and_visible_text_among_invisible_characters_are_said(pipe, text):
    out = pipe.generate(text, seed=1, max_duration_s=0.3)
    assert len(out.semantic_tokens) > 0
    line, rows = studio.text_summary(text, pipe.tokenizer, "en", LONG)
    assert not line.startswith("0 BERT") and len(rows) == 1


# 2 and 3. Long-form planning, through the engine and the app's preview ---------------------------------------------

FOX = ("The quick brown fox jumps over the lazy dog near the quiet river bank, while the evening light fades slowly "
       "behind the distant hills.")
JUNGLE = ("♪ In the jungle, the mighty jungle, the lion sleeps tonight, near the village, the peaceful village, the "
          "lion sleeps tonight ♪ And then he said hello.")


def test_the_issues_long_form_examples_as_generate_long_and_the_app_plan_them(pipe):
    fox = plan_chunks(pipe, FOX, "en", LONG)
    assert len(fox) == 3 and fox[1].endswith("bank,") and fox[2].startswith("while ")
    assert all(len(c.split()) >= 6 for c in fox)  # no one-word fragment
    jungle = plan_chunks(pipe, JUNGLE, "en", LONG)
    assert all(c.startswith("♪ ") and c.endswith(" ♪") for c in jungle[:-1]) and jungle[-1] == "And then he said hello."
    for text, chunks in ((FOX, fox), (JUNGLE, jungle)):
        line, rows = studio.text_summary(text, pipe.tokenizer, "en", LONG)
        assert [r[1] for r in rows] == chunks and f"{len(chunks)} chunks" in line  # the preview is the plan


def test_generate_long_sings_every_piece_of_a_cut_song(pipe):
    take = pipe.generate_long(JUNGLE, seed=2, max_duration_s=0.2)
    assert take.chunks == tuple(plan_chunks(pipe, JUNGLE, "en", LONG)) and len(take.chunks) > 2
    assert all(c.count("♪") == 2 for c in take.chunks[:-1])


# 4. min_eos_p --------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def eos_pipe(pipe) -> BarkPipeline:
    """The tiny weights with a text model that often says end-of-speech, so min_eos_p changes where takes end."""
    text = copy.deepcopy(pipe.text_model)
    with torch.no_grad():
        w = text.lm_head.weight
        w[10_000] = 4.0 * w[:10_000].mean(0) + 2.0 * w[17]
    models = dict(text=text, coarse=pipe.coarse_model, fine=pipe.fine_model)
    return BarkPipeline(models, pipe.tokenizer, pipe.codec, device="cpu", presets=pipe.presets, name=pipe.name)


@pytest.mark.parametrize("value", [0, 0.0, -0.0, -0.2, np.float32(0), 1.5, float("nan")])
def test_min_eos_p_that_can_never_work_gets_the_settings_error(pipe, value):
    """At 0 every take would end before its first token: the settings error says so, and which way to go."""
    with pytest.raises(ValueError, match=r"min_eos_p must be a number in \(0, 1\] or None .*a higher min_eos_p lets "
                                         r"Bark go on longer"):
        pipe.generate("Hello world.", min_eos_p=value)


def test_the_advice_for_a_take_that_ends_at_once_points_to_a_higher_min_eos_p(pipe, fast_pipe):
    for call in (lambda: pipe.generate("Hello world.", seed=1, min_eos_p=1e-9),
                 lambda: pipe.generate_takes("Hello world.", n_takes=2, seed=1, min_eos_p=1e-9),
                 lambda: list(fast_pipe.stream("Hello world.", seed=1, min_eos_p=1e-9)),
                 lambda: pipe.generate_long("Hello world. " * 30, seed=1, min_eos_p=1e-9)):
        with pytest.raises(ValueError, match="before saying anything") as e:
            call()
        assert "a higher min_eos_p" in str(e.value) and "lower min_eos_p" not in str(e.value)
    assert "higher goes on longer" in SETTINGS["min_eos_p"].help  # the page's and the command line's help


MULTI = "Hello world. This is a test. The bark is long. The text is long. Hello again."
CHUNKED = LongFormSettings(max_chunk_seconds=2.0)


def test_generate_long_honours_the_callers_min_eos_p_and_records_what_it_used(eos_pipe):
    kw = dict(settings=CHUNKED, seed=3, max_duration_s=2.0)
    takes = {v: eos_pipe.generate_long(MULTI, min_eos_p=v, **kw) for v in (0.05, 0.3, 0.9, None)}
    assert len(takes[0.9].chunks) > 1
    for value, take in takes.items():
        assert take.settings["min_eos_p"] == value
    assert not same_tokens(takes[0.05], takes[0.9]) and not same_tokens(takes[0.3], takes[0.9])
    # No value given: chunks use the long-form default, and the take records it; replaying what it records is the
    # same take (what a bundle does).
    default = eos_pipe.generate_long(MULTI, **kw)
    assert default.settings["min_eos_p"] == CHUNKED.chunk_min_eos_p and same_tokens(default, takes[0.05])
    replay = eos_pipe.generate_long(MULTI, min_eos_p=default.settings["min_eos_p"], **kw)
    assert same_tokens(replay, default)
    # Text of one chunk is exactly `generate`, with generate's default when none is given.
    one = eos_pipe.generate_long("Hello world.", **kw)
    assert one.settings["min_eos_p"] == SETTINGS["min_eos_p"].default
    assert same_tokens(one, eos_pipe.generate("Hello world.", seed=3, max_duration_s=2.0))


def test_a_bundle_of_a_long_take_records_the_min_eos_p_used_and_reproduces(eos_pipe, tmp_path):
    from bark_core.studio.bundle import read_bundle, reproduce, write_bundle

    for given in ({}, dict(min_eos_p=0.9)):
        take = eos_pipe.generate_long(MULTI, settings=CHUNKED, seed=4, max_duration_s=1.0, **given)
        path = write_bundle(tmp_path / f"take{len(given)}.zip", eos_pipe, take, None, "en", CHUNKED)
        bundle = read_bundle(path)
        assert bundle.settings["sampling"]["min_eos_p"] == take.settings["min_eos_p"]
        result, _, same = reproduce(eos_pipe, bundle)
        assert same and same_tokens(result, take)


# 5. Voices given as strings, paths and dicts -------------------------------------------------------------------------

@pytest.fixture
def voice_file(preset_path, tmp_path):
    """v2/en_speaker_6 copied as /tmp/.../some dir/MYVOICE.NPZ."""
    folder = tmp_path / "some dir"
    folder.mkdir()
    return Path(shutil.copy(preset_path("v2/en_speaker_6"), folder / "MYVOICE.NPZ"))


def test_a_voice_file_given_as_a_string_is_a_path(pipe, voice_file, monkeypatch):
    ref = pipe.resolve_voice(voice_file)
    folder = voice_file.parent
    for name in ("myvoice.npz", "MyVoice.Npz", "voice", "voice.bin"):  # any suffix, or none, of an existing file
        shutil.copy(voice_file, folder / name)
    monkeypatch.setenv("HOME", str(folder.parent))
    monkeypatch.chdir(folder)
    given = [str(voice_file), f" {voice_file} ", "MYVOICE.NPZ", "./MYVOICE.NPZ", "../some dir/MyVoice.Npz",
             "~/some dir/myvoice.npz", "voice", "voice.bin", str(folder / "voice"), os.fspath(voice_file)]
    for voice in given:
        v = pipe.resolve_voice(voice)
        assert np.array_equal(v.coarse_prompt, ref.coarse_prompt) and np.array_equal(v.fine_prompt, ref.fine_prompt)

    class PathLike:  # any os.PathLike, not only pathlib.Path
        def __fspath__(self):
            return str(voice_file)

    assert np.array_equal(pipe.resolve_voice(PathLike()).semantic_prompt, ref.semantic_prompt)
    a = pipe.generate("Hello", voice=str(voice_file), seed=2, max_duration_s=0.3)
    b = pipe.generate("Hello", voice=voice_file, seed=2, max_duration_s=0.3)
    assert same_tokens(a, b) and a.settings["voice"] == "MYVOICE"
    # A preset name stays a preset even when a file of that name is in the working directory.
    shutil.copy(voice_file.parent.parent / "some dir" / "voice", folder / "announcer")
    assert pipe.resolve_voice("announcer").name == "announcer"


@pytest.mark.parametrize("make,message", [
    (lambda d: d / "missing" / "MYVOICE.NPZ", "voice file .*MYVOICE.NPZ does not exist"),
    (lambda d: Path(d / "notes.txt").write_text("hello") and d / "notes.txt", "notes.txt is not a valid .npz"),
    (lambda d: d, "is a folder; a voice is a Bark .npz file"),
    (lambda d: Path("/dev/null"), "is not a regular file"),
    (lambda d: (np.savez(d / "half.npz", semantic_prompt=np.arange(10)), d / "half.npz")[1],
     "missing coarse_prompt, fine_prompt"),
])
def test_a_path_that_is_not_a_voice_says_so(pipe, tmp_path, make, message):
    path = make(tmp_path)
    for voice in (str(path), path):
        with pytest.raises(ValueError, match=message):
            pipe.generate("Hello", voice=voice, seed=1)


@pytest.mark.parametrize("voice,preset", [
    ("v2/en_speaker_6.npz", "v2/en_speaker_6"), ("V2/EN_SPEAKER_6.NPZ", "v2/en_speaker_6"),
    ("announcer.npz", "announcer"), ("bark/assets/prompts/v2/de_speaker_3.npz", "v2/de_speaker_3"),
    ("~/prompts/en_speaker_1.npz", "en_speaker_1"), ("/somewhere/v2/zh_speaker_9.npz", "v2/zh_speaker_9"),
])
def test_a_missing_file_named_like_a_preset_suggests_the_preset(pipe, tmp_path, monkeypatch, voice, preset):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=f"does not exist.*did you mean the preset '{preset}'"):
        pipe.resolve_voice(voice)


@pytest.mark.parametrize("voice,message", [
    ("v2/en_speaker_66", "unknown voice preset 'v2/en_speaker_66'. Did you mean v2/en_speaker_6"),
    ("myvoice", "unknown voice preset 'myvoice'.*or pass a path to an .npz file"),
    ("", "voice is an empty string"), ("  ", "voice is an empty string"),
    (b"v2/en_speaker_6", "voice must be a preset name, a path .*, a dict of the three prompt arrays"),
    (3.5, "voice must be"),
])
def test_voice_strings_that_are_neither_preset_nor_file(pipe, tmp_path, monkeypatch, voice, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message):
        pipe.resolve_voice(voice)


def test_a_dict_of_the_three_arrays_is_a_voice(pipe, preset_path):
    """What suno's `history_prompt` takes as a dict (and what `np.load` of an .npz gives) is a voice, checked like a
    file."""
    raw = load_npz(preset_path("v2/en_speaker_6"))
    by_name = pipe.generate("Hello", voice="v2/en_speaker_6", seed=3, max_duration_s=0.3)
    for voice in (raw, types.MappingProxyType(raw), {**raw, "extra": np.zeros(1)}):
        take = pipe.generate("Hello", voice=voice, seed=3, max_duration_s=0.3)
        assert same_tokens(take, by_name) and take.settings["voice"] == "history prompt (dict)"
    with np.load(preset_path("v2/en_speaker_6")) as npz:
        assert np.array_equal(pipe.resolve_voice(npz).coarse_prompt, raw["coarse_prompt"])
    bad = [({k: v for k, v in raw.items() if k != "fine_prompt"}, "missing fine_prompt"),
           ({**raw, "semantic_prompt": raw["semantic_prompt"].astype(np.float32)}, "must hold integers"),
           ({**raw, "semantic_prompt": raw["semantic_prompt"].tolist()}, "must be a numpy array"),
           ({**raw, "coarse_prompt": raw["coarse_prompt"][:, :10]}, "do not line up"),
           ({**raw, "fine_prompt": raw["fine_prompt"] + 1024}, r"values must be in 0..1023"), ({}, "missing")]
    for voice, message in bad:
        with pytest.raises(ValueError, match=f"history prompt \\(dict\\): .*{message}"):
            pipe.generate("Hello", voice=voice, seed=1)


# 6. The one-window message --------------------------------------------------------------------------------------------

def test_text_over_256_tokens_is_told_the_real_window_and_pointed_to_generate_long(pipe):
    text = "a " * 300
    for call in (lambda: pipe.generate(text, seed=0), lambda: pipe.generate_takes(text, n_takes=2, seed=0),
                 lambda: list(pipe.stream(text, seed=0)), lambda: pipe.text_to_semantic(text, generator=0)):
        with pytest.raises(ValueError) as e:
            call()
        message = str(e.value)
        assert "300 BERT tokens" in message and "at most 256 tokens" in message and "~15 s" in message
        assert "768 semantic steps" in message and "generate_long" in message and "57 s" not in message


@pytest.mark.parametrize("n_tokens,warns", [(60, False), (69, False), (70, True), (150, True), (256, True)])
def test_text_longer_than_one_window_warns(pipe, n_tokens, warns):
    """~70 BERT tokens is about all one generation (~15 s) can say: past it, generate warns (LongTextWarning,
    pointing at the caller's line) and names generate_long; the core prints nothing."""
    text = "a " * n_tokens
    assert len(pipe.tokenizer.encode(text, add_special_tokens=False)) == n_tokens
    calls = (lambda: pipe.generate(text, seed=0, max_duration_s=0.1),
             lambda: pipe.generate_takes(text, n_takes=2, seed=0, max_duration_s=0.1),
             lambda: list(pipe.stream(text, seed=0, max_duration_s=0.1)),
             lambda: pipe.text_to_semantic(text, generator=0, max_duration_s=0.1))
    for call in calls:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        ours = [w for w in caught if issubclass(w.category, LongTextWarning)]
        assert len(ours) == (1 if warns else 0), [str(w.message) for w in caught]
        if warns:
            assert "generate_long" in str(ours[0].message) and "~15 s" in str(ours[0].message)
            assert ours[0].filename == __file__  # the caller's line, not bark_core's
    with warnings.catch_warnings():
        warnings.simplefilter("error", LongTextWarning)  # long text through generate_long: split, no warning
        pipe.generate_long(text, seed=0, max_duration_s=0.1, settings=LongFormSettings(max_chunk_seconds=15.0))


# Sampling settings: every value a caller can pass works or gets the settings error -----------------------------------

WORKS = [dict(text_temp=1e-30), dict(text_temp=1e-45), dict(waveform_temp=5e-324), dict(fine_temp=1e-40),
         dict(text_temp=10.0, waveform_temp=10, fine_temp=10), dict(top_p=1e-12), dict(top_p=5e-324), dict(top_p=1.0),
         dict(top_k=1), dict(top_k=10**30), dict(top_k=10**400), dict(top_k=np.int64(5)), dict(top_k=np.float32(2.0)),
         dict(min_eos_p=1.0), dict(min_eos_p=None), dict(min_eos_p=5e-324 + 0.9), dict(max_duration_s=1e-300),
         dict(max_duration_s=1e300), dict(text_temp=np.float32(0.7)), dict(top_p=np.float64(0.9)),
         dict(text_temp=np.array(0.5)), dict(fine_temp=None), dict(top_k=1, top_p=1e-9, text_temp=1e-40)]


@pytest.mark.parametrize("kw", WORKS, ids=lambda kw: ",".join(f"{k}={v!r}" for k, v in kw.items()))
def test_every_allowed_sampling_value_works(pipe, kw):
    out = pipe.generate("Hello", seed=1, **{"max_duration_s": 0.3, **kw})
    assert len(out.semantic_tokens) > 0 and out.fine_tokens.shape[0] == 8 and np.isfinite(out.audio).all()


@pytest.mark.parametrize("kw", [dict(text_temp=1e-45, waveform_temp=1e-45), dict(top_p=5e-324, top_k=10**400)])
def test_edge_values_work_in_fast_mode_and_streaming_too(fast_pipe, kw):
    final = list(fast_pipe.stream("Hello", seed=1, max_duration_s=0.3, **kw))[-1].result
    assert len(final.semantic_tokens) > 0 and np.isfinite(final.audio).all()


REFUSED = [dict(text_temp=0), dict(text_temp=-1e-300), dict(text_temp=math.nan), dict(text_temp=math.inf),
           dict(text_temp=10**400), dict(text_temp="0.7"), dict(text_temp=torch.tensor(0.7)),
           dict(waveform_temp=np.float64("nan")), dict(fine_temp=10.5), dict(top_p=0), dict(top_p=math.nan),
           dict(top_p=1 + 1e-9), dict(top_k=0), dict(top_k=np.bool_(True)), dict(top_k=True), dict(top_k=1.5),
           dict(top_k=math.inf), dict(min_eos_p=0), dict(min_eos_p=math.inf), dict(max_duration_s=0),
           dict(max_duration_s=math.inf), dict(max_duration_s=10**400), dict(max_duration_s=np.array([1.0]))]


@pytest.mark.parametrize("kw", REFUSED, ids=lambda kw: ",".join(f"{k}={v!r}" for k, v in kw.items()))
def test_every_other_sampling_value_gets_the_settings_error(pipe, kw):
    (name,) = kw
    with pytest.raises(ValueError, match=f"{name} must be"):
        pipe.generate("Hello", seed=1, **kw)


def test_the_sampler_keeps_tiny_temperatures_finite_and_normal_ones_bitwise():
    logits = torch.tensor([[3.0, 1.0, -2.0, 3.0], [0.5, 0.25, 8.0, -1.0]])
    for temperature in (1e-30, 1e-45, 5e-324):
        tokens, probs = sample(logits, SamplingParams(temperature), torch.Generator().manual_seed(0))
        assert torch.isfinite(probs).all() and torch.allclose(probs.sum(-1), torch.ones(2))
        assert tokens[0].item() in (0, 3) and tokens[1].item() == 2  # the argmax (ties share it)
    for temperature in (0.05, 0.7, 10.0):  # the plain form, as the reference computes it
        _, probs = sample(logits, SamplingParams(temperature), torch.Generator().manual_seed(0))
        assert torch.equal(probs, torch.softmax(logits / temperature, dim=-1))
