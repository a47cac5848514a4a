"""Coarse -> fine codes (non-causal windows) and fine codes -> audio (EnCodec decoder)."""

from __future__ import annotations

import numpy as np
import torch

from .. import constants as C
from ..models.model import FineGPT
from .progress import Progress, report
from .sampling import sample
from .settings import FineSettings, SamplingParams


def fine_windows(n_frames: int, n_history: int, window: int = C.FINE_WINDOW) -> list[tuple[int, int]]:
    """(start, fill_start) of each `window`-frame window over a buffer of n_history + n_frames (>= window) frames.

    Windows step by half a window (512 for the reference's 1024); each fills from fill_start to the window's end,
    so later windows overwrite the second half of earlier ones (the reference's "lazy" loop, kept for exactness).
    """
    step = window * C.FINE_STEP // C.FINE_WINDOW
    total = max(window, n_history + n_frames)
    n_loops = max(0, int(np.ceil((n_frames - (window - n_history)) / step))) + 1
    return [(min(n * step, total - window), min(n_history + n * step, total - step)) for n in range(n_loops)]


@torch.inference_mode()
def generate_fine(
    model: FineGPT,
    coarse: np.ndarray,
    history: np.ndarray | None,
    settings: FineSettings,
    generator: torch.Generator | None,
    progress: Progress | None = None,
    window: int = C.FINE_WINDOW,
) -> np.ndarray:
    """coarse (n_coarse, T) codes, history (8, T_h) fine prompt or None -> fine codes (8, T).

    window: frames the model sees at once (the reference's 1024; streaming previews use shorter, cheaper ones).
    """
    n_coarse, n_frames = coarse.shape
    if not 1 <= n_coarse < C.N_FINE_CODEBOOKS or n_frames == 0:
        raise ValueError(f"coarse codes must have shape (1..7, T > 0), got {coarse.shape}")
    device = model.transformer.wpe.weight.device
    pad = np.full((C.N_FINE_CODEBOOKS - n_coarse, n_frames), C.FINE_PAD_TOKEN, dtype=np.int64)
    arr = np.vstack([coarse.astype(np.int64), pad])
    n_history = 0
    if history is not None:
        hist = history[:, -min(C.FINE_MAX_HISTORY, window // 2) :].astype(np.int64)
        arr, n_history = np.hstack([hist, arr]), hist.shape[1]
    n_tail_pad = max(0, window - arr.shape[1])  # the model is non-causal: always give it full windows
    arr = np.pad(arr, ((0, 0), (0, n_tail_pad)), constant_values=C.FINE_PAD_TOKEN)
    buf = torch.from_numpy(np.ascontiguousarray(arr.T)).to(device)  # (frames, 8)
    sampling = None if settings.temperature is None else SamplingParams(settings.temperature)
    windows = fine_windows(n_frames, n_history, window)
    for w, (start, fill) in enumerate(windows):
        view = buf[start : start + window][None]  # a view: writes land in buf
        rel = fill - start
        for cb in range(n_coarse, C.N_FINE_CODEBOOKS):
            # Only the positions being filled and the 1024 real codes (not the pad entries) are ever sampled.
            logits = model(cb, view, rows=slice(rel, None), vocab=slice(0, C.CODEBOOK_SIZE))[0]
            tokens, _ = sample(logits, sampling, generator)
            view[0, rel:, cb] = tokens
        report(progress, "fine", w + 1, len(windows))
    out = buf.T.cpu().numpy()[:, n_history:]
    return out[:, : out.shape[1] - n_tail_pad]


@torch.inference_mode()
def decode_codes(codec: torch.nn.Module, fine: np.ndarray) -> np.ndarray:
    """fine (8, T) EnCodec codes -> float32 audio (T * 320,) at 24 kHz, as the reference decodes them."""
    if fine.ndim != 2 or fine.shape[0] > C.N_FINE_CODEBOOKS or fine.shape[1] == 0:
        raise ValueError(f"fine codes must have shape (<= 8, T > 0), got {fine.shape}")
    if fine.min() < 0 or fine.max() >= C.CODEBOOK_SIZE:
        raise ValueError(f"fine codes must be in 0..{C.CODEBOOK_SIZE - 1}")
    device = next(codec.parameters()).device
    codes = torch.from_numpy(fine.astype(np.int64))[None].to(device).transpose(0, 1)  # (n_q, 1, T)
    audio = codec.decoder(codec.quantizer.decode(codes))
    return audio.float().cpu().numpy().reshape(-1).astype(np.float32)
