"""The two autoregressive stages: text -> semantic tokens, semantic -> coarse codes.

Each is a plain function of (model, tokens in, settings, generator) -> tokens out, reproducing the
reference's windows, trimming and sampling order exactly (see `constants.py` for every number).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from . import constants as C
from .config import CoarseSettings, SemanticSettings
from .model import GPT, KVCache
from .sampling import sample

Progress = Callable[[str, int, int], None]


class GenerationCancelled(RuntimeError):
    """Raised by a progress callback to stop a generation at its next step (nothing is returned)."""


def report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def semantic_input(text_ids: np.ndarray, history: np.ndarray | None) -> np.ndarray:
    """Text model input (513,): 256 text ids (offset, padded), 256 semantic history (last 256, padded), infer."""
    text = np.pad(text_ids.astype(np.int64), (0, C.TEXT_WINDOW - len(text_ids)), constant_values=C.TEXT_PAD_TOKEN)
    if history is None:
        hist = np.full(C.SEMANTIC_HISTORY_WINDOW, C.SEMANTIC_PAD_TOKEN, dtype=np.int64)
    else:
        hist = history.astype(np.int64)[-C.SEMANTIC_HISTORY_WINDOW :]
        hist = np.pad(hist, (0, C.SEMANTIC_HISTORY_WINDOW - len(hist)), constant_values=C.SEMANTIC_PAD_TOKEN)
    return np.hstack([text, hist, [C.SEMANTIC_INFER_TOKEN]]).astype(np.int64)


@torch.inference_mode()
def generate_semantic(
    model: GPT,
    text_ids: np.ndarray,
    history: np.ndarray | None,
    settings: SemanticSettings,
    generator: torch.Generator | None,
    progress: Progress | None = None,
) -> np.ndarray:
    """text_ids (n <= 256,) offset BERT ids; history (T_h,) semantic prompt or None -> semantic tokens (T_s,)."""
    device = model.transformer.wpe.weight.device
    idx = torch.from_numpy(semantic_input(text_ids, history))[None].to(device)
    embeds = model.merged_context_embeddings(idx)
    cache = KVCache(model.config, 1, embeds.shape[1] + C.SEMANTIC_MAX_STEPS - 1, device)
    # Tokens + the EOS logit, which sits at the pad token's index: the reference samples over these 10_001 entries.
    vocab = slice(0, C.SEMANTIC_PAD_TOKEN + 1)
    logits = model(embeds=embeds, cache=cache, vocab=vocab)
    pos = embeds.shape[1]
    out: list[int] = []
    duration = 0.0
    for n in range(C.SEMANTIC_MAX_STEPS):
        token, probs = sample(logits[0], settings.sampling, generator)
        tok = int(token)
        if tok == C.SEMANTIC_VOCAB_SIZE or (settings.min_eos_p is not None and probs[-1] >= settings.min_eos_p):
            break
        out.append(tok)
        duration += 1 / C.SEMANTIC_RATE_HZ  # accumulated like the reference, so the cut-off step matches
        if settings.max_duration_s is not None and duration > settings.max_duration_s:
            break
        if n == C.SEMANTIC_MAX_STEPS - 1:
            break
        report(progress, "semantic", n + 1, C.SEMANTIC_MAX_STEPS)
        logits = model(token.view(1, 1), cache=cache, start=pos, vocab=vocab)
        pos += 1
    report(progress, "semantic", C.SEMANTIC_MAX_STEPS, C.SEMANTIC_MAX_STEPS)
    return np.asarray(out, dtype=np.int64)


def flatten_coarse(codes: np.ndarray) -> np.ndarray:
    """(2, T) codes -> (2T,) interleaved coarse-model tokens (codebook n offset by n*1024, then by 10_000)."""
    arr = codes.astype(np.int64) + (np.arange(codes.shape[0]) * C.CODEBOOK_SIZE)[:, None]
    return arr.ravel("F") + C.SEMANTIC_VOCAB_SIZE


def unflatten_coarse(tokens: np.ndarray) -> np.ndarray:
    """Inverse of `flatten_coarse`: (2T,) -> (2, T) codes in 0..1023."""
    arr = tokens.reshape(-1, C.N_COARSE_CODEBOOKS).T - C.SEMANTIC_VOCAB_SIZE
    return arr - (np.arange(C.N_COARSE_CODEBOOKS) * C.CODEBOOK_SIZE)[:, None]


def coarse_histories(
    semantic_prompt: np.ndarray, coarse_prompt: np.ndarray, max_coarse_history: int
) -> tuple[np.ndarray, np.ndarray]:
    """Trim a voice's prompts the way the reference does: aligned semantic/coarse tails, minus 2 coarse tokens."""
    ratio = C.SEMANTIC_TO_COARSE_RATIO
    max_semantic_history = int(np.floor(max_coarse_history / ratio))
    sem = semantic_prompt.astype(np.int64)
    coarse = flatten_coarse(coarse_prompt)
    n_sem = int(min(max_semantic_history, len(sem) - len(sem) % 2, int(np.floor(len(coarse) / ratio))))
    n_coarse = int(round(n_sem * ratio))
    # `x[-0:]` keeps everything, as in the reference when n_sem == 0.
    sem, coarse = sem[-n_sem:], coarse[-n_coarse:]
    return sem, coarse[: -C.COARSE_HISTORY_ALIGN_DROP]


def n_coarse_steps(n_semantic: int) -> int:
    """Coarse tokens (both codebooks interleaved) generated for `n_semantic` semantic tokens."""
    ratio = C.SEMANTIC_TO_COARSE_RATIO
    return int(round(np.floor(n_semantic * ratio / C.N_COARSE_CODEBOOKS) * C.N_COARSE_CODEBOOKS))


def coarse_window_input(
    x_semantic: np.ndarray, x_coarse: np.ndarray, semantic_idx: int, settings: CoarseSettings
) -> np.ndarray:
    """One window's prefill: 256 semantic tokens around `semantic_idx` (padded), infer token, coarse history."""
    max_semantic_history = int(np.floor(settings.max_coarse_history / C.SEMANTIC_TO_COARSE_RATIO))
    sem = x_semantic[max(0, semantic_idx - max_semantic_history) :][: C.COARSE_SEMANTIC_WINDOW]
    sem = np.pad(sem, (0, C.COARSE_SEMANTIC_WINDOW - len(sem)), constant_values=C.COARSE_SEMANTIC_PAD_TOKEN)
    hist = x_coarse[-settings.max_coarse_history :] if len(x_coarse) else x_coarse
    return np.hstack([sem, [C.COARSE_INFER_TOKEN], hist]).astype(np.int64)


@torch.inference_mode()
def generate_coarse(
    model: GPT,
    semantic: np.ndarray,
    history: tuple[np.ndarray, np.ndarray] | None,
    settings: CoarseSettings,
    generator: torch.Generator | None,
    progress: Progress | None = None,
) -> np.ndarray:
    """semantic (T_s,) tokens; history (semantic_prompt, coarse_prompt (2, T)) or None -> coarse codes (2, T_c)."""
    if semantic.ndim != 1 or len(semantic) == 0:
        raise ValueError("semantic tokens must be a non-empty 1-D array")
    device = model.transformer.wpe.weight.device
    if history is not None:
        sem_hist, coarse_hist = coarse_histories(history[0], history[1], settings.max_coarse_history)
    else:
        sem_hist, coarse_hist = np.zeros(0, np.int64), np.zeros(0, np.int64)
    n_steps = n_coarse_steps(len(semantic))
    x_semantic = np.hstack([sem_hist, semantic.astype(np.int64)])
    x_coarse = np.zeros(len(coarse_hist) + n_steps, dtype=np.int64)
    x_coarse[: len(coarse_hist)] = coarse_hist
    filled = len(coarse_hist)
    window = settings.sliding_window_len
    n_windows = int(np.ceil(n_steps / window))
    cache = KVCache(model.config, 1, C.COARSE_SEMANTIC_WINDOW + 1 + settings.max_coarse_history + window, device)
    n_step = 0
    for w in range(n_windows):
        semantic_idx = len(sem_hist) + int(round(n_step / C.SEMANTIC_TO_COARSE_RATIO))
        x_in = coarse_window_input(x_semantic, x_coarse[:filled], semantic_idx, settings)
        # Even steps sample codebook 0, odd steps codebook 1: each from its own 1024-wide logit slice.
        offset = C.SEMANTIC_VOCAB_SIZE + (n_step % C.N_COARSE_CODEBOOKS) * C.CODEBOOK_SIZE
        logits = model(torch.from_numpy(x_in)[None].to(device), cache=cache,
                       vocab=slice(offset, offset + C.CODEBOOK_SIZE))
        pos = len(x_in)
        for i in range(min(window, n_steps - n_step)):
            token, _ = sample(logits[0], settings.sampling, generator)
            token = token + offset
            x_coarse[filled] = int(token)
            filled += 1
            n_step += 1
            if i + 1 < window and n_step < n_steps:
                offset = C.SEMANTIC_VOCAB_SIZE + (n_step % C.N_COARSE_CODEBOOKS) * C.CODEBOOK_SIZE
                logits = model(token.view(1, 1), cache=cache, start=pos,
                                 vocab=slice(offset, offset + C.CODEBOOK_SIZE))
                pos += 1
        report(progress, "coarse", w + 1, n_windows)
    return unflatten_coarse(x_coarse[len(coarse_hist) :])
