"""Serving state shared by every caller (a web app's users, a server's requests): named pipelines loaded lazily,
once; and the stop flags of the generations each session is running."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from ..models.config import DEFAULT_TOKENIZER
from ..models.hub import HubOptions, has_random_weights
from ..models.loading import load_tokenizer, resolve_device
from ..pipeline import BarkPipeline
from ..voices.cloning import VoiceCloner


class Pipelines:
    """One shared pipeline per model name, loaded lazily on first use (never at start-up) and shared by all users."""

    def __init__(self, models: list[str], device: str = "auto", offload: bool = False, voices: str | None = None,
                 hubert: str | None = None, quantizer: str | None = None, graphs: str = "auto"):
        self.models, self.device, self.offload, self.voices = models, device, offload, voices
        self.hubert, self.quantizer, self.graphs = hubert, quantizer, graphs
        self._loaded: dict[str, BarkPipeline] = {}
        self._variants: dict[tuple[str, str], BarkPipeline] = {}
        self._cloners: dict[str, VoiceCloner] = {}
        self._tokenizers: dict[str, object] = {}
        self._lock = threading.Lock()

    def get(self, name: str, precision: str = "exact",
            progress: Callable[[str, int, int], None] | None = None) -> BarkPipeline:
        """The shared pipeline for `name`; "fast" is an int8 sibling sharing its tokenizer, codec and voices.
        progress(stage, done, total): what a first request waits for (see `BarkPipeline.from_pretrained`), then
        ("preparing the fast weights", 1, 1) when the fast sibling is made; nothing once loaded."""
        if name not in self.models:
            raise ValueError(f"model must be one of {self.models}; got {name!r}")
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = BarkPipeline.from_pretrained(name, device=self.device, offload=self.offload,
                                                                  voices=self.voices, graphs=self.graphs,
                                                                  progress=progress)
            if precision == "exact":
                return self._loaded[name]
            if (name, precision) not in self._variants:
                if progress is not None:
                    progress(f"preparing the {precision} weights", 1, 1)
                self._variants[(name, precision)] = self._loaded[name].with_precision(precision)
            return self._variants[(name, precision)]

    @property
    def default_precision(self) -> str:
        """"fast" where the models run on a CPU (int8 weights, about twice exact's speed there), "exact" on a GPU
        (where fast mode is the same bf16 as exact)."""
        return "exact" if resolve_device(self.device).type == "cuda" else "fast"

    def random_weights(self, name: str) -> bool:
        """Whether model `name` is a folder marked as random weights (known before anything loads)."""
        return has_random_weights(name)

    def cloner(self, name: str) -> VoiceCloner:
        """The voice-maker for a model (HuBERT + quantizer load on first use; a model folder may hold `hubert/`
        and `quantizer.pth`)."""
        pipe = self.get(name)
        with self._lock:
            if name not in self._cloners:
                self._cloners[name] = pipe.voice_cloner(hubert=self.hubert, quantizer=self.quantizer)
            return self._cloners[name]

    def tokenizer(self, name: str):
        """The model's tokenizer for live counts, without loading the models (None if it can't be had)."""
        if name in self._loaded:
            return self._loaded[name].tokenizer
        if name not in self._tokenizers:
            folder = Path(name) / "tokenizer"
            try:
                self._tokenizers[name] = load_tokenizer(folder if folder.is_dir() else DEFAULT_TOKENIZER, HubOptions())
            except ValueError:
                self._tokenizers[name] = None
        return self._tokenizers[name]


class StopSignals:
    """The cancel flags of the generations each browser session is running.

    Stop cancels the event in the page and also sets these flags on the server: a Stop pressed in the instant
    before the page has learned the running event's id would otherwise be lost, and the take would finish.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: dict[str, set[threading.Event]] = {}

    @contextmanager
    def register(self, session: str | None, flag: threading.Event):
        key = session or ""
        with self._lock:
            self._flags.setdefault(key, set()).add(flag)
        try:
            yield flag
        finally:
            with self._lock:
                self._flags.get(key, set()).discard(flag)
                if not self._flags.get(key):
                    self._flags.pop(key, None)

    def stop(self, session: str | None) -> int:
        """Sets every flag of this session; returns how many generations were told to stop."""
        if not session:  # an anonymous caller must not stop other people's work
            return 0
        with self._lock:
            flags = list(self._flags.get(session, ()))
        for flag in flags:
            flag.set()
        return len(flags)
