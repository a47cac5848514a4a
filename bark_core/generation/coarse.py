"""The second autoregressive stage: semantic tokens -> coarse codes (EnCodec's first two codebooks).

A plain function of (model, tokens in, settings, generator) -> tokens out, reproducing the reference's 60-token
windows, histories and sampling order exactly (see `constants.py` for every number).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from functools import partial

import numpy as np
import torch

from .. import constants as C
from ..models.graphs import Decoder
from ..models.model import GPT, KVCache
from .sampling import sample
from .semantic import Progress, SemanticFeed, report
from .settings import CoarseSettings


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


def semantic_needed(n_coarse: int) -> int:
    """The fewest semantic tokens for which `n_coarse_steps` reaches `n_coarse`."""
    n = max(0, int(np.floor(n_coarse / C.SEMANTIC_TO_COARSE_RATIO)) - 2)
    while n_coarse_steps(n) < n_coarse:
        n += 1
    return n


def coarse_window_input(
    x_semantic: np.ndarray, x_coarse: np.ndarray, semantic_idx: int, settings: CoarseSettings
) -> np.ndarray:
    """One window's prefill: 256 semantic tokens around `semantic_idx` (padded), infer token, coarse history."""
    max_semantic_history = int(np.floor(settings.max_coarse_history / C.SEMANTIC_TO_COARSE_RATIO))
    sem = x_semantic[max(0, semantic_idx - max_semantic_history) :][: C.COARSE_SEMANTIC_WINDOW]
    sem = np.pad(sem, (0, C.COARSE_SEMANTIC_WINDOW - len(sem)), constant_values=C.COARSE_SEMANTIC_PAD_TOKEN)
    hist = x_coarse[-settings.max_coarse_history :] if len(x_coarse) else x_coarse
    return np.hstack([sem, [C.COARSE_INFER_TOKEN], hist]).astype(np.int64)


def cached_prefix(cached: np.ndarray | None, x_in: np.ndarray) -> int:
    """Leading positions of a window's input x_in (..., T) that a KV cache holding `cached` (..., T') already has:
    T - 1 when x_in is exactly those tokens plus one new token (the window extends the previous one), else 0."""
    if cached is not None and cached.shape[-1] == x_in.shape[-1] - 1 and np.array_equal(cached, x_in[..., :-1]):
        return cached.shape[-1]
    return 0


def generate_coarse(
    model: GPT,
    semantic: np.ndarray,
    history: tuple[np.ndarray, np.ndarray] | None,
    settings: CoarseSettings,
    generator: torch.Generator | None,
    progress: Progress | None = None,
    *,
    reuse_prefix: bool = False,
    graphs: str = "off",
) -> np.ndarray:
    """semantic (T_s,) tokens; history (semantic_prompt, coarse_prompt (2, T)) or None -> coarse codes (2, T_c).
    reuse_prefix, graphs: see `coarse_windows`."""
    return generate_coarse_takes(model, [semantic], history, settings, [generator], progress,
                                 reuse_prefix=reuse_prefix, graphs=graphs)[0]


def generate_coarse_takes(*args, **kwargs) -> list[np.ndarray]:
    """`coarse_windows`' final codes: one take per (semantic tokens, generator), decoded as one batch -> a list of
    coarse codes (2, T_c_i). Same parameters as `coarse_windows`."""
    return deque(coarse_windows(*args, **kwargs), maxlen=1)[0]  # only the last window's codes are final


def coarse_windows(
    model: GPT,
    semantics: list[np.ndarray] | SemanticFeed,
    history: tuple[np.ndarray, np.ndarray] | None,
    settings: CoarseSettings,
    generators: list[torch.Generator | None],
    progress: Progress | None = None,
    rowwise: bool = True,
    *,
    reuse_prefix: bool = False,
    early: int = 0,
    graphs: str = "off",
) -> Iterator[list[np.ndarray]]:
    """One take per (semantic tokens, generator), decoded as one batch, one window at a time: after each window,
    every take's codes so far (2, T_c_i) (what streaming plays meanwhile); the last yield is the final codes.
    early > 0: also yield once inside the first window, after its first `early` tokens (streaming's first chunk
    comes that much sooner), unless the window ends there anyway.

    All takes share the voice and step through the same windows, so their window prefills have the same length;
    a take leaves the batch when its tokens are done. rowwise: see `model.by_row`. semantics: complete token
    arrays, or a `SemanticFeed` still drawing them: a window starts once the semantic tokens it reads exist, which
    is all the reference's windows depend on (their slice of 256 tokens, and whether the take goes on).

    reuse_prefix (fast and bf16 modes): a window whose input is the previous window's input plus the tokens drawn
    since (the semantic slice still starts at 0 and the coarse history has not reached `max_coarse_history`: the
    first ~4.4 s of a take with no voice) continues from the cache instead of prefilling again. It computes the
    same function as the reference's re-prefill (the model is causal and every position keeps its place), so it
    differs only in rounding; exact mode keeps the reference's re-prefills, whose kernels its bitwise identity needs.
    graphs: how the decoding steps run ("off", "static", "cuda", "compile": see `graphs.Decoder`).
    """
    feed = semantics if isinstance(semantics, SemanticFeed) else SemanticFeed.complete(semantics)
    device = model.transformer.wpe.weight.device
    if history is not None:
        sem_hist, coarse_hist = coarse_histories(history[0], history[1], settings.max_coarse_history)
    else:
        sem_hist, coarse_hist = np.zeros(0, np.int64), np.zeros(0, np.int64)
    window = settings.sliding_window_len
    max_semantic_history = int(np.floor(settings.max_coarse_history / C.SEMANTIC_TO_COARSE_RATIO))
    longest = max(len(x) for x in feed.tokens) if all(feed.done) else C.SEMANTIC_MAX_STEPS
    x_coarse = np.zeros((len(generators), len(coarse_hist) + n_coarse_steps(longest)), dtype=np.int64)
    x_coarse[:, : len(coarse_hist)] = coarse_hist
    filled, n_step, w = len(coarse_hist), 0, 0
    cache = KVCache(model.config, len(generators), C.COARSE_SEMANTIC_WINDOW + 1 + settings.max_coarse_history + window,
                    device)
    # Both codebooks' logits: the decoding steps alternate between them.
    decode = Decoder(model, cache, graphs, slice(C.SEMANTIC_VOCAB_SIZE, C.SEMANTIC_VOCAB_SIZE
                                                 + C.N_COARSE_CODEBOOKS * C.CODEBOOK_SIZE), rowwise)
    active = list(range(len(generators)))  # the take each cache row belongs to
    cached, cached_takes = None, None  # the tokens at the cache's positions, per row (reuse_prefix)
    while True:
        semantic_idx = len(sem_hist) + int(round(n_step / C.SEMANTIC_TO_COARSE_RATIO))
        first = max(0, semantic_idx - max_semantic_history)
        # A take still drawing needs this window's whole slice, and enough tokens to go on through the window.
        feed.pull(max(first + C.COARSE_SEMANTIC_WINDOW - len(sem_hist), semantic_needed(n_step + window)))
        semantic = feed.arrays()
        n_steps = [n_coarse_steps(len(s)) for s in semantic]  # final for takes done, a lower bound for the rest
        active = [t for t in active if n_step < n_steps[t]]
        if not active:
            return
        x_in = np.stack([coarse_window_input(np.hstack([sem_hist, semantic[t]]), x_coarse[t, :filled],
                                             semantic_idx, settings) for t in active])
        # Reused, only the last token drawn is new to the cache.
        start = cached_prefix(cached, x_in) if reuse_prefix and cached_takes == active else 0
        codes = partial(_codes_so_far, x_coarse, len(coarse_hist), n_steps)
        going, pos = yield from _coarse_window(model, decode, torch.from_numpy(x_in[:, start:]).to(device), start,
                                               x_coarse, filled, n_step, n_steps, active, settings, generators,
                                               early if w == 0 else 0, codes)
        if reuse_prefix:
            fed = pos - x_in.shape[1]  # tokens drawn in this window that are in the cache (all but the last)
            cached = np.hstack([x_in[[active.index(t) for t in going]], x_coarse[going, filled : filled + fed]])
            cached_takes = going
        active = going
        filled += min(window, max(n_steps) - n_step)
        n_step += min(window, max(n_steps) - n_step)
        w += 1
        report(progress, "coarse", w, max(w, int(np.ceil(max(n_steps) / window))))
        yield codes(n_step)


def _codes_so_far(x_coarse: np.ndarray, n_history: int, n_steps: list[int], n_step: int) -> list[np.ndarray]:
    """Every take's codes (2, T_c_i) after `n_step` tokens (take i has at most n_steps[i])."""
    return [unflatten_coarse(x_coarse[t, n_history : n_history + min(n, n_step) // 2 * 2])
            for t, n in enumerate(n_steps)]


@torch.inference_mode()
def _coarse_window(model: GPT, decode: Decoder, x_in: torch.Tensor, start: int, x_coarse: np.ndarray, filled: int,
                   n_step: int, n_steps: list[int], active: list[int], settings: CoarseSettings, generators: list,
                   early: int, codes: Callable[[int], list[np.ndarray]]) -> Iterator[list[np.ndarray]]:
    """Feed one window's input (x_in (B, T) at positions start.., one row per active take: the whole window from
    0, or the one token new to a reused cache) and sample up to a window of tokens for each into x_coarse
    (takes, T_total), from position `filled` on. Yields codes(n_step) once after `early` tokens if the window goes
    on past them; returns the takes still active and the positions now cached."""
    offset = C.SEMANTIC_VOCAB_SIZE + (n_step % C.N_COARSE_CODEBOOKS) * C.CODEBOOK_SIZE
    # Even steps sample codebook 0, odd steps codebook 1: each from its own 1024-wide logit slice.
    cache = decode.cache
    logits = model(x_in, cache=cache, start=start, vocab=slice(offset, offset + C.CODEBOOK_SIZE),
                   rowwise=decode.rowwise)
    pos = start + x_in.shape[1]
    window = settings.sliding_window_len
    # Tokens stay on the device until the window ends (or codes are yielded), then go to x_coarse in one copy: on a
    # GPU, reading each back would wait for its step to finish instead of letting the next steps queue up.
    drawn: list[tuple[int, int, torch.Tensor]] = []  # (take, column of x_coarse, token)
    for i in range(window):
        tokens = []
        for row, take in enumerate(active):
            token, _ = sample(logits[row], settings.sampling, generators[take])
            tokens.append(token + offset)
            drawn.append((take, filled, tokens[-1]))
        filled += 1
        n_step += 1
        going = [row for row, take in enumerate(active) if n_step < n_steps[take]]
        if not going or i + 1 == window:
            break
        if i + 1 == early:
            _write_tokens(x_coarse, drawn)
            yield codes(n_step)
        if len(going) < len(active):
            cache.keep(going)
            active, tokens = [active[r] for r in going], [tokens[r] for r in going]
        offset = C.SEMANTIC_VOCAB_SIZE + (n_step % C.N_COARSE_CODEBOOKS) * C.CODEBOOK_SIZE
        logits = decode(torch.cat(tokens).view(-1, 1), pos, slice(offset, offset + C.CODEBOOK_SIZE))
        pos += 1
    _write_tokens(x_coarse, drawn)
    return active, pos


def _write_tokens(x_coarse: np.ndarray, drawn: list[tuple[int, int, torch.Tensor]]) -> None:
    """x_coarse[take, column] = token for each drawn (take, column, token (1,)), in one device-to-host copy."""
    if drawn:
        values = torch.cat([token for _, _, token in drawn]).tolist()
        for (take, column, _), value in zip(drawn, values, strict=True):
            x_coarse[take, column] = value
        drawn.clear()
