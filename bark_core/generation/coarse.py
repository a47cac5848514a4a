"""The second autoregressive stage: semantic tokens -> coarse codes (EnCodec's first two codebooks).

A plain function of (model, tokens in, settings, generator) -> tokens out, reproducing the reference's 60-token
windows, histories and sampling order exactly (see `constants.py` for every number).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np
import torch

from .. import constants as C
from ..models.cache import KVCache
from ..models.graphs import Decoder
from ..models.model import GPT
from .progress import Progress, report
from .sampling import sample
from .semantic import SemanticFeed
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
    reuse_prefix, graphs: see `CoarseWindows`."""
    return generate_coarse_takes(model, [semantic], history, settings, [generator], progress,
                                 reuse_prefix=reuse_prefix, graphs=graphs)[0]


def generate_coarse_takes(*args, **kwargs) -> list[np.ndarray]:
    """`CoarseWindows`' final codes: one take per (semantic tokens, generator), decoded as one batch -> a list of
    coarse codes (2, T_c_i). Same parameters as `CoarseWindows`."""
    return deque(CoarseWindows(*args, **kwargs), maxlen=1)[0]  # only the last window's codes are final


class CoarseWindows:
    """The coarse stage for a batch of takes, one window at a time. One take per (semantic tokens, generator),
    decoded as one batch; iterating (once) yields, after each window, every take's codes so far (2, T_c_i) (what
    streaming plays meanwhile); the last yield is the final codes.
    early > 0: also yield once inside the first window, after its first `early` tokens (streaming's first chunk
    comes that much sooner), unless the window ends there anyway.

    All takes share the voice and step through the same windows, so their window prefills have the same length;
    a take leaves the batch when its tokens are done. rowwise: see `kernels.by_row`. semantics: complete token
    arrays, or a `SemanticFeed` still drawing them: a window starts once the semantic tokens it reads exist, which
    is all the reference's windows depend on (their slice of 256 tokens, and whether the take goes on).

    reuse_prefix (fast and bf16 modes): a window whose input is the previous window's input plus the tokens drawn
    since (the semantic slice still starts at 0 and the coarse history has not reached `max_coarse_history`: the
    first ~4.4 s of a take with no voice) continues from the cache instead of prefilling again. It computes the
    same function as the reference's re-prefill (the model is causal and every position keeps its place), so it
    differs only in rounding; exact mode keeps the reference's re-prefills, whose kernels its bitwise identity needs.
    graphs: how the decoding steps run ("off", "static", "cuda", "compile": see `graphs.Decoder`).
    """

    def __init__(self, model: GPT, semantics: list[np.ndarray] | SemanticFeed,
                 history: tuple[np.ndarray, np.ndarray] | None, settings: CoarseSettings,
                 generators: list[torch.Generator | None], progress: Progress | None = None, rowwise: bool = True, *,
                 reuse_prefix: bool = False, early: int = 0, graphs: str = "off"):
        self.model, self.settings, self.generators, self.progress = model, settings, generators, progress
        self.reuse_prefix, self.early = reuse_prefix, early
        self.feed = semantics if isinstance(semantics, SemanticFeed) else SemanticFeed.complete(semantics)
        if history is not None:
            self.sem_hist, coarse_hist = coarse_histories(history[0], history[1], settings.max_coarse_history)
        else:
            self.sem_hist, coarse_hist = np.zeros(0, np.int64), np.zeros(0, np.int64)
        longest = max(len(x) for x in self.feed.tokens) if all(self.feed.done) else C.SEMANTIC_MAX_STEPS
        self.x_coarse = np.zeros((len(generators), len(coarse_hist) + n_coarse_steps(longest)), dtype=np.int64)
        self.x_coarse[:, : len(coarse_hist)] = coarse_hist
        self.n_history = self.filled = len(coarse_hist)  # filled: the columns of x_coarse drawn (history included)
        self.n_step, self.n_windows = 0, 0  # tokens drawn (by the longest take), windows done
        self.n_steps: list[int] = []  # each take's tokens in all: final for takes done, a lower bound for the rest
        cache = KVCache(model.config, len(generators),
                        C.COARSE_SEMANTIC_WINDOW + 1 + settings.max_coarse_history + settings.sliding_window_len,
                        model.transformer.wpe.weight.device)
        # Both codebooks' logits: the decoding steps alternate between them.
        self.decode = Decoder(model, cache, graphs, slice(C.SEMANTIC_VOCAB_SIZE, C.SEMANTIC_VOCAB_SIZE
                                                          + C.N_COARSE_CODEBOOKS * C.CODEBOOK_SIZE), rowwise)
        self.active = list(range(len(generators)))  # the take each cache row belongs to
        self.cached, self.cached_takes = None, None  # the tokens at the cache's positions, per row (reuse_prefix)
        # The current window's input, takes and first column of x_coarse; the next step's logits and position.
        self.x_in, self.window_takes, self.window_column = np.zeros((0, 0), np.int64), [], 0
        self.logits, self.pos, self.tokens = None, 0, []
        # Tokens stay on the device until the window ends (or codes are yielded), then go to x_coarse in one copy:
        # on a GPU, reading each back would wait for its step to finish instead of letting the next steps queue up.
        self.drawn: list[tuple[int, int, torch.Tensor]] = []  # (take, column of x_coarse, token)

    def __iter__(self) -> Iterator[list[np.ndarray]]:
        window = self.settings.sliding_window_len
        while self._start_window():
            for i in range(window):
                going = self._sample()
                if not going or i + 1 == window:
                    break
                if self.n_windows == 0 and i + 1 == self.early:
                    yield self.codes()
                self._next_logits(going)
            self._end_window()
            yield self.codes()

    def codes(self) -> list[np.ndarray]:
        """Every take's codes (2, T_c_i) so far (take i has at most n_steps[i] tokens)."""
        _write_tokens(self.x_coarse, self.drawn)
        return [unflatten_coarse(self.x_coarse[t, self.n_history : self.n_history + min(n, self.n_step) // 2 * 2])
                for t, n in enumerate(self.n_steps)]

    @torch.inference_mode()
    def _start_window(self) -> bool:
        """Pull the semantic tokens the next window reads, drop the takes that are done, and feed the window's
        input (the whole of it, or the one token new to a reused cache); False once every take is done."""
        s = self.settings
        semantic_idx = len(self.sem_hist) + int(round(self.n_step / C.SEMANTIC_TO_COARSE_RATIO))
        first = max(0, semantic_idx - int(np.floor(s.max_coarse_history / C.SEMANTIC_TO_COARSE_RATIO)))
        # A take still drawing needs this window's whole slice, and enough tokens to go on through the window.
        self.feed.pull(max(first + C.COARSE_SEMANTIC_WINDOW - len(self.sem_hist),
                           semantic_needed(self.n_step + s.sliding_window_len)))
        semantic = self.feed.arrays()
        self.n_steps = [n_coarse_steps(len(x)) for x in semantic]
        self.active = [t for t in self.active if self.n_step < self.n_steps[t]]
        if not self.active:
            return False
        x_in = np.stack([coarse_window_input(np.hstack([self.sem_hist, semantic[t]]), self.x_coarse[t, : self.filled],
                                             semantic_idx, s) for t in self.active])
        # Reused, only the last token drawn is new to the cache.
        start = cached_prefix(self.cached, x_in) if self.reuse_prefix and self.cached_takes == self.active else 0
        self.x_in, self.window_takes, self.window_column = x_in, self.active, self.filled
        offset, device = self._offset(), self.model.transformer.wpe.weight.device
        self.logits = self.model(torch.from_numpy(x_in[:, start:]).to(device), cache=self.decode.cache, start=start,
                                 vocab=slice(offset, offset + C.CODEBOOK_SIZE), rowwise=self.decode.rowwise)
        self.pos = x_in.shape[1]  # the next position the cache fills
        return True

    def _offset(self) -> int:
        """Where the codebook of the current step starts among the model's outputs: even steps sample codebook 0,
        odd steps codebook 1, each from its own 1024-wide slice of the logits."""
        return C.SEMANTIC_VOCAB_SIZE + (self.n_step % C.N_COARSE_CODEBOOKS) * C.CODEBOOK_SIZE

    @torch.inference_mode()
    def _sample(self) -> list[int]:
        """Draw one token for each active take from the current logits; returns the rows whose take goes on."""
        offset, self.tokens = self._offset(), []
        for row, take in enumerate(self.active):
            token, _ = sample(self.logits[row], self.settings.sampling, self.generators[take])
            self.tokens.append(token + offset)
            self.drawn.append((take, self.filled, self.tokens[-1]))
        self.filled += 1
        self.n_step += 1
        return [row for row, take in enumerate(self.active) if self.n_step < self.n_steps[take]]

    @torch.inference_mode()
    def _next_logits(self, going: list[int]) -> None:
        """Drop the rows of takes that are done, then decode the tokens just drawn into the next step's logits."""
        tokens = self.tokens
        if len(going) < len(self.active):
            self.decode.cache.keep(going)
            self.active, tokens = [self.active[r] for r in going], [tokens[r] for r in going]
        offset = self._offset()
        self.logits = self.decode(torch.cat(tokens).view(-1, 1), self.pos, slice(offset, offset + C.CODEBOOK_SIZE))
        self.pos += 1

    def _end_window(self) -> None:
        """Write the window's tokens into x_coarse, note what the cache now holds (reuse_prefix) and report."""
        _write_tokens(self.x_coarse, self.drawn)
        if self.reuse_prefix:
            fed = self.pos - self.x_in.shape[1]  # tokens drawn in this window that are in the cache (all but the last)
            rows = [self.window_takes.index(t) for t in self.active]
            column = self.window_column
            self.cached = np.hstack([self.x_in[rows], self.x_coarse[self.active, column : column + fed]])
            self.cached_takes = self.active
        self.n_windows += 1
        n_windows = int(np.ceil(max(self.n_steps) / self.settings.sliding_window_len))
        report(self.progress, "coarse", self.n_windows, max(self.n_windows, n_windows))


def _write_tokens(x_coarse: np.ndarray, drawn: list[tuple[int, int, torch.Tensor]]) -> None:
    """x_coarse[take, column] = token for each drawn (take, column, token (1,)), in one device-to-host copy."""
    if drawn:
        values = torch.cat([token for _, _, token in drawn]).tolist()
        for (take, column, _), value in zip(drawn, values, strict=True):
            x_coarse[take, column] = value
        drawn.clear()
