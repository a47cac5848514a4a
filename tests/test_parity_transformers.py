"""Parity with transformers' BarkModel on the same weights (transformers layout), and loading that layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bark_core import BarkPipeline
from bark_core.generation.semantic import semantic_input
from bark_core.testing.random_weights import write_transformers_folder

pytestmark = pytest.mark.parity


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory, tiny_models, model_dir):
    return write_transformers_folder(tmp_path_factory.mktemp("hf") / "bark", tiny_models, model_dir / "codec")


@pytest.fixture(scope="module")
def hf_bark(hf_dir):
    from transformers import BarkModel

    return BarkModel.from_pretrained(str(hf_dir)).eval()


def test_folder_is_a_real_transformers_checkpoint(hf_dir):
    assert (hf_dir / "config.json").exists() and (hf_dir / "model.safetensors").exists()


@torch.inference_mode()
def test_semantic_logits_teacher_forced(hf_bark, tiny_models):
    ours = tiny_models["text"]
    rng = np.random.default_rng(0)
    idx = torch.from_numpy(semantic_input(rng.integers(10_048, 10_300, size=40), rng.integers(0, 10_000, 300)))[None]
    generated = torch.from_numpy(rng.integers(0, 10_000, size=(1, 120)))
    embeds = torch.cat([ours.merged_context_embeddings(idx), ours.transformer.wte(generated)], dim=1)
    hf_embeds = torch.cat([
        hf_bark.semantic.input_embeds_layer(idx[:, :256]) + hf_bark.semantic.input_embeds_layer(idx[:, 256:512]),
        hf_bark.semantic.input_embeds_layer(torch.cat([idx[:, 512:], generated], dim=1))], dim=1)
    ref = hf_bark.semantic(inputs_embeds=hf_embeds, use_cache=False).logits
    got = ours(embeds=embeds, all_logits=True)
    assert got.shape == ref.shape == (1, 257 + 120, 10_048)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)


@torch.inference_mode()
def test_coarse_logits_teacher_forced(hf_bark, tiny_models):
    ids = torch.from_numpy(np.random.default_rng(1).integers(0, 12_096, size=(1, 900)))
    ref = hf_bark.coarse_acoustics(input_ids=ids, use_cache=False).logits
    got = tiny_models["coarse"](ids, all_logits=True)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)


@torch.inference_mode()
@pytest.mark.parametrize("codebook", [1, 4, 7])
def test_fine_logits(hf_bark, tiny_models, codebook):
    codes = torch.from_numpy(np.random.default_rng(codebook).integers(0, 1025, size=(1, 1024, 8)))
    ref = hf_bark.fine_acoustics(codebook_idx=codebook, input_ids=codes).logits
    got = tiny_models["fine"](codebook, codes)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)


@torch.inference_mode()
def test_cached_decoding_matches_full_forward(tiny_models):
    """The preallocated KV cache gives the same logits as recomputing the whole prefix."""
    from bark_core.models.model import KVCache

    model = tiny_models["coarse"]
    ids = torch.from_numpy(np.random.default_rng(2).integers(0, 12_096, size=(1, 300)))
    full = model(ids, all_logits=True)
    cache = KVCache(model.config, 1, 300, "cpu")
    step_logits = [model(ids[:, :250], cache=cache)]
    for t in range(250, 300):
        step_logits.append(model(ids[:, t : t + 1], cache=cache, start=t))
    torch.testing.assert_close(torch.stack(step_logits[1:], dim=1), full[:, 250:], atol=1e-5, rtol=0)
    torch.testing.assert_close(step_logits[0], full[:, 249], atol=1e-5, rtol=0)


def test_pipeline_from_transformers_folder_equals_suno_folder(hf_dir, pipe):
    hf_pipe = BarkPipeline.from_pretrained(str(hf_dir), device="cpu", voices=pipe.presets.source)
    for ours, theirs in [(hf_pipe.text_model, pipe.text_model), (hf_pipe.coarse_model, pipe.coarse_model),
                         (hf_pipe.fine_model, pipe.fine_model), (hf_pipe.codec, pipe.codec)]:
        a, b = ours.state_dict(), theirs.state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
    x = hf_pipe.generate("Hello world", seed=5, max_duration_s=1.0)
    y = pipe.generate("Hello world", seed=5, max_duration_s=1.0)
    np.testing.assert_array_equal(x.fine_tokens, y.fine_tokens)
    np.testing.assert_array_equal(x.audio, y.audio)
