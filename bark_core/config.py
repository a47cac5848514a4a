"""Frozen configs: one per model architecture, one per stage, and the named model presets."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import constants as C


@dataclass(frozen=True)
class GPTConfig:
    """Architecture of Bark's causal text (semantic) and coarse models."""

    n_layer: int
    n_head: int
    n_embd: int
    input_vocab_size: int
    output_vocab_size: int
    block_size: int = C.CONTEXT_WINDOW
    bias: bool = False
    dropout: float = 0.0  # stored in checkpoints; inference never applies it

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")


@dataclass(frozen=True)
class FineGPTConfig(GPTConfig):
    """Architecture of Bark's non-causal fine model (8 codebooks, the first `n_codes_given` are inputs only)."""

    n_codes_total: int = C.N_FINE_CODEBOOKS
    n_codes_given: int = 1


@dataclass(frozen=True)
class ModelPreset:
    """Where a named Bark model lives on the Hub."""

    name: str
    repo_id: str
    text_file: str
    coarse_file: str
    fine_file: str


PRESETS: dict[str, ModelPreset] = {
    "bark": ModelPreset("bark", "suno/bark", "text_2.pt", "coarse_2.pt", "fine_2.pt"),
    "bark-small": ModelPreset("bark-small", "suno/bark", "text.pt", "coarse.pt", "fine.pt"),
}
DEFAULT_TOKENIZER = "bert-base-multilingual-cased"
DEFAULT_CODEC = "facebook/encodec_24khz"
DEFAULT_VOICES_REPO = "suno/bark"  # speaker_embeddings/ + speaker_embeddings_path.json

MAX_TEMPERATURE = 10.0


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_temperature(name: str, value: object, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not _is_number(value) or not 0 < value <= MAX_TEMPERATURE:
        allowed = f"a number in (0, {MAX_TEMPERATURE:g}]" + (" or None (greedy)" if allow_none else "")
        raise ValueError(f"{name} must be {allowed}; got {value!r}")


@dataclass(frozen=True)
class SamplingParams:
    """How one distribution is sampled: temperature, then optional top-k / nucleus (top-p) filtering."""

    temperature: float = C.DEFAULT_TEXT_TEMP
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        check_temperature("temperature", self.temperature)
        if self.top_k is not None and (
            not isinstance(self.top_k, int) or isinstance(self.top_k, bool) or self.top_k < 1
        ):
            raise ValueError(f"top_k must be a whole number >= 1 or None; got {self.top_k!r}")
        if self.top_p is not None and (not _is_number(self.top_p) or not 0 < self.top_p <= 1):
            raise ValueError(f"top_p must be a number in (0, 1] or None; got {self.top_p!r}")


@dataclass(frozen=True)
class SemanticSettings:
    """Text -> semantic stage. Generation stops at EOS, when p(EOS) >= min_eos_p, or after max_duration_s."""

    sampling: SamplingParams = SamplingParams(C.DEFAULT_TEXT_TEMP)
    min_eos_p: float | None = C.DEFAULT_MIN_EOS_P
    max_duration_s: float | None = None

    def __post_init__(self) -> None:
        if self.min_eos_p is not None and (not _is_number(self.min_eos_p) or not 0 <= self.min_eos_p <= 1):
            raise ValueError(f"min_eos_p must be a number in [0, 1] or None; got {self.min_eos_p!r}")
        if self.max_duration_s is not None and (not _is_number(self.max_duration_s) or self.max_duration_s <= 0):
            raise ValueError(f"max_duration_s must be a number > 0 or None; got {self.max_duration_s!r}")


@dataclass(frozen=True)
class CoarseSettings:
    """Semantic -> coarse stage: windows of `sliding_window_len` tokens, each re-prefilled with history."""

    sampling: SamplingParams = SamplingParams(C.DEFAULT_WAVEFORM_TEMP)
    max_coarse_history: int = C.MAX_COARSE_HISTORY
    sliding_window_len: int = C.SLIDING_WINDOW_LEN

    def __post_init__(self) -> None:
        h, w = self.max_coarse_history, self.sliding_window_len
        if not isinstance(h, int) or not C.MIN_COARSE_HISTORY <= h <= C.MAX_COARSE_HISTORY:
            raise ValueError(
                f"max_coarse_history must be a whole number in [{C.MIN_COARSE_HISTORY}, {C.MAX_COARSE_HISTORY}]; "
                f"got {h!r}"
            )
        room = C.CONTEXT_WINDOW - C.COARSE_SEMANTIC_WINDOW
        if not isinstance(w, int) or w < 1 or h + w > room:
            raise ValueError(
                f"sliding_window_len must be a whole number >= 1 with max_coarse_history + sliding_window_len "
                f"<= {room}; got {w!r} (history {h})"
            )


@dataclass(frozen=True)
class FineSettings:
    """Coarse -> fine stage. temperature None means greedy (argmax)."""

    temperature: float | None = C.DEFAULT_FINE_TEMP

    def __post_init__(self) -> None:
        check_temperature("fine_temp", self.temperature, allow_none=True)


@dataclass(frozen=True)
class StageSettings:
    """The settings of all three token stages of one generation."""

    semantic: SemanticSettings
    coarse: CoarseSettings
    fine: FineSettings

    @classmethod
    def build(cls, text_temp: float = C.DEFAULT_TEXT_TEMP, waveform_temp: float = C.DEFAULT_WAVEFORM_TEMP,
              fine_temp: float | None = C.DEFAULT_FINE_TEMP, top_k: int | None = None, top_p: float | None = None,
              min_eos_p: float | None = C.DEFAULT_MIN_EOS_P, max_duration_s: float | None = None) -> StageSettings:
        """From `generate`'s keyword arguments (top-k/top-p apply to the semantic and coarse stages)."""
        check_temperature("text_temp", text_temp)  # named as the caller named them
        check_temperature("waveform_temp", waveform_temp)
        return cls(SemanticSettings(SamplingParams(text_temp, top_k, top_p), min_eos_p, max_duration_s),
                   CoarseSettings(SamplingParams(waveform_temp, top_k, top_p)), FineSettings(fine_temp))

    def arguments(self) -> dict:
        """The keyword arguments `build` was called with (what results record as their settings)."""
        s = self.semantic
        return dict(text_temp=s.sampling.temperature, waveform_temp=self.coarse.sampling.temperature,
                    fine_temp=self.fine.temperature, top_k=s.sampling.top_k, top_p=s.sampling.top_p,
                    min_eos_p=s.min_eos_p, max_duration_s=s.max_duration_s)


MAX_SEED = 2**63 - 1


def check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed must be a whole number in 0..{MAX_SEED} (or None for a random seed); got {seed!r}")
    return int(seed)


def check_tokens(arr: object, what: str, ndim: int, high: int) -> np.ndarray:
    """A stage's token input as int64, or a ValueError saying what shape and range are allowed."""
    a = np.asarray(arr)
    if a.dtype == object or not np.issubdtype(a.dtype, np.integer) or a.ndim != ndim or a.size == 0:
        raise ValueError(f"{what} must be a non-empty {ndim}-D integer array; got dtype {a.dtype}, shape {a.shape}")
    if a.min() < 0 or a.max() >= high:
        raise ValueError(f"{what} must be in 0..{high - 1}; found {a.min()}..{a.max()}")
    return a.astype(np.int64)
