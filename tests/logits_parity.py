"""Step-by-step logits parity with suno's reference: what each stage samples, recorded on both sides.

bark_core's side: the `sample` name each stage module imported is wrapped. The reference's side (`bark.generation`,
never modified): forward hooks on its models give their outputs, and its module-level `F` and `torch` names are
replaced by thin proxies whose `softmax` / `multinomial` record their arguments and results. Only the reference's
own constants say where the sampled entries sit in its models' outputs, so a slip in bark_core's constants cannot
leak into what it is compared with.

Used by tests/test_parity_logits.py and, in a subprocess on mutated copies of bark_core, tests/test_planted_slips.py:
nothing here imports bark_core at import time.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

STAGES = ("semantic", "coarse", "fine")


@dataclass
class Step:
    """One sampling step of one stage. logits: the sampled entries before temperature, (10_001,) semantic (tokens
    + EOS), (1024,) coarse (the current codebook), (R, 1024) fine (the R positions being filled). scaled: what the
    softmax gets (top-k / top-p filtered to -inf, divided by the temperature); probs: its result; tokens: the
    indices drawn, (1,) or (R,)."""

    logits: torch.Tensor
    scaled: torch.Tensor
    probs: torch.Tensor
    tokens: torch.Tensor


Records = dict[str, list[Step]]


def import_reference():
    """suno's `bark.generation` (the wheel installed as a test oracle), its `encodec` import stubbed: the token
    stages never touch EnCodec."""
    if "encodec" not in sys.modules:
        stub = types.ModuleType("encodec")
        stub.EncodecModel = None
        sys.modules["encodec"] = stub
    return importlib.import_module("bark.generation")


def load_reference_models(gen, folder: Path) -> dict:
    """The reference's model cache for a suno-format folder (text.pt, coarse.pt, fine.pt, tokenizer/), loaded by
    its own `_load_model`. It asks `BertTokenizer.from_pretrained` for the Hub's bert-base-multilingual-cased; here
    (offline) transformers' `BertTokenizer.from_pretrained` loads the folder's tokenizer/ instead: the reference
    tokenizes with an object it loaded itself, never with the pipeline's."""
    from transformers import BertTokenizer

    from bark_core.models.checkpoints import SAFE_GLOBALS

    class FolderTokenizer:
        @staticmethod
        def from_pretrained(name):
            assert name == "bert-base-multilingual-cased", name
            return BertTokenizer.from_pretrained(str(folder / "tokenizer"))

    real, gen.BertTokenizer = gen.BertTokenizer, FolderTokenizer
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return {kind: gen._load_model(str(folder / f"{kind}.pt"), "cpu", model_type=kind)
                    for kind in ("text", "coarse", "fine")}
    finally:
        gen.BertTokenizer = real


@contextlib.contextmanager
def core_steps() -> Iterator[Records]:
    """Record every `sample` call of bark_core's semantic, coarse and fine stages (exact mode, sampled: not greedy)."""
    sampling = importlib.import_module("bark_core.generation.sampling")
    records: Records = {stage: [] for stage in STAGES}
    patched = []
    for stage in STAGES:
        module = importlib.import_module(f"bark_core.generation.{stage}")
        real = module.sample

        def wrapper(logits, params, generator, _real=real, _steps=records[stage]):
            raw = logits.detach().float().clone()
            tokens, probs = _real(logits, params, generator)
            scaled = sampling.filter_logits(raw, params.top_k, params.top_p) / params.temperature
            _steps.append(Step(raw, scaled, probs.detach().clone(), tokens.detach().clone()))
            return tokens, probs

        module.sample = wrapper
        patched.append((module, real))
    try:
        yield records
    finally:
        for module, real in patched:
            module.sample = real


class _Proxy:
    """A module whose attributes are `real`'s, except the ones given."""

    def __init__(self, real, **overrides):
        self._real = real
        self.__dict__.update(overrides)

    def __getattr__(self, name):
        return getattr(self._real, name)


class _ReferenceRecorder:
    """Pairs each softmax call of the reference with the model output it came from and the draws that follow it."""

    def __init__(self, gen):
        self.gen = gen
        self.records: Records = {stage: [] for stage in STAGES}
        self.last: tuple[str, torch.Tensor] | None = None
        self.pending: dict | None = None

    def hook(self, stage: str):
        def record_output(_module, _args, output):
            # Cloned: with top_k the reference masks the coarse logits in place, through a view of this output.
            self.last = (stage, (output[0] if isinstance(output, tuple) else output).detach().clone())
        return record_output

    def softmax(self, x, *args, **kwargs):
        probs = torch.nn.functional.softmax(x, *args, **kwargs)
        self.finish()
        stage, out = self.last
        self.pending = dict(stage=stage, out=out, scaled=x.detach().clone(), probs=probs.detach().clone(), tokens=[])
        return probs

    def multinomial(self, probs, *args, **kwargs):
        tokens = torch.multinomial(probs, *args, **kwargs)
        self.pending["tokens"].append(tokens.detach().clone())
        return tokens

    def finish(self) -> None:
        """Cut the pending softmax call down to the entries the reference drew from."""
        if self.pending is None:
            return
        g, p = self.gen, self.pending
        stage, out, steps = p["stage"], p["out"], self.records[p["stage"]]
        tokens = torch.cat(p["tokens"])
        scaled, probs = p["scaled"], p["probs"]
        if stage == "semantic":  # 10_000 tokens + the EOS logit at the pad token's index
            logits = torch.cat([out[0, -1, : g.SEMANTIC_VOCAB_SIZE], out[0, -1, [g.SEMANTIC_PAD_TOKEN]]])
        elif stage == "coarse":  # codebooks alternate, starting with the first (the reference's n_step is even)
            start = g.SEMANTIC_VOCAB_SIZE + (len(steps) % g.N_COARSE_CODEBOOKS) * g.CODEBOOK_SIZE
            logits = out[0, -1, start : start + g.CODEBOOK_SIZE]
        else:  # the reference's softmax covers the whole window; it draws for its last len(tokens) positions
            rows = len(tokens)
            logits, scaled, probs = out[0, -rows:, : g.CODEBOOK_SIZE], scaled[-rows:], probs[-rows:]
        steps.append(Step(logits.clone(), scaled, probs, tokens))
        self.pending = None


@contextlib.contextmanager
def reference_steps(gen) -> Iterator[Records]:
    """Record every sampling step of the reference's stages (`gen`: `bark.generation` with its models loaded)."""
    rec = _ReferenceRecorder(gen)
    models = {"semantic": gen.models["text"]["model"], "coarse": gen.models["coarse"], "fine": gen.models["fine"]}
    handles = [m.register_forward_hook(rec.hook(stage)) for stage, m in models.items()]
    real_f, real_torch = gen.F, gen.torch
    gen.F = _Proxy(real_f, softmax=rec.softmax)
    gen.torch = _Proxy(real_torch, multinomial=rec.multinomial)
    try:
        yield rec.records
        rec.finish()
    finally:
        gen.F, gen.torch = real_f, real_torch
        for h in handles:
            h.remove()


def mismatches(core: Records, ref: Records, stages: tuple[str, ...] = STAGES) -> list[str]:
    """Where bark_core's steps differ from the reference's, stage by stage in cascade order: the step count, then,
    at the first differing step, which of logits / scaled / probs / tokens differ bitwise. [] when everything is
    equal."""
    found = []
    for stage in stages:
        ours, theirs = core[stage], ref[stage]
        if len(ours) != len(theirs):
            found.append(f"{stage}: {len(ours)} steps, the reference {len(theirs)}")
        for i, (a, b) in enumerate(zip(ours, theirs, strict=False)):
            bad = [f"{field} {_describe(getattr(a, field), getattr(b, field))}"
                   for field in ("logits", "scaled", "probs", "tokens")
                   if not torch.equal(getattr(a, field), getattr(b, field))]
            if bad:
                found.append(f"{stage} step {i}: " + "; ".join(bad))
                break
    return found



def _describe(a: torch.Tensor, b: torch.Tensor) -> str:
    if a.shape != b.shape:
        return f"shape {tuple(a.shape)} vs {tuple(b.shape)}"
    diff = (a.double() - b.double()).abs().nan_to_num(posinf=float("inf"))
    return f"max |diff| {diff.max().item():.3g} at {diff.argmax().item()}"
