"""Logits parity with suno's reference at every sampling step, on parity fixtures that listen to their input.

Token equality (tests/test_parity_suno.py) catches a slip only when some draw happens to flip. Here every step of
the semantic, coarse and fine stages is compared: the entries sampled (semantic: 10_000 tokens + the EOS logit;
coarse: the 1024 of the current codebook; fine: 1024 per position filled), what the softmax gets after top-k /
top-p and temperature, the probabilities and the draws, with torch.equal (see tests/logits_parity.py). The
models are the tiny fixture's with attention scaled up (`listening_*` fixtures), so a slip in how any input is built
changes logits; the first tests below assert that property (tests/test_planted_slips.py, that slips are caught).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bark_core import constants as C
from bark_core.generation.text import encode_text
from bark_core.testing.random_weights import random_models

from .conftest import LISTENING_WEIGHT_SCALE, need_prompts
from .logits_parity import core_steps, mismatches, reference_steps

pytestmark = pytest.mark.parity

TEXT = "Hello! [laughs] I'm Bark."
OTHER_TEXT = "Bonjour ciao, this is a long test sentence of the world."
WINDOW = C.SLIDING_WINDOW_LEN


def preset(name: str | None) -> str | None:
    return None if name is None else str(need_prompts().joinpath(*name.split("/")).with_suffix(".npz"))


def kept(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of positions (over the shorter) where two token sequences agree."""
    n = min(a.shape[-1], b.shape[-1])
    return float(np.mean(a[..., :n] == b[..., :n]))


# -- the fixtures listen to their input ----------------------------------------------------------------------------

def test_listening_models_are_the_tiny_models_with_attention_scaled():
    base, scaled = random_models("tiny", seed=0), random_models("tiny", seed=0, weight_scale=LISTENING_WEIGHT_SCALE)
    for kind in base:
        theirs = dict(scaled[kind].named_parameters())
        for name, p in base[kind].named_parameters():
            expected = p * LISTENING_WEIGHT_SCALE if name.endswith("attn.c_attn.weight") else p
            assert torch.equal(theirs[name], expected), (kind, name)
    with pytest.raises(ValueError, match="weight_scale"):
        random_models("tiny", weight_scale=0)


# Measured (seeds 0-2, 150 semantic tokens): on `tiny_models` another text keeps 94-100 % of the semantic tokens
# and another voice ~60 %; on the listening models another text keeps 1-10 % (with a voice 3-6 %), another voice
# 2-6 %, no voice vs a voice 2-9 %; another seed with the same input ~0 %. The thresholds leave a wide margin.
def test_semantic_tokens_depend_on_text_and_voice(listening_pipe):
    need_prompts()
    kw = dict(generator=0, max_duration_s=2.0)
    plain, other = (listening_pipe.text_to_semantic(t, **kw) for t in (TEXT, OTHER_TEXT))
    voiced, voiced_other, other_voice = (listening_pipe.text_to_semantic(t, voice=v, **kw) for t, v in
                                         [(TEXT, "v2/en_speaker_6"), (OTHER_TEXT, "v2/en_speaker_6"),
                                          (TEXT, "v2/de_speaker_3")])
    assert min(map(len, (plain, other, voiced, voiced_other, other_voice))) == 100
    assert kept(plain, other) < 0.25
    assert kept(voiced, voiced_other) < 0.25
    assert kept(voiced, other_voice) < 0.25
    assert kept(plain, voiced) < 0.25


# Measured (seeds 0-2, 100 random semantic tokens / 300 random coarse frames): another semantic input keeps 4-5 %
# of the coarse codes (the same input with another seed ~1 %; on `tiny_models` 71-87 %); another coarse input keeps
# ~2 % of the fine codes the fine model draws (another seed ~10 %; `tiny_models` ~6 %: its fine model already
# listens, its coarse model barely does).
def test_coarse_depends_on_semantic_and_fine_on_coarse(listening_pipe):
    rng = np.random.default_rng(0)
    sem_a, sem_b = rng.integers(0, C.SEMANTIC_VOCAB_SIZE, size=(2, 60))
    coarse_a, coarse_b = (listening_pipe.semantic_to_coarse(s, generator=0) for s in (sem_a, sem_b))
    assert coarse_a.shape == (2, 90) and kept(coarse_a, coarse_b) < 0.2
    codes_a, codes_b = rng.integers(0, C.CODEBOOK_SIZE, size=(2, 2, 300))
    fine_a, fine_b = (listening_pipe.coarse_to_fine(c, generator=0) for c in (codes_a, codes_b))
    assert kept(fine_a[2:], fine_b[2:]) < 0.2


def test_listening_models_sample_sanely(listening_pipe):
    """Finite logits and spread-out distributions (that EOS can end a take: test_semantic_stage_ends_on_eos...)."""
    with core_steps() as steps:
        out = listening_pipe.generate(TEXT, voice="v2/en_speaker_6", seed=0, max_duration_s=1.0)
    assert out.coarse_tokens.shape == (2, 75) and np.isfinite(out.audio).all()
    for stage in ("semantic", "coarse", "fine"):
        assert steps[stage] and all(torch.isfinite(s.logits).all() for s in steps[stage]), stage
        top = np.median([float(s.probs.max(dim=-1).values.mean()) for s in steps[stage]])
        assert 0.01 < top < 0.9, (stage, top)  # neither uniform noise nor (nearly) greedy


# -- the reference tokenizes with a tokenizer it loaded itself ------------------------------------------------------

@pytest.mark.parametrize("text", [TEXT, "  Hola   world, this is  a test.\n", "ja nein 你好！ [music] ♪"])
def test_reference_loads_its_own_tokenizer(suno, pipe, text):
    ref_tokenizer = suno.models["text"]["tokenizer"]
    assert ref_tokenizer is not pipe.tokenizer
    ref_ids = np.array(suno._tokenize(ref_tokenizer, suno._normalize_whitespace(text)))
    np.testing.assert_array_equal(ref_ids + suno.TEXT_ENCODING_OFFSET, encode_text(pipe.tokenizer, text))
    # The words are in the fixture's vocabulary: a tokenizer that ignored it would encode them all as [UNK].
    assert ref_tokenizer.unk_token_id not in ref_ids and len(set(ref_ids.tolist())) > 3


# -- every step, bitwise ---------------------------------------------------------------------------------------------

def reference_cascade(gen, text, voice, seed, *, max_duration_s, min_eos_p=C.DEFAULT_MIN_EOS_P, top_k=None,
                      top_p=None):
    """The reference's three token stages chained on one global generator, as `bark.api.generate_audio` runs them
    (default temperatures), recorded step by step."""
    hist = preset(voice)
    with reference_steps(gen) as steps:
        torch.manual_seed(seed)
        semantic = gen.generate_text_semantic(text, history_prompt=hist, top_k=top_k, top_p=top_p, silent=True,
                                              min_eos_p=min_eos_p, max_gen_duration_s=max_duration_s,
                                              use_kv_caching=True)
        coarse = gen.generate_coarse(semantic, history_prompt=hist, top_k=top_k, top_p=top_p, silent=True,
                                     use_kv_caching=True)
        fine = gen.generate_fine(coarse, history_prompt=hist, silent=True)
    return steps, (semantic, coarse, fine)


@pytest.mark.parametrize("voice,seed", [(None, 5), ("announcer", 6)])
def test_cascade_logits_match_at_every_step(listening_pipe, suno_listening, voice, seed):
    """`generate` (semantic -> coarse -> fine on one generator): 50 semantic steps, 3 coarse windows, one fine
    window; announcer's prompts are longer than each stage's history (256 semantic, 630 coarse, 512 fine)."""
    ref, (semantic, coarse, fine) = reference_cascade(suno_listening, TEXT, voice, seed, max_duration_s=1.0)
    with core_steps() as core:
        out = listening_pipe.generate(TEXT, voice=voice, seed=seed, max_duration_s=1.0)
    assert mismatches(core, ref) == []
    assert len(core["semantic"]) == 50 and len(core["coarse"]) > 2 * WINDOW and len(core["fine"]) == 6
    np.testing.assert_array_equal(out.semantic_tokens, semantic)
    np.testing.assert_array_equal(out.coarse_tokens, coarse)
    np.testing.assert_array_equal(out.fine_tokens, fine)


@pytest.mark.parametrize("voice,n_frames,n_windows,temp", [(None, 1600, 3, 0.5), ("announcer", 700, 2, 1.0),
                                                           ("v2/en_speaker_6", 1100, 3, 0.5)])
def test_fine_logits_match_across_windows(listening_pipe, suno_listening, voice, n_frames, n_windows, temp):
    """Windows of 1024 frames (history included: 512 of announcer's 750, all of en_speaker_6's 464) stepping by
    512, the last one pulled back to end with the input."""
    coarse = np.random.default_rng(n_frames).integers(0, C.CODEBOOK_SIZE, size=(2, n_frames))
    with reference_steps(suno_listening) as ref:
        torch.manual_seed(9)
        expected = suno_listening.generate_fine(coarse, history_prompt=preset(voice), temp=temp, silent=True)
    with core_steps() as core:
        fine = listening_pipe.coarse_to_fine(coarse, voice=voice, temp=temp, generator=9)
    assert mismatches(core, ref) == []
    assert len(core["fine"]) == n_windows * (C.N_FINE_CODEBOOKS - C.N_COARSE_CODEBOOKS)
    np.testing.assert_array_equal(fine, expected)


@pytest.mark.parametrize("voice,kw", [(None, dict(top_k=50)), ("v2/en_speaker_1", dict(top_p=0.8)),
                                     ("v2/en_speaker_1", dict(top_k=20, top_p=0.95))])
def test_filtered_sampling_logits_match(listening_pipe, suno_listening, voice, kw):
    """top-k and top-p in the semantic and coarse stages (the nucleus's boundary on hard cases:
    tests/test_sampling.py)."""
    ref, _ = reference_cascade(suno_listening, TEXT, voice, 3, max_duration_s=0.6, **kw)
    with core_steps() as core:
        listening_pipe.generate(TEXT, voice=voice, seed=3, max_duration_s=0.6, **kw)
    assert mismatches(core, ref) == []
    filtered = [s for stage in ("semantic", "coarse") for s in core[stage]]
    assert all(torch.isinf(s.scaled).any() for s in filtered)  # the filters did cut


def test_semantic_stage_ends_on_eos_as_the_reference(listening_pipe, suno_listening):
    """A take that ends on min_eos_p (after 24 tokens; the EOS probability rarely passes 2 % in these models, as in
    the tiny fixture), not on the duration cap: same last step on both sides."""
    hist = preset("v2/en_speaker_6")
    with reference_steps(suno_listening) as ref:
        torch.manual_seed(1)
        expected = suno_listening.generate_text_semantic(TEXT, history_prompt=hist, min_eos_p=0.01, silent=True,
                                                         use_kv_caching=True)
    with core_steps() as core:
        semantic = listening_pipe.text_to_semantic(TEXT, voice="v2/en_speaker_6", min_eos_p=0.01, generator=1)
    assert mismatches(core, ref) == []
    assert len(semantic) < 100 and float(core["semantic"][-1].probs[-1]) >= 0.01
    np.testing.assert_array_equal(semantic, expected)


@pytest.mark.parametrize("voice", [None, "v2/en_speaker_6"])
def test_semantic_logits_bitwise(listening_pipe, suno_listening, voice):
    """The semantic stage's 10_001 entries, sliced from the whole head as the reference does (a product over
    those weight rows alone rounds an entry differently on CPUs' matrix kernels)."""
    with reference_steps(suno_listening) as ref:
        torch.manual_seed(2)
        suno_listening.generate_text_semantic(TEXT, history_prompt=preset(voice), max_gen_duration_s=0.5,
                                              silent=True, use_kv_caching=True)
    with core_steps() as core:
        listening_pipe.text_to_semantic(TEXT, voice=voice, max_duration_s=0.5, generator=2)
    assert len(core["semantic"]) > 20
    assert mismatches(core, ref) == []
