"""Preparing a person's recording for voice-making: safe decoding, mono, resampling, trimming, loudness.

Every limit is checked before the expensive step it protects: file size before decoding, the header's duration
and rate before reading samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_UPLOAD_BYTES = 50 * 2**20
MAX_RECORDING_S = 300.0  # longer uploads are refused; long clips are cut to MAX_CLIP_S anyway
MIN_CLIP_S = 1.0
TARGET_CLIP_S = (10.0, 15.0)  # the cut ends at the quietest moment in this range
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 192_000
MAX_CHANNELS = 8
SILENCE_DB = -40.0  # frames this far below the loudest frame count as silence
TARGET_RMS_DB = -20.0
FRAME_S = 0.02


@dataclass(frozen=True)
class Recording:
    """A mono float32 signal (n,) at `sample_rate` Hz."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def read_recording(path: str | Path) -> Recording:
    """Decode wav/flac/ogg/mp3 (what libsndfile reads) to mono float32, refusing what cannot be a voice clip."""
    import soundfile as sf

    path = Path(path)
    size = path.stat().st_size if path.exists() else -1
    if size < 0:
        raise ValueError("the recording could not be found; upload it again")
    if size > MAX_UPLOAD_BYTES:
        raise ValueError(f"the recording is {size / 2**20:.0f} MiB; at most {MAX_UPLOAD_BYTES // 2**20} MiB is "
                         f"accepted (a 15 s clip is enough)")
    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - libsndfile rejects non-audio in many ways
        raise ValueError("this file is not audio that can be read (use wav, flac, ogg or mp3)") from None
    if info.duration > MAX_RECORDING_S:
        raise ValueError(f"the recording is {info.duration / 60:.0f} min long; at most {MAX_RECORDING_S / 60:.0f} min "
                         f"is accepted (only ~15 s are used): trim it first")
    if not MIN_SAMPLE_RATE <= info.samplerate <= MAX_SAMPLE_RATE:
        raise ValueError(f"the recording's sample rate is {info.samplerate} Hz; {MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz "
                         f"is accepted")
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise ValueError(f"the recording has {info.channels} channels; 1–{MAX_CHANNELS} are accepted")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception:  # noqa: BLE001
        raise ValueError("the recording could not be decoded (corrupt or truncated file)") from None
    return to_recording(data, sr)


def to_recording(data: np.ndarray, sample_rate: int) -> Recording:
    """(n,) or (n, channels) samples (float or integer PCM) -> mono float32 Recording, checked."""
    a = np.asarray(data)
    if np.issubdtype(a.dtype, np.integer):  # microphone input arrives as int16 PCM
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    a = a.astype(np.float32)
    if a.ndim == 2:
        a = a.mean(axis=1) if a.shape[1] <= MAX_CHANNELS else a.mean(axis=0)
    if a.ndim != 1 or a.size == 0:
        raise ValueError("the recording is empty")
    if not np.isfinite(a).all():
        raise ValueError("the recording contains invalid samples (NaN or infinity)")
    if not MIN_SAMPLE_RATE <= int(sample_rate) <= MAX_SAMPLE_RATE:
        raise ValueError(f"the recording's sample rate is {sample_rate} Hz; {MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz "
                         f"is accepted")
    return Recording(a, int(sample_rate))


def resample(samples: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Band-limited polyphase resampling (scipy), float32 out."""
    from math import gcd

    from scipy.signal import resample_poly

    if sr_from == sr_to:
        return samples.astype(np.float32)
    g = gcd(sr_from, sr_to)
    return resample_poly(samples, sr_to // g, sr_from // g).astype(np.float32)


def _frame_db(samples: np.ndarray, sr: int) -> np.ndarray:
    n = max(1, int(FRAME_S * sr))
    frames = samples[: len(samples) // n * n].reshape(-1, n) if len(samples) >= n else samples[None]
    return 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)


def prepare_clip(rec: Recording) -> Recording:
    """Trim leading/trailing silence, keep at most ~15 s ending at a pause, normalise loudness to -20 dBFS RMS."""
    db = _frame_db(rec.samples, rec.sample_rate)
    if db.max() < -70:
        raise ValueError("the recording is silent: record or upload a clip of someone speaking")
    loud = np.flatnonzero(db > db.max() + SILENCE_DB)
    n = max(1, int(FRAME_S * rec.sample_rate))
    start, end = loud[0] * n, (loud[-1] + 1) * n
    clip = rec.samples[start:end]
    if len(clip) < MIN_CLIP_S * rec.sample_rate:
        raise ValueError(f"the recording has {len(clip) / rec.sample_rate:.1f} s of sound; at least "
                         f"{MIN_CLIP_S:.0f} s of speech is needed (10–15 s works best)")
    if len(clip) > TARGET_CLIP_S[1] * rec.sample_rate:
        lo, hi = (int(t / FRAME_S) for t in TARGET_CLIP_S)
        quietest = lo + int(np.argmin(db[loud[0] + lo : loud[0] + hi]))  # the deepest pause between 10 and 15 s
        clip = clip[: quietest * n]
    rms = float(np.sqrt(np.mean(clip.astype(np.float64) ** 2)))
    gain = 10 ** (TARGET_RMS_DB / 20) / max(rms, 1e-8)
    peak = float(np.abs(clip).max()) * gain
    if peak > 0.99:  # never clip while normalising
        gain *= 0.99 / peak
    return Recording((clip * gain).astype(np.float32), rec.sample_rate)
