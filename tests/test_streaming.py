"""pipe.stream: preview audio per coarse window, then the final take, which equals generate() token for token."""

from __future__ import annotations

import numpy as np
import pytest

from bark_core import constants as C
from bark_core.streaming import StreamSettings


@pytest.mark.parametrize("voice", [None, "v2/en_speaker_6"])
def test_stream_plays_before_coarse_ends_and_the_final_take_equals_generate(pipe, voice):
    if voice:
        from .conftest import need_prompts

        need_prompts()
    events = []
    chunks = []
    for chunk in pipe.stream("Hello world", voice=voice, seed=21, max_duration_s=4.0,
                             progress=lambda stage, done, total: events.append((stage, done, total))):
        chunks.append(chunk)
        events.append(("chunk", len(chunk.audio), chunk.result is not None))
    final = chunks[-1].result
    assert final is not None and all(c.result is None for c in chunks[:-1])
    single = pipe.generate("Hello world", voice=voice, seed=21, max_duration_s=4.0)
    for k in ("semantic_tokens", "coarse_tokens", "fine_tokens"):
        np.testing.assert_array_equal(getattr(final, k), getattr(single, k))
    np.testing.assert_array_equal(final.audio, single.audio)
    assert final.seed == 21 and final.settings["max_duration_s"] == 4.0 and final.settings["voice"] == voice
    preview = np.concatenate([c.audio for c in chunks[:-1]])
    assert preview.dtype == np.float32 and len(preview) == len(final.audio)  # every frame is previewed once
    starts = [c.start_s for c in chunks[:-1]]
    assert starts[0] == 0 and starts == sorted(starts) and len(starts) >= 3
    first_chunk = next(i for i, e in enumerate(events) if e[0] == "chunk")
    last_coarse = max(i for i, e in enumerate(events) if e[0] == "coarse")
    assert first_chunk < last_coarse, "audio must start before the coarse stage is done"
    assert 0 < final.timings["first_audio"] < final.timings["total"]


def test_stream_joins_are_continuous(pipe):
    """Each chunk is decoded with earlier frames as context: at a join the step is no larger than inside chunks."""
    chunks = list(pipe.stream("Hello world", seed=3, max_duration_s=3.0))
    audio = [c.audio for c in chunks[:-1]]
    joins = np.cumsum([len(a) for a in audio])[:-1]
    whole = np.concatenate(audio)
    steps = np.abs(np.diff(whole))
    assert steps[joins - 1].max() <= 1.5 * np.percentile(steps, 99.9)
    assert all(len(a) % C.SAMPLES_PER_FRAME == 0 for a in audio)


@pytest.mark.parametrize("kw, message", [
    (dict(fine_window=1000 + 1), "fine_window"), (dict(lookahead_frames=-1), "lookahead_frames"),
    (dict(fine_context_frames=200, fine_window=256), "fine_context_frames"),
])
def test_stream_settings_are_checked(kw, message):
    with pytest.raises(ValueError, match=message):
        StreamSettings(**kw)


def test_stream_checks_input_before_work(pipe):
    with pytest.raises(ValueError, match="text_temp"):
        next(pipe.stream("Hello", text_temp=0))
