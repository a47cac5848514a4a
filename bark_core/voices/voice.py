"""Voices (Bark history prompts): the `Voice` type, its validation and `.npz` files.

A voice is three integer arrays: `semantic_prompt` (T_s,) in 0..9999, `coarse_prompt` (2, T_c) and
`fine_prompt` (8, T_f) in 0..1023, with T_c / T_s ≈ 75 / 49.9 (the reference's check, rounded to 0.1).
Files are always read with `allow_pickle=False`.
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import constants as C
from .catalog import preset_named_by

PROMPT_KEYS = ("semantic_prompt", "coarse_prompt", "fine_prompt")
MAX_VOICE_FILE_BYTES = 8 * 1024 * 1024  # real presets are ~20 kB; anything this big is not a voice
MAX_PROMPT_SECONDS = 60  # far more history than any window uses (a take is at most ~15 s)


@dataclass(frozen=True, eq=False)
class Voice:
    """A validated history prompt. Arrays are int64: semantic (T_s,), coarse (2, T_c), fine (8, T_f)."""

    semantic_prompt: np.ndarray
    coarse_prompt: np.ndarray
    fine_prompt: np.ndarray
    name: str | None = None

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, object], name: str | None = None) -> Voice:
        """Validate the three prompt arrays; ValueError says exactly what is wrong."""
        return cls(*validate_prompt_arrays(arrays, name or "voice"), name=name)

    @classmethod
    def load(cls, path: str | os.PathLike, name: str | None = None) -> Voice:
        """Read a Bark `.npz` voice file (any case of the suffix, `~` expanded; never unpickling objects).

        ValueError if the file is missing (naming the preset a path like "v2/en_speaker_6.npz" means), is not a
        regular file, is too big, or is not a valid voice (`read_npz`, `validate_prompt_arrays`)."""
        path = Path(path).expanduser()
        label = name or path.name
        try:
            info = path.stat()
        except (OSError, ValueError):
            raise ValueError(f"voice file {name or str(path)} does not exist or cannot be read"
                             f"{_preset_hint(str(path))}") from None
        if not stat.S_ISREG(info.st_mode):  # a folder, a device, a pipe: reading it could block or never end
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ValueError(f"voice file {label} is {kind}; a voice is a Bark .npz file")
        try:
            with path.open("rb") as f:  # read at most one byte past the limit, whatever the size claims
                data = f.read(MAX_VOICE_FILE_BYTES + 1)
        except OSError as e:
            raise ValueError(f"voice file {label} cannot be read ({e.strerror or e})") from None
        if len(data) > MAX_VOICE_FILE_BYTES:
            raise ValueError(f"voice file {label} is over {MAX_VOICE_FILE_BYTES / 2**20:g} MiB; a Bark voice is "
                             f"usually ~20 kB")
        return cls.from_arrays(read_npz(data, label), name=name or path.stem)

    def to_dict(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in PROMPT_KEYS}

    def save(self, path: str | Path) -> Path:
        """Write Bark's `.npz` layout (semantic_prompt, coarse_prompt, fine_prompt)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        np.savez(path, **self.to_dict())
        return path

    def to_npz_bytes(self) -> bytes:
        """The `.npz` file's bytes (for zips and downloads without a temporary file)."""
        buf = io.BytesIO()
        np.savez(buf, **self.to_dict())
        return buf.getvalue()

    @property
    def duration_s(self) -> float:
        return self.coarse_prompt.shape[1] / C.COARSE_RATE_HZ


# A preset name's shape ("v2/en_speaker_66", "announcr"): one optional folder, no suffix, nothing else path-like.
_PRESET_SHAPED = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)?")
DICT_VOICE_NAME = "history prompt (dict)"


def voice_path(voice: str | os.PathLike) -> Path | None:
    """The file a voice given as a string or path names, or None when the string is meant as a preset name.

    A path object, or a string that names an existing file or folder (relative to the working directory, `~`
    expanded), is a path; so is a string that cannot be a preset name: one ending in a suffix such as ".npz" (any
    case), absolute, starting with "~" or ".", or with more than one folder or a backslash. Known preset names
    ("v2/en_speaker_6") are checked before this (see `BarkPipeline.resolve_voice`)."""
    if not isinstance(voice, str):
        return Path(voice).expanduser()
    text = voice.strip()
    path = Path(text).expanduser()
    try:
        exists = path.exists()
    except (OSError, ValueError):  # a name too long, a NUL character: no such file
        exists = False
    return path if exists or not _PRESET_SHAPED.fullmatch(text) else None


def _preset_hint(path: str) -> str:
    preset = preset_named_by(path)
    return f"; did you mean the preset {preset!r}? (preset names have no .npz)" if preset else ""


def read_npz(data: bytes, label: str) -> dict[str, np.ndarray]:
    """Arrays of an `.npz` held in memory, checked for zip bombs and refused if they need pickle."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            total = sum(i.file_size for i in zf.infolist())
        if total > 4 * MAX_VOICE_FILE_BYTES:
            raise ValueError(f"voice file {label} unpacks to {total / 1e6:.0f} MB; refusing (not a Bark voice)")
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ValueError as e:
        if "unpacks to" in str(e):
            raise
        if "pickle" in str(e).lower() or "object" in str(e).lower():
            raise ValueError(f"voice file {label} holds Python objects (object arrays); a Bark voice holds only "
                             f"integer arrays, and object arrays are never loaded") from None
        raise ValueError(f"voice file {label} is not a valid .npz file ({e})") from None
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(f"voice file {label} is not a valid .npz (zip) file: {e}") from None


def _check_array(label: str, key: str, a: object, rows: int | None, high: int) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{label}: {key} must be a numpy array, got {type(a).__name__}")
    if a.dtype == object or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{label}: {key} must hold integers, got dtype {a.dtype}")
    want = "(T,)" if rows is None else f"({rows}, T)"
    if (rows is None and a.ndim != 1) or (rows is not None and (a.ndim != 2 or a.shape[0] != rows)):
        raise ValueError(f"{label}: {key} must have shape {want}, got {a.shape}")
    if a.shape[-1] == 0:
        raise ValueError(f"{label}: {key} is empty")
    rate = C.SEMANTIC_RATE_HZ if rows is None else C.COARSE_RATE_HZ
    if a.shape[-1] > MAX_PROMPT_SECONDS * rate:
        raise ValueError(f"{label}: {key} is {a.shape[-1] / rate:.0f} s long; voices longer than "
                         f"{MAX_PROMPT_SECONDS} s are not supported")
    lo, hi = int(a.min()), int(a.max())
    if lo < 0 or hi > high:
        raise ValueError(f"{label}: {key} values must be in 0..{high}, found {lo}..{hi}")
    return a.astype(np.int64)


def validate_prompt_arrays(arrays: Mapping[str, object], label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check keys, dtypes, shapes, ranges and the semantic/coarse length ratio; return int64 copies."""
    missing = [k for k in PROMPT_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"{label}: missing {', '.join(missing)} (a voice needs {', '.join(PROMPT_KEYS)})")
    sem = _check_array(label, "semantic_prompt", arrays["semantic_prompt"], None, C.SEMANTIC_VOCAB_SIZE - 1)
    coarse = _check_array(label, "coarse_prompt", arrays["coarse_prompt"], C.N_COARSE_CODEBOOKS, C.CODEBOOK_SIZE - 1)
    fine = _check_array(label, "fine_prompt", arrays["fine_prompt"], C.N_FINE_CODEBOOKS, C.CODEBOOK_SIZE - 1)
    ratio = round(coarse.shape[1] / len(sem), 1)
    if ratio != C.VOICE_RATIO_ROUNDED:
        raise ValueError(
            f"{label}: semantic and coarse prompts do not line up: {len(sem)} semantic tokens need about "
            f"{round(len(sem) * C.COARSE_RATE_HZ / C.SEMANTIC_RATE_HZ)} coarse frames (ratio 75/49.9), "
            f"got {coarse.shape[1]}"
        )
    return sem, coarse, fine
