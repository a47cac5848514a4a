"""The token panel: every stage's tokens and the audio's spectrogram on one time axis (plotly, hover shows ids)."""

from __future__ import annotations

import numpy as np

from .. import constants as C

# A browser draws the figure from JSON: every heatmap is kept to about this many columns, or a long take's figure
# grows to hundreds of megabytes and the page's tab runs out of memory. Codes are shown every k-th frame (real
# codes at their real times); the spectrogram's power is averaged over blocks of frames.
MAX_CODE_COLUMNS = 2400
MAX_SPECTROGRAM_FRAMES = 800
STRIP_COLUMNS = 600  # a grid cell's small coarse strip
SPECTROGRAM_WINDOW = 1024  # samples (43 ms at 24 kHz), hop a quarter of it
FREQUENCY_POOL = 2  # adjacent frequency bins averaged: 257 bands of 47 Hz


def stride_for(n: int, cap: int) -> int:
    """The k of "every k-th of n items" that keeps at most `cap` of them (1: all)."""
    return max(1, -(-n // cap))


def _pool(power: np.ndarray, axis: int, k: int) -> np.ndarray:
    """Mean over blocks of k along `axis` (the last block may be shorter)."""
    if k == 1:
        return power
    starts = np.arange(0, power.shape[axis], k)
    return np.add.reduceat(power, starts, axis=axis) / np.diff(np.append(starts, power.shape[axis])).reshape(
        [-1 if a == axis else 1 for a in range(power.ndim)])


def spectrogram_db(audio: np.ndarray, sample_rate: int = C.SAMPLE_RATE,
                   max_frames: int = MAX_SPECTROGRAM_FRAMES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(freqs_hz (F,), times_s (T,), power_db (F, T), float32) of a mono signal: 1024-sample Hann windows, power
    averaged over pairs of frequency bins and over blocks of frames so that T <= max_frames."""
    from scipy.signal import spectrogram

    if len(audio) < SPECTROGRAM_WINDOW:
        audio = np.pad(audio, (0, SPECTROGRAM_WINDOW - len(audio)))
    f, t, s = spectrogram(audio.astype(np.float32), fs=sample_rate, nperseg=SPECTROGRAM_WINDOW,
                          noverlap=SPECTROGRAM_WINDOW * 3 // 4)
    k = stride_for(len(t), max_frames)
    s = _pool(_pool(s, 0, FREQUENCY_POOL), 1, k)
    f, t = _pool(f, 0, FREQUENCY_POOL), _pool(t, 0, k)
    return f, t, (10 * np.log10(s + 1e-10)).astype(np.float32)


def _times(lengths: list[int], rate: float, offsets_s: list[float]) -> np.ndarray:
    """Time in seconds of each token, chunk k starting at offsets_s[k] (where its audio starts)."""
    return np.concatenate([off + np.arange(n) / rate for n, off in zip(lengths, offsets_s, strict=True)])


def _chunk_lengths(total: int, starts: tuple[int, ...]) -> list[int]:
    bounds = list(starts or (0,)) + [total]
    return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]


def token_figure(semantic: np.ndarray, coarse: np.ndarray, fine: np.ndarray, audio: np.ndarray,
                 semantic_starts: tuple[int, ...] = (), frame_starts: tuple[int, ...] = (),
                 sample_starts: tuple[int, ...] = ()):
    """A 4-row plotly figure sharing one x axis, the audio's time in seconds.

    semantic (T_s,) at 49.9 Hz; coarse (2, T_c) and fine (8, T_c) at 75 Hz; audio (N,) at 24 kHz. For long-form
    results the *_starts give where each chunk begins, so tokens sit under their audio (joins included) and a
    dashed line marks each chunk boundary. A long take's codes are shown every k-th frame (the titles say so) and
    its spectrogram averaged, so that the figure stays a few megabytes whatever the take's length.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    offsets = [s / C.SAMPLE_RATE for s in (sample_starts or (0,))]
    ts = _times(_chunk_lengths(len(semantic), semantic_starts), C.SEMANTIC_RATE_HZ, offsets)
    tc = _times(_chunk_lengths(coarse.shape[1], frame_starts), C.COARSE_RATE_HZ, offsets)
    k = stride_for(len(tc), MAX_CODE_COLUMNS)
    tc, coarse, fine = tc[::k], coarse[:, ::k], fine[:, ::k]
    shown = f" · 1 frame in {k} shown" if k > 1 else ""
    fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.22, 0.14, 0.3, 0.34],
                        subplot_titles=("Semantic tokens (49.9 per second)",
                                        f"Coarse codes: codebooks 0-1 (75/s){shown}",
                                        f"Fine codes: all 8 codebooks{shown}", "Audio spectrogram"))
    fig.add_trace(go.Scattergl(x=ts, y=semantic, mode="markers", marker=dict(size=3, color=semantic,
                               colorscale="Viridis"), name="semantic",
                               hovertemplate="t=%{x:.2f}s<br>semantic id %{y}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Heatmap(x=tc, y=[0, 1], z=coarse, colorscale="Viridis", showscale=False, name="coarse",
                             hovertemplate="t=%{x:.2f}s<br>codebook %{y}<br>code %{z}<extra></extra>"), row=2, col=1)
    fig.add_trace(go.Heatmap(x=tc, y=list(range(fine.shape[0])), z=fine, colorscale="Viridis", showscale=False,
                             name="fine", hovertemplate="t=%{x:.2f}s<br>codebook %{y}<br>code %{z}<extra></extra>"),
                  row=3, col=1)
    f, t, db = spectrogram_db(audio)
    fig.add_trace(go.Heatmap(x=t, y=f, z=db, colorscale="Magma", showscale=False, name="spectrogram",
                             hovertemplate="t=%{x:.2f}s<br>%{y:.0f} Hz<br>%{z:.0f} dB<extra></extra>"), row=4, col=1)
    for b in offsets[1:]:
        fig.add_vline(x=b, line=dict(color="red", dash="dash", width=1))
    for row, title in enumerate(["id", "codebook", "codebook", "Hz"], start=1):
        fig.update_yaxes(title_text=title, row=row, col=1)
    fig.update_xaxes(title_text="time (s)", row=4, col=1)
    fig.update_layout(height=720, margin=dict(l=50, r=20, t=40, b=40), showlegend=False)
    return fig


def mini_strip(coarse: np.ndarray):
    """A small heatmap of the coarse codes (2, T) for a grid cell: a glance at the take's structure."""
    import plotly.graph_objects as go

    k = stride_for(coarse.shape[1], STRIP_COLUMNS)
    t = np.arange(0, coarse.shape[1], k) / C.COARSE_RATE_HZ
    fig = go.Figure(go.Heatmap(x=t, y=[0, 1], z=coarse[:, ::k], colorscale="Viridis", showscale=False,
                               hovertemplate="t=%{x:.2f}s<br>codebook %{y}<br>code %{z}<extra></extra>"))
    fig.update_layout(height=90, margin=dict(l=5, r=5, t=5, b=20), yaxis=dict(visible=False))
    return fig
