"""The Evaluate tab and take bundles through the launched app's API."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import soundfile as sf

from bark_core.studio.evaluation import MAX_CELLS, ratings_from_csv

from .test_app import app_url, call, client, served, served_model  # noqa: F401 - the launched app fixtures

pytestmark = pytest.mark.app


def grid(client, served_model, **kw):  # noqa: F811
    """/grid's returns: the status line, then each cell's (audio, info, strip, bundle)."""
    args = dict(lines="Hello world.\nThis is a test.", axis="voice", voices=["v2/en_speaker_1", "announcer"], k=2,
                temps="0.5, 0.9", models=[], voice="v2/en_speaker_6", max_duration_s=0.3, seed=5, random_seed=False,
                model=served_model)
    return client.predict(**{**args, **kw}, api_name="/grid")


def cells_of(out) -> list:
    return [out[1 + 4 * i : 5 + 4 * i] for i in range(MAX_CELLS)]


def test_2x2_grid_equals_single_generations(client, served_model):  # noqa: F811
    out = grid(client, served_model)
    assert "Done: 4 of 4 cells" in out[0]
    assert "(from the Studio: fast precision, max duration (s) 0.3)" in out[0]  # the settings from another tab
    for (wav, info, _strip, bundle), (line, voice) in zip(cells_of(out)[:4], [(t, v) for t in ("Hello world.",
                                                                                      "This is a test.")
                                                                  for v in ("v2/en_speaker_1", "announcer")],
                                                          strict=True):
        single = call(client, text=line, voice=voice, max_duration_s=0.3, seed=5)
        np.testing.assert_array_equal(sf.read(wav)[0], sf.read(single["wav"])[0])
        assert f"voice {voice}" in info and "RTF" in info
        with zipfile.ZipFile(bundle) as zf:
            assert json.loads(zf.read("settings.json"))["voice"] == {"preset": voice}
    # the same session rates the cells and downloads the CSV
    marks = []
    for i in range(12):
        marks += [str(1 + i % 5) if i < 4 else None, i == 2, f"note {i}" if i < 4 else None]
    csv_path, status = client.predict(*marks, api_name="/ratings")
    rows = ratings_from_csv(open(csv_path, encoding="utf-8").read())
    assert [r["rating"] for r in rows] == [1, 2, 3, 4] and [r["favourite"] for r in rows] == [False, False, True, False]
    assert rows[3]["voice"] == "announcer" and rows[3]["text"] == "This is a test." and rows[0]["seed"] == 5
    assert {"text_temp", "top_k", "model", "duration_s", "rtf"} <= set(rows[0]) and "4 cells" in status


def test_seed_axis_takes_are_consecutive_seeds(client, served_model):  # noqa: F811
    out = grid(client, served_model, lines="Hello world.", axis="seed", k=3)
    assert "Done: 3 of 3 cells" in out[0]
    assert all(cells_of(out)[i][1].count(f"seed {5 + i}") >= 1 for i in range(3))


@pytest.mark.parametrize("kw,message", [
    (dict(lines="a\nb\nc\nd\ne", voices=["announcer", "v2/en_speaker_1", "v2/en_speaker_2"]), "at most 12"),
    (dict(axis="temperature", temps="warm, hot"), "numbers separated by commas"),
    (dict(voices=[]), "pick at least one voice"),
    (dict(lines="   "), "type a line of text"),
    (dict(top_k=-1), r"top-k must be 0 \(off\) or more"),
    (dict(voices=["announcer", "/etc/passwd"]), "unknown voice preset '/etc/passwd'"),  # a preset, never a file
    (dict(axis="pitch"), "compare along one of"),
    (dict(precision="turbo"), "precision must be 'fast' or 'exact'"),
])
def test_grid_caps_and_messages(client, served_model, kw, message):  # noqa: F811
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        grid(client, served_model, **kw)


def test_ratings_before_a_grid_say_what_to_do(app_url):  # noqa: F811
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Fill the grid first"):
        Client(app_url, verbose=False).predict(*[None, False, None] * MAX_CELLS, api_name="/ratings")


def test_bundle_round_trip_through_the_app(client, served_model, tmp_path):  # noqa: F811
    """Re-creating a take from its bundle: identical tokens, and every output is the re-created take's (a take
    of the history, with its own number)."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    import app

    out = call(client, max_duration_s=0.4, seed=21)
    again = client.predict(handle_file(out["bundle"]), served_model, api_name="/reproduce")
    message, take = again[0], dict(zip(app.GENERATE_RETURNS, again[1:], strict=True))
    assert "identical" in message and "Differences" not in message
    np.testing.assert_array_equal(np.load(take["tokens"])["fine_tokens"], np.load(out["tokens"])["fine_tokens"])
    np.testing.assert_array_equal(sf.read(take["wav"])[0], sf.read(out["wav"])[0])
    assert take["seed"] == 21 and "seed 21" in take["title"] and take["title"] != out["title"]  # a new history entry
    assert take["settings"]["precision"] == out["settings"]["precision"] and take["bundle"] != out["bundle"]
    assert "Re-created" in take["status"] and "seed **21**" in take["timing"] and take["take2"] is None
    with zipfile.ZipFile(out["bundle"]) as src, zipfile.ZipFile(tmp_path / "bad.zip", "w") as dst:
        for n in src.namelist():
            dst.writestr(n, b"{broken" if n == "settings.json" else src.read(n))
    with pytest.raises(AppError, match="not valid JSON"):
        client.predict(handle_file(str(tmp_path / "bad.zip")), served_model, api_name="/reproduce")


def test_a_bundle_cannot_name_a_file_on_the_server(client, served_model, tmp_path):  # noqa: F811
    """A bundle's voice is a preset name: one naming a path is refused before anything reads it."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    out = call(client, max_duration_s=0.3, seed=2)
    with zipfile.ZipFile(out["bundle"]) as src, zipfile.ZipFile(tmp_path / "path.zip", "w") as dst:
        for n in src.namelist():
            data = src.read(n)
            if n == "settings.json":
                settings = json.loads(data)
                settings["voice"] = {"preset": "/etc/passwd"}
                data = json.dumps(settings).encode()
            dst.writestr(n, data)
    with pytest.raises(AppError, match="names the voice '/etc/passwd', which is not one of Bark's presets"):
        client.predict(handle_file(str(tmp_path / "path.zip")), served_model, api_name="/reproduce")


@pytest.mark.parametrize("axis,kw,label", [("temperature", dict(temps="0.5, 0.9"), "temperature 0.9"),
                                           ("model", {}, "model ")])
def test_temperature_and_model_axes(client, served_model, axis, kw, label):  # noqa: F811
    kw = {**kw, "models": [served_model]} if axis == "model" else kw
    out = grid(client, served_model, lines="Hello world.", axis=axis, **kw)
    n = 2 if axis == "temperature" else 1
    assert f"Done: {n} of {n} cells" in out[0] and label in cells_of(out)[n - 1][1]


def test_a_full_disk_leaves_the_grid_cells_playable(client, served_model, monkeypatch):  # noqa: F811
    from bark_core.generation.result import BarkResult

    def full(self, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(BarkResult, "save_wav", full)
    out = grid(client, served_model, lines="Hello world.", voices=["announcer"])
    wav, info, _strip, bundle = cells_of(out)[0]
    assert "Done: 1 of 1 cells" in out[0] and "could not be saved for download" in info and bundle is None
    assert sf.read(wav)[0].size > 0  # the take still plays (sent as samples)
