"""Frozen architecture configs of Bark's models and the named model presets (where each lives on the Hub)."""

from __future__ import annotations

from dataclasses import dataclass

from .. import constants as C


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
