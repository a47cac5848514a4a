"""How far fast mode (int8) is from exact mode (fp32) on the same weights: a proxy, not a listening test.

Under teacher forcing (both models see the same token sequence), per stage: the mean KL divergence
KL(exact || fast) of the next-token distributions over the entries the stage samples, and how often both agree
on the most likely token.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import constants as C
from ..generation.coarse import cached_prefix, coarse_window_input, flatten_coarse
from ..generation.engine import Engine
from ..generation.semantic import semantic_input
from ..generation.settings import CoarseSettings
from ..models.cache import KVCache


def _compare(p_logits: torch.Tensor, q_logits: torch.Tensor) -> tuple[float, float]:
    p, q = torch.log_softmax(p_logits.float(), -1), torch.log_softmax(q_logits.float(), -1)
    kl = (p.exp() * (p - q)).sum(-1).mean().item()
    top1 = (p.argmax(-1) == q.argmax(-1)).float().mean().item()
    return kl, top1


def _on(engine: Engine, name: str, fn):
    """fn(model) for one of the engine's models, run as its stage runs (e.g. under bf16 autocast), as fp32."""
    model = getattr(engine, name)
    with engine.runtime.using(model):
        return fn(model).float()


@torch.inference_mode()
def stage_fidelity(exact: Engine, fast: Engine, text_ids: np.ndarray, semantic: np.ndarray, coarse: np.ndarray,
                   fine: np.ndarray) -> dict[str, dict[str, float]]:
    """exact / fast: the engines of two pipelines on the same weights (or the pipelines themselves: they have the
    same models and runtime); the tokens: one exact-mode generation (no voice).

    Returns {"semantic"|"coarse"|"fine": {"kl": nats, "top1": agreement in 0..1}}.
    """
    out = {}
    idx = torch.from_numpy(np.hstack([semantic_input(text_ids, None), semantic]))[None]
    vocab = slice(0, C.SEMANTIC_PAD_TOKEN + 1)
    logits = [_on(p, "text_model", lambda m: m(embeds=m.merged_context_embeddings(idx), all_logits=True,
                                               vocab=vocab)[0, 256:]) for p in (exact, fast)]
    out["semantic"] = dict(zip(("kl", "top1"), _compare(*logits), strict=True))
    window = coarse_window_input(semantic, np.zeros(0, np.int64), 0, CoarseSettings())
    seq = np.hstack([window, flatten_coarse(coarse)[: C.CONTEXT_WINDOW - len(window)]])
    cb0 = slice(C.SEMANTIC_VOCAB_SIZE, C.SEMANTIC_VOCAB_SIZE + C.CODEBOOK_SIZE)
    logits = [_on(p, "coarse_model", lambda m: m(torch.from_numpy(seq)[None], all_logits=True,
                                                 vocab=cb0)[0, len(window) - 1 :: 2]) for p in (exact, fast)]
    out["coarse"] = dict(zip(("kl", "top1"), _compare(*logits), strict=True))
    codes = torch.from_numpy(np.ascontiguousarray(fine[:, : C.FINE_WINDOW].T))[None]
    logits = [_on(p, "fine_model", lambda m: torch.cat([m(cb, codes, vocab=slice(0, C.CODEBOOK_SIZE))[0]
                                                        for cb in range(2, 8)])) for p in (exact, fast)]
    out["fine"] = dict(zip(("kl", "top1"), _compare(*logits), strict=True))
    return out


@torch.inference_mode()
def coarse_logits_windowed(model, semantic: np.ndarray, coarse: np.ndarray, settings: CoarseSettings) -> torch.Tensor:
    """Teacher-forced coarse logits (n_steps, 1024) of every step of `coarse` (2, T), no voice, under the window
    schedule of `settings`: what the stage would sample from at each step had it drawn these tokens."""
    flat = flatten_coarse(coarse)
    n_steps, window, out = len(flat), settings.sliding_window_len, []
    for start in range(0, n_steps, window):
        semantic_idx = int(round(start / C.SEMANTIC_TO_COARSE_RATIO))
        x_in = coarse_window_input(semantic.astype(np.int64), flat[:start], semantic_idx, settings)
        n = min(window, n_steps - start)
        seq = torch.from_numpy(np.hstack([x_in, flat[start : start + n - 1]]))[None]
        both = slice(C.SEMANTIC_VOCAB_SIZE, C.SEMANTIC_VOCAB_SIZE + 2 * C.CODEBOOK_SIZE)
        logits = model(seq, all_logits=True, vocab=both)[0, len(x_in) - 1 :]
        for i in range(n):  # even steps sample codebook 0's entries, odd steps codebook 1's
            cb = (start + i) % C.N_COARSE_CODEBOOKS
            out.append(logits[i, cb * C.CODEBOOK_SIZE : (cb + 1) * C.CODEBOOK_SIZE])
    return torch.stack(out)


def coarse_window_fidelity(exact_model, model, semantic: np.ndarray, coarse: np.ndarray,
                           settings: CoarseSettings) -> dict[str, float]:
    """KL(exact windows || `settings` windows on `model`) and top-1 agreement over every coarse step."""
    reference = coarse_logits_windowed(exact_model, semantic, coarse, CoarseSettings())
    other = coarse_logits_windowed(model, semantic, coarse, settings)
    return dict(zip(("kl", "top1"), _compare(reference, other), strict=True))


@torch.inference_mode()
def coarse_logits_decoded(model, semantic: np.ndarray, coarse: np.ndarray, settings: CoarseSettings,
                          reuse_prefix: bool = False) -> torch.Tensor:
    """Teacher-forced coarse logits (n_steps, 1024) of every step of `coarse` (2, T), no voice, computed the way
    the stage computes them: each window prefilled (or, with reuse_prefix, continued from the cache when its input
    extends the previous one), then one token per step through the KV cache. Unlike `coarse_logits_windowed`, int8
    activations are quantized per step here, as in decoding."""
    flat = flatten_coarse(coarse)
    window, out = settings.sliding_window_len, []
    device = model.transformer.wpe.weight.device
    cache = KVCache(model.config, 1, C.CONTEXT_WINDOW, device)
    both = slice(C.SEMANTIC_VOCAB_SIZE, C.SEMANTIC_VOCAB_SIZE + 2 * C.CODEBOOK_SIZE)
    cached = None
    for start in range(0, len(flat), window):
        x_in = coarse_window_input(semantic.astype(np.int64), flat[:start],
                                   int(round(start / C.SEMANTIC_TO_COARSE_RATIO)), settings)
        begin = cached_prefix(cached, x_in) if reuse_prefix else 0
        logits = model(torch.from_numpy(x_in[begin:])[None].to(device), cache=cache, start=begin, vocab=both)[0]
        n = min(window, len(flat) - start)
        for i in range(n):
            cb = (start + i) % C.N_COARSE_CODEBOOKS
            out.append(logits[cb * C.CODEBOOK_SIZE : (cb + 1) * C.CODEBOOK_SIZE])
            if i + 1 < n:
                token = torch.tensor([[flat[start + i]]], device=device)
                logits = model(token, cache=cache, start=len(x_in) + i, vocab=both)[0]
        cached = np.hstack([x_in, flat[start : start + n - 1]])
    return torch.stack(out)


def coarse_decode_fidelity(exact_model, model, semantic: np.ndarray, coarse: np.ndarray,
                           reuse_prefix: bool) -> dict[str, float]:
    """KL(exact model, reference windows || `model`, decoded as the stage decodes it) and top-1 agreement over
    every coarse step: int8 noise per step, plus what reusing the cache changes (rounding only)."""
    settings = CoarseSettings()
    reference = coarse_logits_decoded(exact_model, semantic, coarse, settings)
    other = coarse_logits_decoded(model, semantic, coarse, settings, reuse_prefix)
    return dict(zip(("kl", "top1"), _compare(reference, other), strict=True))
