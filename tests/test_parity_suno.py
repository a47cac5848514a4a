"""Token-exact parity with suno's reference `generation.py` on the same (tiny, random) weights, CPU fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.parity

TEXT = "Hello! [laughs] I'm Bark."


def reference_full(suno, text, history, seed, **kw):
    import bark.api

    torch.manual_seed(seed)
    full, audio = bark.api.generate_audio(text, history_prompt=history, silent=True, output_full=True, **kw)
    return full, audio


@pytest.mark.parametrize("seed", [0, 7, 123])
def test_generate_matches_reference_without_voice(pipe, suno, seed):
    full, audio = reference_full(suno, TEXT, None, seed)
    out = pipe.generate(TEXT, seed=seed)
    np.testing.assert_array_equal(out.semantic_tokens, full["semantic_prompt"])
    np.testing.assert_array_equal(out.coarse_tokens, full["coarse_prompt"])
    np.testing.assert_array_equal(out.fine_tokens, full["fine_prompt"])
    np.testing.assert_allclose(out.audio, audio, atol=1e-6)
    assert out.seed == seed and out.audio.dtype == np.float32


@pytest.mark.parametrize("preset,seed", [("v2/en_speaker_6", 1), ("de_speaker_3", 2), ("announcer", 3),
                                         ("v2/zh_speaker_0", 4)])
def test_generate_matches_reference_with_real_presets(pipe, suno, preset_path, preset, seed):
    path = preset_path(preset)
    full, audio = reference_full(suno, TEXT, str(path), seed, text_temp=0.8, waveform_temp=0.6)
    out = pipe.generate(TEXT, voice=preset, seed=seed, text_temp=0.8, waveform_temp=0.6)
    np.testing.assert_array_equal(out.semantic_tokens, full["semantic_prompt"])
    np.testing.assert_array_equal(out.coarse_tokens, full["coarse_prompt"])
    np.testing.assert_array_equal(out.fine_tokens, full["fine_prompt"])
    np.testing.assert_allclose(out.audio, audio, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(top_k=50), dict(top_p=0.9), dict(top_k=20, top_p=0.5),
                                dict(min_eos_p=0.001), dict(min_eos_p=None), dict(max_gen_duration_s=2.0),
                                dict(temp=1.3, top_p=0.95)])
def test_semantic_stage_variations(pipe, suno, preset_path, kw):
    hist = str(preset_path("v2/en_speaker_1"))
    torch.manual_seed(11)
    ref = suno.generate_text_semantic(TEXT, history_prompt=hist, silent=True, use_kv_caching=True, **kw)
    ours_kw = {("max_duration_s" if k == "max_gen_duration_s" else k): v for k, v in kw.items()}
    ours = pipe.text_to_semantic(TEXT, voice="v2/en_speaker_1", generator=11, **ours_kw)
    np.testing.assert_array_equal(ours, ref)
    assert len(ours) > 0


@pytest.mark.parametrize("kw", [dict(top_k=10), dict(top_p=0.8), dict(max_coarse_history=60),
                                dict(max_coarse_history=300, sliding_window_len=100), dict(temp=0.3, top_k=3)])
@pytest.mark.parametrize("voice", [None, "v2/fr_speaker_2"])
def test_coarse_stage_variations(pipe, suno, preset_path, kw, voice):
    rng = np.random.default_rng(5)
    semantic = rng.integers(0, 10_000, size=200)
    hist = None if voice is None else str(preset_path(voice))
    torch.manual_seed(3)
    ref = suno.generate_coarse(semantic, history_prompt=hist, silent=True, use_kv_caching=True, **kw)
    ours = pipe.semantic_to_coarse(semantic, voice=voice, generator=3, **kw)
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("n_frames", [5, 600, 1500])
@pytest.mark.parametrize("voice", [None, "v2/it_speaker_4"])
@pytest.mark.parametrize("temp", [0.5, None])
def test_fine_stage(pipe, suno, preset_path, n_frames, voice, temp):
    coarse = np.random.default_rng(n_frames).integers(0, 1024, size=(2, n_frames))
    hist = None if voice is None else str(preset_path(voice))
    torch.manual_seed(9)
    ref = suno.generate_fine(coarse, history_prompt=hist, temp=temp, silent=True)
    ours = pipe.coarse_to_fine(coarse, voice=voice, temp=temp, generator=9)
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(ours[:2], coarse)


def test_stages_chained_equal_generate(pipe):
    g = torch.Generator().manual_seed(21)
    sem = pipe.text_to_semantic(TEXT, voice="announcer", generator=g)
    coarse = pipe.semantic_to_coarse(sem, voice="announcer", generator=g)
    fine = pipe.coarse_to_fine(coarse, voice="announcer", generator=g)
    out = pipe.generate(TEXT, voice="announcer", seed=21)
    np.testing.assert_array_equal(out.fine_tokens, fine)
    np.testing.assert_array_equal(pipe.decode(fine), out.audio)
