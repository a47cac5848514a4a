"""The one sampler every stage uses: nucleus and top-k filtering, temperature, one multinomial draw.

The order of operations and the width of each distribution follow the reference exactly, because
`torch.multinomial` draws a number of values from the generator that depends on that width: sampling over
the same widths in the same order from one generator is what makes our tokens equal the reference's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from .settings import SamplingParams


def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Mask logits outside the nucleus (`top_p`, on the untempered distribution) and outside the top `top_k`.

    logits: (..., V) float. Returns a tensor of the same shape with excluded entries set to -inf (`logits` itself
    when nothing is filtered).
    """
    if top_p is not None:
        rows = logits.detach().to("cpu", torch.float32).numpy().reshape(-1, logits.shape[-1])
        outside = np.zeros(rows.shape, dtype=bool)
        for r, row in enumerate(rows):
            outside[r, outside_nucleus(row, top_p)] = True
        outside = torch.from_numpy(outside.reshape(logits.shape)).to(logits.device)
        logits = logits.masked_fill(outside, float("-inf"))
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits


def outside_nucleus(logits: np.ndarray, top_p: float) -> np.ndarray:
    """Indices of the float32 logits (V,) outside the nucleus: the fewest most likely entries whose probabilities
    sum past top_p are kept (the most likely always). Computed as the reference does, in numpy (argsort reversed,
    scipy's softmax, np.cumsum): a sum in torch rounds differently, and where the cumulative probability comes
    within rounding of top_p the nucleus would differ by its boundary entry, and so would the tokens."""
    from scipy.special import softmax

    order = np.argsort(logits)[::-1]
    remove = np.cumsum(softmax(logits[order])) > top_p
    remove[1:] = remove[:-1].copy()  # shifted, so the entry that crosses top_p is kept
    remove[0] = False
    return order[remove]


def sample(
    logits: torch.Tensor, params: SamplingParams | None, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one token per row.

    logits: (V,) or (R, V). params None means greedy (argmax, no randomness consumed).
    Returns (tokens, probs): tokens (1,) or (R,) int64 indices into the last axis; probs the distribution
    sampled from (same shape as logits; the plain softmax of the logits when greedy).
    """
    logits = logits.float()
    if params is None:
        return logits.argmax(dim=-1, keepdim=logits.dim() == 1), torch.softmax(logits, dim=-1)
    logits = filter_logits(logits, params.top_k, params.top_p)
    probs = torch.softmax(logits / params.temperature, dim=-1)
    if not torch.isfinite(probs).all():  # a temperature so small that logits / temperature overflowed
        probs = tempered_probs(logits, params.temperature)
    tokens = torch.multinomial(probs, num_samples=1, generator=generator)
    return (tokens if probs.dim() == 1 else tokens[:, 0]), probs


def tempered_probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / temperature) for temperatures so small that the plain division overflows: the logits are
    shifted so that the largest is 0 first (then nothing overflows), and where even that underflows (a temperature
    below float32's range) the distribution is the argmax's (ties share it). The sampler uses this only when the
    plain form is not finite, so every other draw stays the reference's to the bit."""
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    probs = torch.softmax(shifted / temperature, dim=-1)
    if torch.isfinite(probs).all():
        return probs
    top = (shifted == 0).float()
    return top / top.sum(dim=-1, keepdim=True)


@dataclass(frozen=True)
class StageGenerators:
    """The random generators one take's stages draw from.

    Exact mode (fp32): one generator for all three, drawn in the reference's order (semantic, coarse, fine), which
    is what makes its tokens equal the reference's; the stages must then run one after the other. Other precisions
    (int8, bf16): one generator per stage, so a take does not depend on how its stages are interleaved (streaming
    starts coarse windows while the semantic stage is still drawing).
    """

    semantic: torch.Generator
    coarse: torch.Generator
    fine: torch.Generator

    @property
    def split(self) -> bool:
        """Whether each stage has its own generator."""
        return self.semantic is not self.coarse


def check_generator(generator: torch.Generator, device: torch.device) -> torch.Generator:
    """The generator, if it can draw on `device`: torch samples on the device the logits are on, with a generator of
    that device type (a CPU generator on a CUDA pipeline would fail deep inside the first sampling step)."""
    if generator.device.type != device.type:
        raise ValueError(f"the generator is on {generator.device.type} but this pipeline samples on {device.type}: "
                         f"pass a seed (an int), or a generator from pipe.make_generator(seed) or "
                         f"torch.Generator(device={str(device)!r})")
    return generator


def stage_generators(seed: int, device: torch.device, split: bool) -> StageGenerators:
    """The generators of the take seeded by `seed` (0..settings.MAX_SEED): `split` gives each stage its own, seeded
    by a hash of (seed, stage) so that no stage shares a generator with another take's (take i uses seed + i)."""
    if not split:
        gen = torch.Generator(device=device).manual_seed(seed)
        return StageGenerators(gen, gen, gen)
    gens = []
    for stage in ("semantic", "coarse", "fine"):
        digest = hashlib.blake2b(f"bark-studio:{seed}:{stage}".encode(), digest_size=8).digest()
        gens.append(torch.Generator(device=device).manual_seed(int.from_bytes(digest, "little")))
    return StageGenerators(*gens)
