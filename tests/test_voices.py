"""Voices: every real preset, the catalogue, `.npz` validation with one message per problem, round trips."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bark_core import Voice
from bark_core.voices.catalog import catalog, check_preset_name, preset_names
from bark_core.voices.presets import PresetStore

from .conftest import load_npz, need_prompts


def test_catalogue_lists_all_271_presets():
    names = preset_names()
    assert len(names) == len(set(names)) == 271
    assert {"v2/en_speaker_6", "de_speaker_3", "announcer", "speaker_0", "v2/zh_speaker_9"} <= set(names)
    langs = {v["language"] for v in catalog()}
    assert langs - {None} == {"en", "de", "es", "fr", "hi", "it", "ja", "ko", "pl", "pt", "ru", "tr", "zh"}


def test_every_real_preset_loads_and_validates():
    root = need_prompts()
    store = PresetStore(root)
    files = sorted(root.rglob("*.npz"))
    assert len(files) == 271
    for name in preset_names():
        v = store.load(name)
        raw = load_npz(root.joinpath(*name.split("/")).with_suffix(".npz"))
        np.testing.assert_array_equal(v.semantic_prompt, raw["semantic_prompt"])
        assert v.semantic_prompt.dtype == np.int64 and v.coarse_prompt.shape[0] == 2 and v.fine_prompt.shape[0] == 8


def test_transformers_speaker_embeddings_layout(tmp_path):
    root = need_prompts()
    index = {"repo_or_path": str(tmp_path)}
    for name in ("v2/en_speaker_6", "announcer"):
        raw = load_npz(root.joinpath(*name.split("/")).with_suffix(".npz"))
        entry = {}
        for key, arr in raw.items():
            rel = f"speaker_embeddings/{name}_{key}.npy"
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            np.save(tmp_path / rel, arr)
            entry[key] = rel
        index[name] = entry
    index["v2/de_speaker_0"] = {k: "../../etc/passwd" for k in ("semantic_prompt", "coarse_prompt", "fine_prompt")}
    (tmp_path / "speaker_embeddings_path.json").write_text(json.dumps(index))
    store = PresetStore(tmp_path)
    ref = Voice.load(root / "v2" / "en_speaker_6.npz")
    np.testing.assert_array_equal(store.load("v2/en_speaker_6").coarse_prompt, ref.coarse_prompt)
    with pytest.raises(ValueError, match="points outside the repo"):
        store.load("v2/de_speaker_0")
    with pytest.raises(ValueError, match="not listed"):
        store.load("v2/fr_speaker_1")


@pytest.mark.parametrize("name,hint", [("v2/en_speaker_66", "v2/en_speaker_6"), ("../../etc/passwd", None),
                                       ("/etc/passwd", None), ("en_speaker_10", "en_speaker_1"),
                                       ("v3/en_speaker_1", "v2/en_speaker_1")])
def test_unknown_names_are_refused_with_close_matches(name, hint):
    with pytest.raises(ValueError, match="unknown voice preset") as e:
        check_preset_name(name)
    if hint:
        assert hint in str(e.value)


def good() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"semantic_prompt": rng.integers(0, 10_000, 100), "coarse_prompt": rng.integers(0, 1024, (2, 150)),
            "fine_prompt": rng.integers(0, 1024, (8, 150))}


def npz_bytes(arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


BAD_VOICES = [
    (lambda d: d.pop("coarse_prompt"), "missing coarse_prompt"),
    (lambda d: d.update(fine_prompt=d["fine_prompt"][:7]), r"fine_prompt must have shape \(8, T\)"),
    (lambda d: d.update(semantic_prompt=d["semantic_prompt"][None]), r"semantic_prompt must have shape \(T,\)"),
    (lambda d: d.update(semantic_prompt=d["semantic_prompt"] + 10_000), r"values must be in 0..9999"),
    (lambda d: d.update(coarse_prompt=d["coarse_prompt"] - 2000), r"coarse_prompt values must be in 0..1023"),
    (lambda d: d.update(coarse_prompt=d["coarse_prompt"][:, :90]), "do not line up"),
    (lambda d: d.update(semantic_prompt=d["semantic_prompt"].astype(np.float32)), "must hold integers"),
    (lambda d: d.update(semantic_prompt=np.zeros(0, np.int64)), "semantic_prompt is empty"),
    (lambda d: d.update(fine_prompt=d["fine_prompt"].astype(bool)), "must hold integers"),
]


@pytest.mark.parametrize("mutate,message", BAD_VOICES)
def test_invalid_voice_arrays(mutate, message):
    d = good()
    mutate(d)
    with pytest.raises(ValueError, match=message):
        Voice.from_arrays(d)
    with pytest.raises(ValueError, match=message):
        from bark_core.voices.voice import read_npz
        Voice.from_arrays(read_npz(npz_bytes(d), "x.npz"))


def test_object_arrays_are_never_unpickled(tmp_path):
    d = good()
    d["semantic_prompt"] = np.array([1, "x", None], dtype=object)
    np.savez(tmp_path / "evil.npz", **d)
    with pytest.raises(ValueError, match="object arrays"):
        Voice.load(tmp_path / "evil.npz")


@pytest.mark.parametrize("content,message", [(b"", "not a valid .npz"), (b"RIFF$\x00\x00\x00WAVEfmt ", "not a valid"),
                                             (b"PK\x03\x04garbage", "not a valid")])
def test_broken_files(tmp_path, content, message):
    (tmp_path / "v.npz").write_bytes(content)
    with pytest.raises(ValueError, match=message):
        Voice.load(tmp_path / "v.npz")


def test_zip_bomb_is_refused_before_unpacking(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("semantic_prompt.npy", b"\x00" * (200 * 2**20))
    assert path.stat().st_size < 2**20
    with pytest.raises(ValueError, match="unpacks to"):
        Voice.load(path)


def test_missing_file():
    with pytest.raises(ValueError, match="does not exist"):
        Voice.load("/nonexistent/voice.npz")


def test_take_round_trips_as_voice(pipe, tmp_path):
    out = pipe.generate("Hello world", voice="v2/en_speaker_6", seed=4)
    path = out.to_voice().save(tmp_path / "take.npz")
    again = Voice.load(path)
    np.testing.assert_array_equal(again.fine_prompt, out.fine_tokens)
    a = pipe.generate("This is a test", voice=str(path), seed=8)
    b = pipe.generate("This is a test", voice=out.to_voice(), seed=8)
    np.testing.assert_array_equal(a.fine_tokens, b.fine_tokens)
    np.testing.assert_array_equal(a.semantic_tokens, b.semantic_tokens)


@pytest.mark.parametrize("text,is_path", [
    ("v2/en_speaker_66", False), ("myvoice", False), ("announcr", False), ("de_speaker_3", False),
    ("MYVOICE.NPZ", True), ("voices/me.npz", True), ("/some/dir/voice", True), ("~/voice", True), ("./voice", True),
    ("../voice", True), ("some/dir/voice", True), ("C:\\voices\\me", True), ("v2/en_speaker_6.npz", True),
])
def test_voice_strings_are_paths_or_preset_names(tmp_path, monkeypatch, text, is_path):
    from bark_core.voices.voice import voice_path

    monkeypatch.chdir(tmp_path)
    assert (voice_path(text) is not None) == is_path
    (tmp_path / "myvoice").write_bytes(b"")
    assert voice_path("myvoice") == Path("myvoice")  # an existing file is a path, whatever its name


@pytest.mark.parametrize("path,preset", [
    ("v2/en_speaker_6.npz", "v2/en_speaker_6"), ("V2/EN_SPEAKER_6.NPZ", "v2/en_speaker_6"),
    ("/x/bark/assets/prompts/v2/de_speaker_3.npz", "v2/de_speaker_3"), ("C:\\prompts\\announcer.npz", "announcer"),
    ("en_speaker_1", "en_speaker_1"), ("me.npz", None), ("v2/en_speaker_66.npz", None), ("", None),
])
def test_preset_named_by_a_path(path, preset):
    from bark_core.voices.catalog import preset_named_by

    assert preset_named_by(path) == preset


def test_special_files_are_refused_without_reading_them(tmp_path):
    """A device or a pipe is never read (reading /dev/zero would never end, a pipe would block)."""
    import os

    fifo = tmp_path / "voice.npz"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        with pytest.raises(ValueError, match="is not a regular file"):
            Voice.load(path)
    with pytest.raises(ValueError, match="is a folder"):
        Voice.load(tmp_path)


def test_an_oversized_file_is_refused_after_reading_only_the_limit(tmp_path, monkeypatch):
    from bark_core.voices import voice as voice_module

    monkeypatch.setattr(voice_module, "MAX_VOICE_FILE_BYTES", 1000)
    (tmp_path / "big.npz").write_bytes(npz_bytes(good()))
    with pytest.raises(ValueError, match="big.npz is over .* MiB"):
        Voice.load(tmp_path / "big.npz")


def test_an_unreadable_file_says_so(tmp_path, monkeypatch):
    path = tmp_path / "locked.npz"
    path.write_bytes(npz_bytes(good()))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ValueError, match="locked.npz cannot be read \\(Permission denied\\)"):
        Voice.load(path)
