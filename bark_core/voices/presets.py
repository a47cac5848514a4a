"""Loading preset voices by name from a local folder or the Hub's `speaker_embeddings/`."""

from __future__ import annotations

import json
import threading
from pathlib import Path, PurePosixPath

import numpy as np

from ..models.hub import EMBEDDINGS_INDEX, VOICES_HINT, HubOptions, hub_file
from .catalog import check_preset_name
from .voice import PROMPT_KEYS, Voice


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
