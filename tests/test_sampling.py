"""The sampler's filters as the reference computes them (suno's generation.py, semantic and coarse stages).

The nucleus is the subtle one: its boundary entry is decided by a cumulative sum compared with top_p, and a sum
in another library or order rounds differently. `reference_top_p` is the reference's code, step for step.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import softmax

from bark_core.generation.sampling import filter_logits


def reference_top_p(logits: np.ndarray, top_p: float) -> np.ndarray:
    """suno's generate_text_semantic / generate_coarse top-p block on float32 logits (V,)."""
    logits = logits.copy()
    sorted_indices = np.argsort(logits)[::-1]
    cumulative_probs = np.cumsum(softmax(logits[sorted_indices]))
    sorted_indices_to_remove = cumulative_probs > top_p
    sorted_indices_to_remove[1:] = sorted_indices_to_remove[:-1].copy()
    sorted_indices_to_remove[0] = False
    logits[sorted_indices[sorted_indices_to_remove]] = -np.inf
    return logits


def torch_top_p(logits: np.ndarray, top_p: float) -> np.ndarray:
    """The same nucleus summed in torch: a plausible implementation that rounds differently at the boundary."""
    x = torch.from_numpy(logits)
    sorted_logits, order = torch.sort(x, descending=True)
    remove = torch.softmax(sorted_logits, -1).cumsum(-1) > top_p
    remove[1:] = remove[:-1].clone()
    remove[0] = False
    return x.masked_fill(torch.zeros_like(remove).scatter(-1, order, remove), float("-inf")).numpy()


def boundary_cases(n_rows: int = 40, per_row: int = 5, seed: int = 0):
    """(logits, top_p) with top_p exactly a cumulative probability of the reference's sum: the nucleus boundary."""
    rng = np.random.default_rng(seed)
    for _ in range(n_rows):
        logits = (rng.standard_normal(10_001) * 3).astype(np.float32)
        cumulative = np.cumsum(softmax(logits[np.argsort(logits)[::-1]]))
        for k in rng.integers(1, 3000, per_row):
            yield logits, float(cumulative[k])


def test_nucleus_boundary_is_the_references():
    cases = list(boundary_cases())
    # The cases are hard: a torch sum gets many of their boundaries wrong (so this test can fail).
    assert sum(not np.array_equal(reference_top_p(x, p), torch_top_p(x, p)) for x, p in cases) > len(cases) // 4
    for x, p in cases:
        np.testing.assert_array_equal(filter_logits(torch.from_numpy(x), None, p).numpy(), reference_top_p(x, p))


def test_nucleus_of_a_batch_is_each_rows():
    (a, p), (b, _) = list(boundary_cases(n_rows=2, per_row=1, seed=1))
    batch = filter_logits(torch.from_numpy(np.stack([a, b])), None, p).numpy()
    np.testing.assert_array_equal(batch, np.stack([reference_top_p(a, p), reference_top_p(b, p)]))


@pytest.mark.parametrize("top_k", [1, 5, 10_001, 20_000])
def test_top_k_keeps_the_k_largest_and_ties(top_k):
    logits = torch.tensor(np.random.default_rng(2).standard_normal(10_001), dtype=torch.float32)
    logits[:3] = 9.0  # a three-way tie at the top: all kept even with top_k=1, as in the reference
    kept = torch.isfinite(filter_logits(logits, top_k, None))
    assert int(kept.sum()) == max(3, min(top_k, 10_001))
    assert kept[:3].all()
