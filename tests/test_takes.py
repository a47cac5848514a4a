"""Takes: k variations decoded as one batch; in exact mode take i is bitwise the single generation of seed s+i."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from bark_core import BarkPipeline
from bark_core.generation.longform import LongFormSettings
from bark_core.models.model import KVCache
from bark_core.studio.bundle import read_bundle, reproduce, write_bundle

TEXT = "Hello world"


@pytest.fixture(scope="module")
def eos_pipe(pipe) -> BarkPipeline:
    """The tiny weights with a text model that often says end-of-speech, so takes end at different steps."""
    text = copy.deepcopy(pipe.text_model)
    with torch.no_grad():
        w = text.lm_head.weight
        w[10_000] = 4.0 * w[:10_000].mean(0) + 2.0 * w[17]
    models = dict(text=text, coarse=pipe.coarse_model, fine=pipe.fine_model)
    return BarkPipeline(models, pipe.tokenizer, pipe.codec, device="cpu", presets=pipe.presets, name=pipe.name)


def same_tokens(a, b) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("semantic_tokens", "coarse_tokens",
                                                                        "fine_tokens"))


@pytest.mark.parametrize("voice", [None, "v2/en_speaker_6"])
def test_exact_takes_equal_single_generations(eos_pipe, voice):
    if voice:
        from .conftest import need_prompts

        need_prompts()
    takes = eos_pipe.generate_takes(TEXT, n_takes=4, voice=voice, seed=11, min_eos_p=0.2, max_duration_s=5.0)
    lengths = [len(t.semantic_tokens) for t in takes]
    assert len(set(lengths)) > 1, f"the takes should end at different steps here: {lengths}"
    for i, take in enumerate(takes):
        single = eos_pipe.generate(TEXT, voice=voice, seed=11 + i, min_eos_p=0.2, max_duration_s=5.0)
        assert take.seed == 11 + i and same_tokens(take, single), f"take {i} differs from seed {11 + i} alone"
        np.testing.assert_array_equal(take.audio, single.audio)
        assert take.settings["takes"] == 4 and take.settings["take"] == i


def test_rowwise_rows_are_bitwise_single_rows(pipe):
    model = pipe.coarse_model
    x = torch.randint(10_000, 12_000, (3, 40))
    cache = KVCache(model.config, 3, 41, "cpu")
    batched = model(x, cache=cache, rowwise=True)
    step = model(torch.tensor([[10_001], [10_002], [10_003]]), cache=cache, start=40, rowwise=True)
    for r in range(3):
        one = KVCache(model.config, 1, 41, "cpu")
        assert torch.equal(batched[r], model(x[r : r + 1], cache=one)[0])
        assert torch.equal(step[r], model(torch.tensor([[10_001 + r]]), cache=one, start=40)[0])


def test_kv_cache_keeps_rows_in_order(pipe):
    cache = KVCache(pipe.coarse_model.config, 3, 8, "cpu")
    shape = (3, pipe.coarse_model.config.n_head, 8, pipe.coarse_model.config.n_embd // pipe.coarse_model.config.n_head)
    k = torch.arange(3.0)[:, None, None, None].expand(shape).contiguous()
    cache.write(0, 0, k, k)
    cache.keep([2, 0])
    kept, _ = cache.write(1, 0, k[:2], k[:2])
    assert cache.k[0, :, 0, 0, 0].tolist() == [2.0, 0.0] and kept.shape[0] == 2


def test_fast_takes_run_batched_and_reproduce_from_bundle(fast_pipe, tmp_path):
    takes = fast_pipe.generate_takes(TEXT, n_takes=3, seed=2, max_duration_s=0.5)
    assert [t.seed for t in takes] == [2, 3, 4]
    assert len({t.semantic_tokens.tobytes() for t in takes}) == 3  # three different variations
    path = write_bundle(tmp_path / "take.zip", fast_pipe, takes[1], None, "en", LongFormSettings())
    again, diffs, same = reproduce(fast_pipe, read_bundle(path))
    assert same and not diffs and again.seed == 3


@pytest.mark.parametrize("n", [0, 9, 2.5, True, "2"])
def test_n_takes_is_checked(pipe, n):
    with pytest.raises(ValueError, match="n_takes must be a whole number from 1 to 8"):
        pipe.generate_takes(TEXT, n_takes=n, seed=1)


def test_a_batch_seed_too_high_for_its_takes_names_the_highest_allowed(pipe):
    from bark_core.generation.settings import MAX_SEED

    with pytest.raises(ValueError, match=rf"with 3 takes the seed must be at most {MAX_SEED - 2} \(the takes use "
                                         r"seeds s to s \+ 2\); got") as e:
        pipe.generate_takes(TEXT, n_takes=3, seed=MAX_SEED - 1)
    assert "None" not in str(e.value)  # a page has no None to give
