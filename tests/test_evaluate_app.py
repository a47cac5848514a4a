"""The Evaluate tab and take bundles through the launched app's API."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import soundfile as sf

from bark_core.studio.evaluation import ratings_from_csv

from .test_app import DEFAULTS, app_url, client  # noqa: F401 - the launched app fixtures


def grid(client, model_dir, **kw):  # noqa: F811
    args = dict(lines="Hello world.\nThis is a test.", axis="voice", voices=["v2/en_speaker_1", "announcer"], k=2,
                temps="0.5, 0.9", models=[], preset="v2/en_speaker_6", text_temp=0.7, waveform_temp=0.7,
                fine_temp=0.5, top_k=0, top_p=1.0, min_eos_p=0.2, max_duration=0.3, seed=5, random_seed=False,
                model=str(model_dir))
    return client.predict(**{**args, **kw}, api_name="/grid")


def test_2x2_grid_equals_single_generations(client, model_dir):  # noqa: F811
    out = grid(client, model_dir)
    assert out[0].startswith("Done: 4 cells")
    cells = [out[1 + 4 * i : 5 + 4 * i] for i in range(4)]
    for (wav, info, _strip, bundle), (line, voice) in zip(cells, [(t, v) for t in ("Hello world.", "This is a test.")
                                                                  for v in ("v2/en_speaker_1", "announcer")],
                                                          strict=True):
        single = client.predict(*{**DEFAULTS, "text": line, "preset": voice, "max_duration": 0.3, "seed": 5}.values(),
                                api_name="/generate")
        np.testing.assert_array_equal(sf.read(wav)[0], sf.read(single[1])[0])
        assert f"voice {voice}" in info and "RTF" in info
        with zipfile.ZipFile(bundle) as zf:
            assert json.loads(zf.read("settings.json"))["voice"] == {"preset": voice}
    # the same session rates the cells and downloads the CSV
    marks = []
    for i in range(12):
        marks += [str(1 + i % 5) if i < 4 else None, i == 2, f"note {i}" if i < 4 else None]
    rows = ratings_from_csv(open(client.predict(*marks, api_name="/ratings"), encoding="utf-8").read())
    assert [r["rating"] for r in rows] == [1, 2, 3, 4] and [r["favourite"] for r in rows] == [False, False, True, False]
    assert rows[3]["voice"] == "announcer" and rows[3]["text"] == "This is a test." and rows[0]["seed"] == 5
    assert {"text_temp", "top_k", "model", "duration_s", "rtf"} <= set(rows[0])


def test_seed_axis_takes_are_consecutive_seeds(client, model_dir):  # noqa: F811
    out = grid(client, model_dir, lines="Hello world.", axis="seed", k=3)
    assert out[0].startswith("Done: 3 cells")
    assert all(out[2 + 4 * i].count(f"seed {5 + i}") >= 1 for i in range(3))


@pytest.mark.parametrize("kw,message", [
    (dict(lines="a\nb\nc\nd\ne", voices=["announcer", "v2/en_speaker_1", "v2/en_speaker_2"]), "at most 12"),
    (dict(axis="temperature", temps="warm, hot"), "numbers separated by commas"),
    (dict(voices=[]), "pick at least one voice"),
    (dict(lines="   "), "type a line of text"),
])
def test_grid_caps_and_messages(client, model_dir, kw, message):  # noqa: F811
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        grid(client, model_dir, **kw)


def test_bundle_round_trip_through_the_app(client, model_dir, tmp_path):  # noqa: F811
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    out = client.predict(*{**DEFAULTS, "max_duration": 0.4, "seed": 21}.values(), api_name="/generate")
    bundle = out[10]
    _, message, _ = client.predict(handle_file(bundle), str(model_dir), api_name="/reproduce")
    assert "identical" in message and "Differences" not in message
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(tmp_path / "bad.zip", "w") as dst:
        for n in src.namelist():
            dst.writestr(n, b"{broken" if n == "settings.json" else src.read(n))
    with pytest.raises(AppError, match="not valid JSON"):
        client.predict(handle_file(str(tmp_path / "bad.zip")), str(model_dir), api_name="/reproduce")


@pytest.mark.parametrize("axis,kw,label", [("temperature", dict(temps="0.5, 0.9"), "temperature 0.9"),
                                           ("model", {}, "model ")])
def test_temperature_and_model_axes(client, model_dir, axis, kw, label):  # noqa: F811
    kw = {**kw, "models": [str(model_dir)]} if axis == "model" else kw
    out = grid(client, model_dir, lines="Hello world.", axis=axis, **kw)
    n = 2 if axis == "temperature" else 1
    assert out[0].startswith(f"Done: {n} cell{'s' if n > 1 else ''}.") and label in out[2 + 4 * (n - 1)]


def test_a_full_disk_leaves_the_grid_cells_playable(client, model_dir, monkeypatch):  # noqa: F811
    from bark_core.generation.result import BarkResult

    def full(self, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(BarkResult, "save_wav", full)
    out = grid(client, model_dir, lines="Hello world.", voices=["announcer"])
    wav, info, _strip, bundle = out[1:5]
    assert out[0].startswith("Done: 1 cell.") and "could not be saved for download" in info and bundle is None
    assert sf.read(wav)[0].size > 0  # the take still plays (sent as samples)
