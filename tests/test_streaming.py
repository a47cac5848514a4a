"""pipe.stream: preview audio per coarse window, then the final take, which equals generate() token for token."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bark_core import constants as C
from bark_core.generation.streaming import StreamSettings


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


def test_the_first_chunk_is_cut_inside_the_first_window(pipe):
    """The first chunk plays the first window's frames less the look-ahead, cut as soon as they and a shorter
    look-ahead exist (before the first window ends); the chunks and the take are otherwise as without it."""
    runs = {}
    for name, settings in (("early", StreamSettings()), ("at window end", StreamSettings(first_lookahead_frames=16))):
        events = runs[name] = []
        for chunk in pipe.stream("Hello world", seed=4, max_duration_s=3.0, settings=settings,
                                 progress=lambda stage, done, total, out=events: out.append((stage, done))):
            events.append(chunk)
    early, late = ([e for e in events if not isinstance(e, tuple)] for events in runs.values())
    assert [c.start_s for c in early] == [c.start_s for c in late] and len(early) >= 4
    assert len(early[0].audio) == len(late[0].audio) == (30 - 16) * C.SAMPLES_PER_FRAME
    np.testing.assert_array_equal(early[-1].result.fine_tokens, late[-1].result.fine_tokens)
    for name, events in runs.items():
        first_chunk = next(i for i, e in enumerate(events) if not isinstance(e, tuple))
        assert (first_chunk < events.index(("coarse", 1))) == (name == "early"), name


def test_coarse_windows_yield_early_once_inside_the_first_window(pipe):
    from bark_core.generation.coarse import CoarseWindows
    from bark_core.generation.settings import CoarseSettings

    semantic = np.random.default_rng(0).integers(0, 10_000, 120)

    def windows(early):
        g = torch.Generator().manual_seed(0)
        return [c.copy() for (c,) in CoarseWindows(pipe.coarse_model, [semantic], None, CoarseSettings(), [g],
                                                    early=early)]

    plain, early, at_end = windows(0), windows(10), windows(60)
    assert [c.shape[1] for c in early] == [5] + [c.shape[1] for c in plain]
    np.testing.assert_array_equal(early[0], plain[0][:, :5])
    assert all(np.array_equal(a, b) for a, b in zip(early[1:], plain, strict=True))
    assert len(at_end) == len(plain)  # the window ends there: no extra yield


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
    (dict(first_lookahead_frames=17), "first_lookahead_frames"),
])
def test_stream_settings_are_checked(kw, message):
    with pytest.raises(ValueError, match=message):
        StreamSettings(**kw)


def test_stream_checks_input_before_work(pipe):
    with pytest.raises(ValueError, match="text_temp"):
        next(pipe.stream("Hello", text_temp=0))


@pytest.mark.parametrize("voice", [None, "v2/en_speaker_6"])
def test_fast_mode_interleaves_the_stages_and_the_take_still_equals_generate(fast_pipe, pipe, model_dir, voice):
    """Fast mode's stages draw from their own streams, so coarse windows start while the semantic stage is still
    drawing (after 256 tokens, or 47 past a voice's history); exact mode draws all semantic tokens first, and so
    does fast mode with offload (one model at a time on the accelerator), with the same take."""
    from .conftest import int8_fast, need_prompts

    if voice:
        need_prompts()
    offloaded = int8_fast(model_dir, offload=True, voices=fast_pipe.presets.source)
    runs = {}
    for name, p in (("fast", fast_pipe), ("exact", pipe), ("fast offload", offloaded)):
        events = runs[name] = []
        for chunk in p.stream("Hello world", voice=voice, seed=5, max_duration_s=7.0,
                              progress=lambda stage, done, total, out=events: out.append(stage)):
            events.append("chunk" if chunk.result is None else chunk.result)
        final = events[-1]
        single = (fast_pipe if p is offloaded else p).generate("Hello world", voice=voice, seed=5, max_duration_s=7.0)
        assert len(single.semantic_tokens) > C.COARSE_SEMANTIC_WINDOW  # more than the first window reads
        for k in ("semantic_tokens", "coarse_tokens", "fine_tokens"):
            np.testing.assert_array_equal(getattr(final, k), getattr(single, k))
        assert final.timings["semantic"] > 0 and final.timings["coarse"] > 0
    for name, events in runs.items():
        first_chunk = events.index("chunk")
        last_semantic = max(i for i, e in enumerate(events) if e == "semantic")
        assert (first_chunk < last_semantic) == (name == "fast"), name


def test_interleaved_stream_reports_a_take_that_says_nothing(fast_pipe):
    with pytest.raises(ValueError, match="before saying anything"):
        list(fast_pipe.stream("Hello", seed=1, min_eos_p=1e-9))


def test_semantic_needed_is_the_fewest_tokens_for_a_coarse_length():
    from bark_core.generation.coarse import n_coarse_steps, semantic_needed

    for n_coarse in range(0, 2400, 7):
        n = semantic_needed(n_coarse)
        assert n_coarse_steps(n) >= n_coarse and (n == 0 or n_coarse_steps(n - 1) < n_coarse)


def test_stage_streams_are_split_only_outside_exact_mode(pipe, fast_pipe):
    exact, fast = pipe.make_generators(7), fast_pipe.make_generators(7)
    assert not exact.split and exact.semantic is exact.fine
    assert fast.split and len({id(fast.semantic), id(fast.coarse), id(fast.fine)}) == 3
    draws = [torch.rand(4, generator=g) for g in (fast.semantic, fast.coarse, fast.fine,
                                                  fast_pipe.make_generators(8).semantic)]
    assert all(not torch.equal(a, b) for i, a in enumerate(draws) for b in draws[i + 1:])
    again = fast_pipe.make_generators(7)
    assert torch.equal(torch.rand(4, generator=again.coarse), draws[1])


def test_make_streams_is_a_deprecated_name_of_make_generators(fast_pipe):
    """The README documented make_streams: it still gives the same generators, and says to use make_generators."""
    with pytest.warns(DeprecationWarning, match="make_generators"):
        old = fast_pipe.make_streams(7)
    new = fast_pipe.make_generators(7)
    for stage in ("semantic", "coarse", "fine"):
        assert torch.equal(torch.rand(4, generator=getattr(old, stage)), torch.rand(4, generator=getattr(new, stage)))


def test_a_cancelled_interleaved_stream_stops_at_its_next_step(fast_pipe):
    """The app's Stop raises GenerationCancelled from the progress callback: in an interleaved stream that can
    happen in a semantic step drawn between coarse windows. Nothing more is yielded, and the pipeline serves on."""
    from bark_core import GenerationCancelled

    seen = []

    def progress(stage, done, total):
        seen.append(stage)
        if stage == "semantic" and "coarse" in seen:  # a semantic step after the first coarse window
            raise GenerationCancelled("stopped")

    chunks = []
    with pytest.raises(GenerationCancelled):
        for chunk in fast_pipe.stream("Hello world", seed=4, max_duration_s=7.0, progress=progress):
            chunks.append(chunk)
    assert chunks and all(c.result is None for c in chunks)  # previews came, the take did not
    final = list(fast_pipe.stream("Hello world", seed=4, max_duration_s=7.0))[-1].result
    single = fast_pipe.generate("Hello world", seed=4, max_duration_s=7.0)
    np.testing.assert_array_equal(final.fine_tokens, single.fine_tokens)


def test_fast_mode_stages_with_their_streams_reproduce_generate(fast_pipe):
    """The README's stage-by-stage recipe in fast mode: each stage takes its own stream from make_streams."""
    s = fast_pipe.make_generators(9)
    sem = fast_pipe.text_to_semantic("Hello world", generator=s.semantic, max_duration_s=2.0)
    coarse = fast_pipe.semantic_to_coarse(sem, generator=s.coarse)
    fine = fast_pipe.coarse_to_fine(coarse, generator=s.fine)
    out = fast_pipe.generate("Hello world", seed=9, max_duration_s=2.0)
    np.testing.assert_array_equal(fine, out.fine_tokens)
    np.testing.assert_array_equal(sem, out.semantic_tokens)


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_streamed_batch_of_takes_equals_generate_takes_and_previews_the_first(pipe, fast_pipe, mode):
    """stream(n_takes=3) decodes the takes as one batch, as generate_takes does (fast mode interleaving the stages):
    the same takes token for token, each labelled with its seed and place; the preview is the first take's."""
    p = pipe if mode == "exact" else fast_pipe
    kw = dict(voice="v2/en_speaker_6", seed=31, max_duration_s=2.0)
    chunks = list(p.stream("Hello world", n_takes=3, **kw))
    takes = p.generate_takes("Hello world", n_takes=3, **kw)
    final = chunks[-1]
    assert final.result is final.takes[0] and len(final.takes) == 3 and all(c.result is None for c in chunks[:-1])
    for streamed, made in zip(final.takes, takes, strict=True):
        for k in ("semantic_tokens", "coarse_tokens", "fine_tokens", "audio"):
            np.testing.assert_array_equal(getattr(streamed, k), getattr(made, k))
        assert streamed.seed == made.seed and streamed.settings == made.settings
    preview = np.concatenate([c.audio for c in chunks[:-1]])
    assert len(chunks) >= 3 and len(preview) == len(takes[0].audio)  # the first take, every frame once
    with pytest.raises(ValueError, match="n_takes must be a whole number from 1 to 8"):
        next(p.stream("Hello world", n_takes=9))
