"""The token panel's figures: a take of any length stays small enough for a browser tab to draw, and what is shown
of a long take is the take's own codes at their own times."""

import json

import numpy as np
import pytest

pytest.importorskip("plotly")

from bark_core import constants as C  # noqa: E402
from bark_core.studio.plots import MAX_CODE_COLUMNS, mini_strip, spectrogram_db, token_figure  # noqa: E402

MB = 1e6


def take(seconds: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    frames = int(seconds * C.COARSE_RATE_HZ)
    return (rng.integers(0, 10_000, int(seconds * C.SEMANTIC_RATE_HZ)), rng.integers(0, 1024, (2, frames)),
            rng.integers(0, 1024, (8, frames)), (rng.standard_normal(int(seconds * C.SAMPLE_RATE)) * 0.1)
            .astype(np.float32))


def traces(fig) -> dict:
    return {t.name: t for t in fig.data}


@pytest.mark.parametrize("seconds", [300, 900])
def test_a_long_take_figure_stays_a_few_megabytes(seconds):
    # A 5-minute take drew a 167 MB figure before: the browser tab crashed when it arrived.
    fig = token_figure(*take(seconds))
    assert len(fig.to_json()) < 4 * MB
    assert len(mini_strip(take(seconds)[1]).to_json()) < 0.1 * MB


def test_a_short_take_shows_every_frame():
    semantic, coarse, fine, audio = take(5)
    t = traces(token_figure(semantic, coarse, fine, audio))
    assert np.array_equal(np.asarray(t["coarse"].z), coarse)
    assert np.array_equal(np.asarray(t["fine"].z), fine)
    assert len(t["semantic"].y) == len(semantic)


def test_a_long_take_shows_its_own_codes_at_their_times():
    semantic, coarse, fine, audio = take(300)
    fig = token_figure(semantic, coarse, fine, audio)
    t = traces(fig)
    x, z = np.asarray(t["fine"].x), np.asarray(t["fine"].z)
    assert z.shape[1] <= MAX_CODE_COLUMNS
    frames = np.rint(x * C.COARSE_RATE_HZ).astype(int)  # the frame each shown column is
    assert np.array_equal(z, fine[:, frames]) and np.array_equal(np.asarray(t["coarse"].z), coarse[:, frames])
    assert frames[0] == 0 and frames[-1] >= coarse.shape[1] - np.diff(frames).max()  # the whole take
    titles = " ".join(a.text for a in fig.layout.annotations)
    assert "1 frame in" in titles  # the page says that not every frame is drawn
    assert len(t["semantic"].y) == len(semantic)


def test_the_spectrogram_covers_the_whole_take_and_keeps_its_loud_part():
    n = 300 * C.SAMPLE_RATE
    audio = np.zeros(n, np.float32)
    loud = slice(n // 2, n // 2 + 10 * C.SAMPLE_RATE)  # 10 s of a 1 kHz tone in the middle
    audio[loud] = np.sin(2 * np.pi * 1000 * np.arange(10 * C.SAMPLE_RATE) / C.SAMPLE_RATE)
    f, t, db = spectrogram_db(audio)
    assert db.shape == (len(f), len(t)) and len(t) <= 800 and db.dtype == np.float32
    assert t[0] < 1 and t[-1] > 299
    column = db[:, np.argmin(np.abs(t - 155))]
    assert abs(f[np.argmax(column)] - 1000) < 100  # the tone's band is the loudest there
    assert db[:, np.argmin(np.abs(t - 50))].max() < column.max() - 40  # silence elsewhere


def test_the_figure_is_valid_json_for_the_page():
    assert json.loads(token_figure(*take(2)).to_json())["data"]
