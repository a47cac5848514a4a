"""Fast mode's cheaper coarse windows: a window whose input extends the previous one continues from its cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bark_core.generation.coarse as coarse_stage
from bark_core import constants as C
from bark_core.generation.settings import CoarseSettings, SamplingParams

from .conftest import need_prompts


def extends_previous(w: int, settings: CoarseSettings, window: int = C.SLIDING_WINDOW_LEN) -> bool:
    """Worked out from the reference's window rule, independently of the engine: with no voice, window w's input
    is window w-1's plus the tokens drawn since while its semantic slice still starts at 0 and its coarse history
    (w * window tokens) is not cut to max_coarse_history."""
    max_semantic_history = int(np.floor(settings.max_coarse_history / C.SEMANTIC_TO_COARSE_RATIO))
    n_step = w * window
    return w > 0 and round(n_step / C.SEMANTIC_TO_COARSE_RATIO) <= max_semantic_history \
        and n_step <= settings.max_coarse_history


def run(model, semantic, settings, reuse, monkeypatch, history=None):
    """Coarse codes, the logits each step sampled from, and each forward call's (start, T)."""
    seen, calls = [], []
    real_sample, real_forward = coarse_stage.sample, model.forward

    def recording(logits, params, generator):
        seen.append(logits.clone())
        return real_sample(logits, params, generator)

    def forward(idx=None, **kw):
        calls.append((kw.get("start", 0), idx.shape[1]))
        return real_forward(idx, **kw)

    monkeypatch.setattr(coarse_stage, "sample", recording)
    monkeypatch.setattr(model, "forward", forward)
    try:
        codes = coarse_stage.generate_coarse(model, semantic, history, settings, torch.Generator().manual_seed(5),
                                       reuse_prefix=reuse)
    finally:
        monkeypatch.undo()
    return codes, torch.stack(seen), calls


@pytest.mark.parametrize("max_history", [630, 120])
def test_reused_windows_compute_what_the_reprefill_computes(pipe, monkeypatch, max_history):
    """fp32 weights: the same logits (to rounding) and tokens, with a prefill only where the input shifts."""
    semantic = np.random.default_rng(0).integers(0, C.SEMANTIC_VOCAB_SIZE, 140)  # 420 coarse tokens: 7 windows
    settings = CoarseSettings(SamplingParams(0.7), max_coarse_history=max_history)
    model = pipe.coarse_model
    plain, plain_logits, plain_calls = run(model, semantic, settings, False, monkeypatch)
    reused, reused_logits, reused_calls = run(model, semantic, settings, True, monkeypatch)
    np.testing.assert_array_equal(reused, plain)
    torch.testing.assert_close(reused_logits, plain_logits, atol=1e-5, rtol=1e-5)
    # One forward per step; a window starts with a prefill (start 0) or, reused, with its one new token.
    n_windows = sum(1 for s, _ in plain_calls if s == 0)
    assert n_windows == 7 and len(reused_calls) == len(plain_calls)
    starts = [c for i, c in enumerate(reused_calls) if i % C.SLIDING_WINDOW_LEN == 0]
    expected = [extends_previous(w, settings) for w in range(n_windows)]
    assert [s > 0 and t == 1 for s, t in starts] == expected
    assert sum(expected) == (6 if max_history == 630 else 1)  # 630: all but the first; 120: only window 1
    assert all(t == 1 for s, t in reused_calls if s > 0)  # a reused window feeds only its one new token


def test_exact_mode_keeps_every_reprefill_and_fast_mode_reuses(pipe, fast_pipe, monkeypatch):
    calls = {}
    for name, p in (("exact", pipe), ("fast", fast_pipe)):
        calls[name] = []
        real = p.coarse_model.forward

        def forward(idx=None, _real=real, _calls=calls[name], **kw):
            _calls.append(kw.get("start", 0))
            return _real(idx, **kw)

        monkeypatch.setattr(p.coarse_model, "forward", forward)
    semantic = np.random.default_rng(1).integers(0, C.SEMANTIC_VOCAB_SIZE, 60)  # 180 coarse tokens: 3 windows
    pipe.semantic_to_coarse(semantic, generator=1)
    fast_pipe.semantic_to_coarse(semantic, generator=1)
    assert calls["exact"].count(0) == 3 and calls["fast"].count(0) == 1


def test_a_voice_whose_history_shifts_every_window_is_prefilled_each_time(pipe, monkeypatch):
    need_prompts()
    v = pipe.resolve_voice("v2/en_speaker_6")
    semantic = np.random.default_rng(2).integers(0, C.SEMANTIC_VOCAB_SIZE, 60)
    settings = CoarseSettings(SamplingParams(0.7))
    plain, _, plain_calls = run(pipe.coarse_model, semantic, settings, False, monkeypatch,
                                (v.semantic_prompt, v.coarse_prompt))
    reused, _, reused_calls = run(pipe.coarse_model, semantic, settings, True, monkeypatch,
                                  (v.semantic_prompt, v.coarse_prompt))
    np.testing.assert_array_equal(reused, plain)
    assert reused_calls == plain_calls and sum(1 for s, _ in plain_calls if s == 0) == 3


def test_decoded_teacher_forcing_reproduces_the_stage_and_measures_fast_mode(pipe, fast_pipe, monkeypatch):
    """The decode-faithful proxy's logits are what the stage sampled from (with and without reuse); fast mode's
    distance from exact mode is int8 noise, and reusing the cache adds no more than rounding to it."""
    from bark_core.testing.fidelity import coarse_decode_fidelity, coarse_logits_decoded

    semantic = np.random.default_rng(3).integers(0, C.SEMANTIC_VOCAB_SIZE, 80)
    settings = CoarseSettings(SamplingParams(0.7))
    for reuse in (False, True):
        codes, seen, _ = run(pipe.coarse_model, semantic, settings, reuse, monkeypatch)
        forced = coarse_logits_decoded(pipe.coarse_model, semantic, codes, settings, reuse)
        torch.testing.assert_close(forced, seen, atol=1e-5, rtol=1e-5)
    same = coarse_decode_fidelity(pipe.coarse_model, pipe.coarse_model, semantic, codes, reuse_prefix=True)
    assert same["kl"] < 1e-8 and same["top1"] == 1.0
    fast = [coarse_decode_fidelity(pipe.coarse_model, fast_pipe.coarse_model, semantic, codes, reuse)
            for reuse in (False, True)]
    assert all(0 < f["kl"] < 0.05 and f["top1"] > 0.8 for f in fast), fast


def test_batched_takes_of_different_lengths_reuse_their_own_rows(pipe, monkeypatch):
    """Takes leave the batch at different windows (one mid-window): each remaining row keeps reusing its own
    cached tokens."""
    rng = np.random.default_rng(4)
    semantics = [rng.integers(0, C.SEMANTIC_VOCAB_SIZE, n) for n in (90, 35, 70)]  # 5, 2 and 4 windows
    settings = CoarseSettings(SamplingParams(0.7))
    out, prefills = {}, {}
    real_forward = pipe.coarse_model.forward
    for reuse in (False, True):
        starts = []

        def forward(idx=None, _starts=starts, **kw):
            _starts.append((kw.get("start", 0), idx.shape[0]))
            return real_forward(idx, **kw)

        monkeypatch.setattr(pipe.coarse_model, "forward", forward)
        gens = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
        out[reuse] = coarse_stage.generate_coarse_takes(pipe.coarse_model, semantics, None, settings, gens,
                                                  reuse_prefix=reuse)
        monkeypatch.undo()
        prefills[reuse] = [rows for s, rows in starts if s == 0]
    assert prefills[False] == [3, 3, 2, 2, 1] and prefills[True] == [3]  # the batch shrinks; reused: one prefill
    for plain, reused, semantic in zip(out[False], out[True], semantics, strict=True):
        assert plain.shape[1] == coarse_stage.n_coarse_steps(len(semantic)) // 2
        np.testing.assert_array_equal(reused, plain)
