"""Reproducibility bundles and grid/rating helpers."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from bark_core.generation.longform import LongFormSettings
from bark_core.studio.bundle import read_bundle, reproduce, write_bundle
from bark_core.studio.evaluation import (
    MAX_CELLS,
    build_cells,
    check_audio_budget,
    parse_values,
    ratings_from_csv,
    ratings_to_csv,
)

SAMPLING = dict(max_duration_s=0.5, text_temp=0.8)


@pytest.fixture(scope="module")
def bundle_path(pipe, tmp_path_factory):
    voice = pipe.resolve_voice("v2/en_speaker_2")
    r = pipe.generate_long("Hello world.", voice=voice, seed=12, **SAMPLING)
    return write_bundle(tmp_path_factory.mktemp("b") / "take.zip", pipe, r, voice, "en", LongFormSettings()), r


def test_bundle_contents(bundle_path):
    path, r = bundle_path
    with zipfile.ZipFile(path) as zf:
        assert set(zf.namelist()) == {"take.wav", "voice.npz", "tokens.npz", "settings.json", "prompt.npz"}
        s = json.loads(zf.read("settings.json"))
    assert s["seed"] == 12 and s["text"] == "Hello world." and s["voice"]["embedded"] == "prompt.npz"
    assert s["sampling"]["text_temp"] == 0.8 and s["sampling"]["max_duration_s"] == 0.5
    assert set(s["model"]["weights"]) == {"text", "coarse", "fine", "codec"} and s["precision"] == "fp32"
    assert {"bark_core", "torch", "transformers", "numpy", "python"} <= set(s["versions"])


def test_bundle_reproduces_identical_tokens(pipe, bundle_path):
    path, r = bundle_path
    again, diffs, same = reproduce(pipe, read_bundle(path))
    assert same and diffs == []
    np.testing.assert_array_equal(again.fine_tokens, r.fine_tokens)


def test_preset_bundle_and_differences(pipe, tmp_path, model_dir):
    from bark_core import BarkPipeline
    from bark_core.testing.random_weights import write_offline_folder

    r = pipe.generate_long("Hello world.", voice="announcer", seed=3, **SAMPLING)
    path = write_bundle(tmp_path / "t.zip", pipe, r, "announcer", "en", LongFormSettings())
    assert read_bundle(path).settings["voice"] == {"preset": "announcer"}
    other = BarkPipeline.from_pretrained(str(write_offline_folder(tmp_path / "other", seed=5)), device="cpu",
                                         voices=pipe.presets.source)
    _, diffs, same = reproduce(other, read_bundle(path))
    assert not same and any("model weights differ" in d for d in diffs)


def rewrite(path, tmp_path, name="bad.zip", drop=(), add=None, replace=None):
    out = tmp_path / name
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for n in src.namelist():
            if n not in drop:
                dst.writestr(n, (replace or {}).get(n, src.read(n)))
        for n, data in (add or {}).items():
            dst.writestr(n, data)
    return out


@pytest.mark.parametrize("change,message", [
    (dict(replace={"settings.json": b"{not json"}), "not valid JSON"),
    (dict(drop=("tokens.npz",)), "missing tokens.npz"),
    (dict(add={"../../evil.sh": b"rm -rf /"}), "unexpected entries"),
    (dict(add={"/etc/passwd": b"x"}), "unexpected entries"),
    (dict(add={"take.wav/../../x": b"x"}), "unexpected entries"),
    (dict(replace={"settings.json": b'{"format": "something-else/9"}'}), "not a Bark Studio take bundle"),
    (dict(drop=("prompt.npz",)), "embedded but holds no prompt.npz"),
    (dict(replace={"tokens.npz": b"garbage"}), "not a valid .npz"),
])
def test_tampered_bundles_are_refused(bundle_path, tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        read_bundle(rewrite(bundle_path[0], tmp_path, **change))


@pytest.mark.parametrize("preset", ["/srv/voices/private.npz", "../me.npz", "v2/en_speaker_6.npz", 7])
def test_a_bundle_names_only_presets(bundle_path, tmp_path, preset):
    """A bundle's voice is a preset by name or embedded: never a path read on the machine that reproduces it."""
    with zipfile.ZipFile(bundle_path[0]) as zf:
        settings = json.loads(zf.read("settings.json"))
    settings["voice"] = {"preset": preset}
    bad = rewrite(bundle_path[0], tmp_path, drop=("prompt.npz",), replace={"settings.json": json.dumps(settings)})
    with pytest.raises(ValueError, match="not one of Bark's presets"):
        read_bundle(bad)
    settings["voice"] = {"preset": "v2/en_speaker_6"}
    good = rewrite(bundle_path[0], tmp_path, "good.zip", drop=("prompt.npz",),
                   replace={"settings.json": json.dumps(settings)})
    assert read_bundle(good).settings["voice"] == {"preset": "v2/en_speaker_6"}


def test_zip_bomb_and_foreign_files(bundle_path, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("settings.json", b"{}")
        zf.writestr("tokens.npz", b"\0" * (150 * 2**20))
    (tmp_path / "bomb.zip").write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="unpacks to more than"):
        read_bundle(tmp_path / "bomb.zip")
    (tmp_path / "x.zip").write_bytes(b"RIFF....WAVE")
    with pytest.raises(ValueError, match="not a take bundle"):
        read_bundle(tmp_path / "x.zip")


def test_grid_cells_and_caps():
    base = dict(voice="announcer", model="m", seed=10, text_temp=0.7, waveform_temp=0.7)
    cells = build_cells(["a", "b"], "seed", parse_values("seed", [], 2, "", []), base)
    assert [(c.row, c.column, c.settings["seed"]) for c in cells] == [(0, 0, 10), (0, 1, 11), (1, 0, 10), (1, 1, 11)]
    temps = build_cells(["a"], "temperature", parse_values("temperature", [], None, "0.5, 0.9", []), base)
    assert [c.settings["text_temp"] for c in temps] == [0.5, 0.9] and temps[1].settings["waveform_temp"] == 0.9
    with pytest.raises(ValueError, match=f"at most {MAX_CELLS}"):
        build_cells(["a"] * 5, "voice", ["x", "y", "z"], base)
    with pytest.raises(ValueError, match="numbers separated by commas"):
        parse_values("temperature", [], None, "hot, cold", [])
    with pytest.raises(ValueError, match="about 200 s of audio"):
        check_audio_budget(cells, lambda text: 50.0)


def test_ratings_csv_round_trip():
    rows = [dict(cell=1, row=0, column=0, axis="voice", value="announcer", text='He said "hi", then left',
                 voice="announcer", model="bark-small", seed=7, text_temp=0.7, waveform_temp=0.7, fine_temp=0.5,
                 top_k=None, top_p=None, min_eos_p=0.2, duration_s=1.5, rtf=0.3, rating=4, favourite=True,
                 note="crisp, warm\nsecond line"),
            dict(cell=2, row=0, column=1, axis="voice", value="x", text="t", voice="x", model="m", seed=8,
                 text_temp=0.5, waveform_temp=0.5, fine_temp=0.5, top_k=50, top_p=0.9, min_eos_p=0.2,
                 duration_s=2.0, rtf=0.5, rating=None, favourite=False, note=None)]
    assert ratings_from_csv(ratings_to_csv(rows)) == rows
