"""The first autoregressive stage, text -> semantic tokens.

Like the coarse stage (`coarse.py`), a plain function of (model, tokens in, settings, generator) -> tokens out,
reproducing the reference's windows, trimming and sampling order exactly (see `constants.py` for every number).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator

import numpy as np
import torch

from .. import constants as C
from ..models.cache import KVCache
from ..models.graphs import Decoder
from ..models.model import GPT
from .progress import GenerationCancelled as GenerationCancelled  # where `studio.requests` imports it from
from .progress import Progress, report
from .sampling import sample
from .settings import SemanticSettings


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

    The takes share the prompt, so it is prefilled once. rowwise: see `kernels.by_row` (exact mode keeps it on).
    graphs: how the decoding steps run ("off", "static", "cuda", "compile": see `graphs.Decoder`).
    """
    device = model.transformer.wpe.weight.device
    idx = torch.from_numpy(semantic_input(text_ids, history))[None].to(device)
    embeds = model.merged_context_embeddings(idx)
    n_takes, pos = len(generators), embeds.shape[1]
    cache = KVCache(model.config, n_takes, pos + C.SEMANTIC_MAX_STEPS - 1, device)
    # The reference samples over the tokens and the EOS logit, which sits at the pad token's index (10_001 entries),
    # sliced from the whole head's output: a product over only those weight rows can round an entry differently.
    vocab, keep = slice(0, model.config.output_vocab_size), C.SEMANTIC_PAD_TOKEN + 1
    logits = model(embeds=embeds, cache=cache, vocab=vocab)[:, :keep].expand(n_takes, -1)
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
        logits = decode(torch.cat(tokens).view(-1, 1), pos, vocab)[:, :keep]
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
                         "step); try another seed, a higher min_eos_p (Bark stops once the end token's probability "
                         "reaches it: higher goes on longer; None stops only at the end token), or longer text")
