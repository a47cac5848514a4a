"""Loading preset voices by name from a local folder or the Hub's `speaker_embeddings/`."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import numpy as np

from ..models.hub import EMBEDDINGS_INDEX, VOICES_HINT, HubOptions, hub_file
from .catalog import check_preset_name, is_preset_name
from .voice import DICT_VOICE_NAME, PROMPT_KEYS, Voice, voice_path

# A voice as callers give it: see `PresetStore.resolve`.
VoiceLike = Voice | str | os.PathLike | Mapping[str, np.ndarray] | None


def _safe_relpath(rel: object, name: str) -> str:
    p = PurePosixPath(str(rel))
    if not isinstance(rel, str) or p.is_absolute() or ".." in p.parts:
        raise ValueError(f"{EMBEDDINGS_INDEX}: entry for {name!r} points outside the repo ({rel!r})")
    return str(p)


def _voice_from_npy(paths: dict[str, Path], name: str) -> Voice:
    arrays = {}
    for key, path in paths.items():
        try:
            arrays[key] = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise ValueError(f"preset {name}: {key} file is not a plain numpy array ({e})") from None
    return Voice.from_arrays(arrays, name=name)


class PresetStore:
    """Resolves preset names to `Voice`s.

    source: a local folder in Bark's `.npz` layout (`v2/en_speaker_6.npz`), a local folder or Hub repo with
    `speaker_embeddings_path.json` (transformers layout, e.g. `suno/bark`). Loaded voices are kept (they are
    small and immutable), so each file is read once per store.
    """

    def __init__(self, source: str | Path, hub: HubOptions | None = None):
        self.source = source
        self.hub = hub or HubOptions()
        self._cache: dict[str, Voice] = {}
        self._lock = threading.Lock()
        self._index: dict | None = None

    def load(self, name: str) -> Voice:
        name = check_preset_name(name)
        with self._lock:
            if name not in self._cache:
                self._cache[name] = self._read(name)
            return self._cache[name]

    def _read(self, name: str) -> Voice:
        folder = Path(self.source).expanduser()
        if folder.is_dir() and not (folder / EMBEDDINGS_INDEX).exists():
            path = folder.joinpath(*name.split("/")).with_suffix(".npz")
            if not path.exists():
                raise ValueError(f"preset {name!r} is not in the voice folder {folder} (expected {path.name} there)")
            return Voice.load(path, name=name)
        entry = self._entry(name)
        rels = {k: _safe_relpath(entry.get(k), name) for k in PROMPT_KEYS}
        if folder.is_dir():
            return _voice_from_npy({k: folder / rel for k, rel in rels.items()}, name)
        return _voice_from_npy({k: hub_file(str(self.source), rel, self.hub, VOICES_HINT) for k, rel in rels.items()},
                               name)

    def _entry(self, name: str) -> dict:
        if self._index is None:
            folder = Path(self.source).expanduser()
            path = (folder / EMBEDDINGS_INDEX if folder.is_dir()
                    else hub_file(str(self.source), EMBEDDINGS_INDEX, self.hub, VOICES_HINT))
            try:
                self._index = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise ValueError(f"{EMBEDDINGS_INDEX} of {self.source} is unreadable ({e})") from None
        entry = self._index.get(name)
        if not isinstance(entry, dict):
            raise ValueError(f"preset {name!r} is not listed in {EMBEDDINGS_INDEX} of {self.source}")
        return entry

    def resolve(self, voice: VoiceLike) -> Voice | None:
        """The voice (history prompt) a generation is conditioned on, or None (no voice).

        voice: a `Voice`; a preset name ("v2/en_speaker_6", "announcer"); a path to a Bark `.npz` file, as a
        `Path` or a string ("/some/dir/MYVOICE.NPZ", "~/voices/me.npz", "voices/me.npz": any case of the suffix,
        `~` expanded, relative to the working directory); a mapping of the three prompt arrays semantic_prompt,
        coarse_prompt and fine_prompt (what suno's `history_prompt` takes as a dict, or `np.load` of an `.npz`);
        or None. A string is a preset name if it is one; otherwise a path if it names an existing file or cannot
        be a preset name (a suffix, a leading "/", "~" or ".", several folders: `voices.voice.voice_path`).
        ValueError, saying what is allowed: an unknown preset (with close matches), a missing file (naming the
        preset a path like "v2/en_speaker_6.npz" means), a file or mapping that is not a valid voice (the same
        checks for both: `voices.voice.validate_prompt_arrays`).
        """
        if voice is None or isinstance(voice, Voice):
            return voice
        if isinstance(voice, Mapping):
            return Voice.from_arrays(voice, name=DICT_VOICE_NAME)
        if isinstance(voice, str) and not voice.strip():
            raise ValueError("voice is an empty string: pass a preset name such as 'v2/en_speaker_6', a path to an "
                             ".npz file, or None for no voice")
        if isinstance(voice, str) and is_preset_name(voice.strip()):
            return self.load(voice.strip())
        if isinstance(voice, (str, os.PathLike)):
            path = voice_path(voice)
            return self.load(voice.strip()) if path is None else Voice.load(path)
        raise ValueError(f"voice must be a preset name, a path to an .npz file (str or Path), a dict of the three "
                         f"prompt arrays ({', '.join(PROMPT_KEYS)}), a Voice or None; got {type(voice).__name__}")
