"""The two autoregressive stages: text -> semantic tokens, semantic -> coarse codes.

Each is a plain function of (model, tokens in, settings, generator) -> tokens out, reproducing the
reference's windows, trimming and sampling order exactly (see `constants.py` for every number).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from functools import partial

import numpy as np
import torch

from . import constants as C
from .config import CoarseSettings, SemanticSettings
from .graphs import Decoder
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


def generate_semantic(
    model: GPT,
    text_ids: np.ndarray,
    history: np.ndarray | None,
    settings: SemanticSettings,
    generator: torch.Generator | None,
    progress: Progress | None = None,
    *,
    graphs: str = "off",
) -> np.ndarray:
    """text_ids (n <= 256,) offset BERT ids; history (T_h,) semantic prompt or None -> semantic tokens (T_s,).
    graphs: see `semantic_steps`."""
    return generate_semantic_takes(model, text_ids, history, settings, [generator], progress, graphs=graphs)[0]


def generate_semantic_takes(*args, **kwargs) -> list[np.ndarray]:
    """`semantic_steps`' final tokens: one take per generator, decoded as one batch -> a list of semantic token
    arrays (T_s_i,). Same parameters as `semantic_steps`."""
    outs, _ = deque(semantic_steps(*args, **kwargs), maxlen=1)[0]
    return [np.asarray(out, dtype=np.int64) for out in outs]


@torch.inference_mode()
def semantic_steps(
    model: GPT,
    text_ids: np.ndarray,
    history: np.ndarray | None,
    settings: SemanticSettings,
    generators: list[torch.Generator | None],
    progress: Progress | None = None,
    rowwise: bool = True,
    *,
    graphs: str = "off",
) -> Iterator[tuple[list[list[int]], list[bool]]]:
    """One take per generator, decoded as one batch, one step at a time: after each step, every take's tokens so
    far (lists that the next steps extend) and whether each take is done. The last yield has every take done.

    The takes share the prompt, so it is prefilled once. rowwise: see `model.by_row` (exact mode keeps it on).
    graphs: how the decoding steps run ("off", "static", "cuda": see `graphs.Decoder`).
    """
    device = model.transformer.wpe.weight.device
    idx = torch.from_numpy(semantic_input(text_ids, history))[None].to(device)
    embeds = model.merged_context_embeddings(idx)
    n_takes, pos = len(generators), embeds.shape[1]
    cache = KVCache(model.config, n_takes, pos + C.SEMANTIC_MAX_STEPS - 1, device)
    # Tokens + the EOS logit, which sits at the pad token's index: the reference samples over these 10_001 entries.
    vocab = slice(0, C.SEMANTIC_PAD_TOKEN + 1)
    logits = model(embeds=embeds, cache=cache, vocab=vocab).expand(n_takes, -1)
    cache.share_first_row(pos)
    decode = Decoder(model, cache, graphs, vocab, rowwise)
    outs: list[list[int]] = [[] for _ in generators]
    durations = [0.0] * n_takes
    active = list(range(n_takes))  # the take each cache row belongs to
    for n in range(C.SEMANTIC_MAX_STEPS):
        going, tokens = [], []
        for row, take in enumerate(active):
            token, probs = sample(logits[row], settings.sampling, generators[take])
            tok = int(token)
            if tok == C.SEMANTIC_VOCAB_SIZE or (settings.min_eos_p is not None and probs[-1] >= settings.min_eos_p):
                continue
            outs[take].append(tok)
            durations[take] += 1 / C.SEMANTIC_RATE_HZ  # accumulated like the reference, so the cut-off matches
            if settings.max_duration_s is None or durations[take] <= settings.max_duration_s:
                going.append(row)
                tokens.append(token)
        if not going or n == C.SEMANTIC_MAX_STEPS - 1:
            break
        report(progress, "semantic", n + 1, C.SEMANTIC_MAX_STEPS)
        if len(going) < len(active):
            cache.keep(going)
            active = [active[row] for row in going]
        yield outs, [take not in active for take in range(n_takes)]
        logits = decode(torch.cat(tokens).view(-1, 1), pos, vocab)
        pos += 1
    report(progress, "semantic", C.SEMANTIC_MAX_STEPS, C.SEMANTIC_MAX_STEPS)
    yield outs, [True] * n_takes


class SemanticFeed:
    """Each take's semantic tokens as the coarse stage asks for them: complete arrays, or steps of
    `semantic_steps` drawn only when a coarse window needs more tokens (streaming's interleaved stages)."""

    def __init__(self, steps: Iterator[tuple[list, list[bool]]]):
        self._steps = steps
        self.tokens, self.done = next(steps)
        self.seconds = 0.0  # spent drawing semantic steps

    @classmethod
    def complete(cls, semantics: list[np.ndarray]) -> SemanticFeed:
        if any(s.ndim != 1 or len(s) == 0 for s in semantics):
            raise ValueError("semantic tokens must be a non-empty 1-D array")
        return cls(iter([(semantics, [True] * len(semantics))]))

    def pull(self, n_tokens: int | None = None) -> None:
        """Draw steps until every take is done or has `n_tokens` tokens (None: until all are done)."""
        t = time.perf_counter()
        while not all(d or (n_tokens is not None and len(x) >= n_tokens) for x, d in zip(self.tokens, self.done,
                                                                                        strict=True)):
            self.tokens, self.done = next(self._steps)
        self.seconds += time.perf_counter() - t
        ended = [d and len(x) == 0 for x, d in zip(self.tokens, self.done, strict=True)]
        if any(ended):  # a take that ended before its first token: say so now, not after the others' windows
            require_speech([np.zeros(0 if e else 1) for e in ended])

    def arrays(self) -> list[np.ndarray]:
        """Every take's tokens so far (T_s_i,)."""
        return [np.asarray(x, dtype=np.int64) for x in self.tokens]


def require_speech(semantics: list[np.ndarray]) -> None:
    """A take whose semantic stage ended before its first token cannot go on: say so, naming the take."""
    if any(len(s) == 0 for s in semantics):
        which = "" if len(semantics) == 1 else f" (take {[len(s) for s in semantics].index(0) + 1})"
        raise ValueError(f"Bark ended the utterance before saying anything{which} (end-of-speech at the first "
                         "step); try another seed, a lower min_eos_p, or longer text")


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
    graphs: how the decoding steps run ("off", "static", "cuda": see `graphs.Decoder`).
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
    for i in range(window):
        tokens = []
        for row, take in enumerate(active):
            token, _ = sample(logits[row], settings.sampling, generators[take])
            tokens.append(token + offset)
            x_coarse[take, filled] = int(tokens[-1])
        filled += 1
        n_step += 1
        going = [row for row, take in enumerate(active) if n_step < n_steps[take]]
        if not going or i + 1 == window:
            break
        if i + 1 == early:
            yield codes(n_step)
        if len(going) < len(active):
            cache.keep(going)
            active, tokens = [active[r] for r in going], [tokens[r] for r in going]
        offset = C.SEMANTIC_VOCAB_SIZE + (n_step % C.N_COARSE_CODEBOOKS) * C.CODEBOOK_SIZE
        logits = decode(torch.cat(tokens).view(-1, 1), pos, slice(offset, offset + C.CODEBOOK_SIZE))
        pos += 1
    return active, pos
