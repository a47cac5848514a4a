"""The one result type every generation returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import constants as C
from ..voices.voice import Voice


@dataclass(frozen=True, eq=False)
class BarkResult:
    """Audio and the tokens of every stage.

    audio: float32 (n_samples,) at `sample_rate` (24 kHz). semantic_tokens: int64 (T_s,) in 0..9999.
    coarse_tokens: int64 (2, T_c); fine_tokens: int64 (8, T_c), both in 0..1023; n_samples = 320 * T_c.
    timings: seconds per stage ("semantic", "coarse", "fine", "decode", "total").
    Long-form results also list their `chunks` (texts) and where each chunk starts in `semantic_tokens`,
    in the coarse/fine frames and in `audio` (joins of silence or cross-fade sit between chunks in the audio only).
    """

    audio: np.ndarray
    semantic_tokens: np.ndarray
    coarse_tokens: np.ndarray
    fine_tokens: np.ndarray
    seed: int | None
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    sample_rate: int = C.SAMPLE_RATE
    chunks: tuple[str, ...] = ()
    semantic_starts: tuple[int, ...] = ()
    frame_starts: tuple[int, ...] = ()
    sample_starts: tuple[int, ...] = ()

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def rtf(self) -> float | None:
        """Real-time factor: generation seconds per second of audio (lower is faster)."""
        total = self.timings.get("total")
        return None if not total or not len(self.audio) else total / self.duration_s

    def save_wav(self, path: str | Path) -> Path:
        """16-bit PCM WAV at the result's sample rate."""
        import soundfile as sf

        path = Path(path)
        sf.write(path, np.clip(self.audio, -1.0, 1.0), self.sample_rate, subtype="PCM_16")
        return path

    def save_tokens(self, path: str | Path) -> Path:
        """All stages' tokens as an `.npz`: semantic_tokens, coarse_tokens, fine_tokens, sample_rate (and seed)."""
        path = Path(path)
        extra = {} if self.seed is None else {"seed": np.int64(self.seed)}
        np.savez(path, semantic_tokens=self.semantic_tokens, coarse_tokens=self.coarse_tokens,
                 fine_tokens=self.fine_tokens, sample_rate=np.int64(self.sample_rate), **extra)
        return path

    def to_voice(self, name: str | None = None) -> Voice:
        """This take as a reusable voice (Bark's history-prompt layout); of a long-form take, its last chunk."""
        s0 = self.semantic_starts[-1] if self.semantic_starts else 0
        f0 = self.frame_starts[-1] if self.frame_starts else 0
        return Voice.from_arrays(
            {"semantic_prompt": self.semantic_tokens[s0:], "coarse_prompt": self.coarse_tokens[:, f0:],
             "fine_prompt": self.fine_tokens[:, f0:]},
            name=name,
        )
