"""A voice from a recording: EnCodec codes for the coarse/fine prompts, HuBERT + quantizer for the semantic prompt.

The semantic prompt follows the community method every Bark cloning tool uses (gitmylo's HuBERT quantizer, also in
Coqui TTS): HuBERT-base features of layer 9 at 16 kHz, then an LSTM quantizer whose argmax is a semantic token.
"""

from __future__ import annotations

import json
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .. import constants as C
from ..models.checkpoints import safe_torch_load
from ..models.hub import CLONING_HINT, HubOptions, hub_file
from ..models.loading import TRANSFORMERS_LOCK, load_transformers_model
from .audio import Recording, prepare_clip, read_recording, resample
from .voice import Voice

HUBERT_SAMPLE_RATE = 16_000
HUBERT_LAYER = 9
DEFAULT_HUBERT = "facebook/hubert-base-ls960"
QUANTIZER_REPO = "GitMylo/bark-voice-cloning"
QUANTIZERS = ("quantifier_hubert_base_ls960_14.pth", "quantifier_V1_hubert_base_ls960_23.pth",
              "quantifier_hubert_base_ls960.pth")
DEFAULT_QUANTIZER = f"{QUANTIZER_REPO}/{QUANTIZERS[0]}"


@dataclass(frozen=True)
class QuantizerConfig:
    """The `.info` entry of a quantizer file; files without one are version 0 with these defaults."""

    input_size: int = 768
    hidden_size: int = 1024
    output_size: int = C.SEMANTIC_VOCAB_SIZE
    version: int = 0


class HubertQuantizer(nn.Module):
    """version 0: LSTM(2 layers) -> Linear; version 1: LSTM -> Linear(hidden, 4096) -> Linear. Token = argmax."""

    def __init__(self, config: QuantizerConfig):
        super().__init__()
        if config.version not in (0, 1):
            raise ValueError(f"quantizer version {config.version} is not supported (0 or 1)")
        self.config = config
        self.lstm = nn.LSTM(config.input_size, config.hidden_size, 2, batch_first=True)
        width = config.hidden_size
        if config.version == 1:
            self.intermediate = nn.Linear(config.hidden_size, 4096)
            width = 4096
        self.fc = nn.Linear(width, config.output_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, T, input_size) -> logits (B, T, output_size)."""
        x, _ = self.lstm(features)
        if self.config.version == 1:
            x = self.intermediate(x)
        return self.fc(x)


def read_quantizer_info(path: Path) -> QuantizerConfig:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [n for n in zf.namelist() if n.endswith("/.info")]
            if not infos:
                return QuantizerConfig()
            data = json.loads(zf.read(infos[0]).decode("utf-8"))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ValueError(f"quantizer {path.name} is not a readable torch zip with a JSON .info ({e})") from None
    keys = {"input_size", "hidden_size", "output_size", "version"}
    if not isinstance(data, dict) or not keys <= set(data) or not all(isinstance(data[k], int) for k in keys):
        raise ValueError(f"quantizer {path.name}: .info must hold integers {sorted(keys)}")
    return QuantizerConfig(**{k: data[k] for k in keys})


def load_quantizer(path: str | Path) -> HubertQuantizer:
    """Load a quantizer file (weights_only; its `.info` gives the architecture)."""
    path = Path(path)
    config = read_quantizer_info(path)
    state = safe_torch_load(path)
    model = HubertQuantizer(config)
    if not isinstance(state, dict):
        raise ValueError(f"quantizer {path.name} does not hold a state dict")
    missing, extra = sorted(set(model.state_dict()) - set(state)), sorted(set(state) - set(model.state_dict()))
    if missing or extra:
        raise ValueError(f"quantizer {path.name} does not match version {config.version}: missing {missing}, "
                         f"extra {extra}")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"quantizer {path.name} has weights of the wrong shape ({str(e)[:200]})") from None
    return model.eval()


def resolve_quantizer(ref: str | Path, hub: HubOptions) -> Path:
    """A local .pth path, or "owner/repo/file.pth" on the Hub."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    parts = str(ref).split("/")
    if len(parts) != 3 or not parts[2].endswith(".pth"):
        raise ValueError(f"quantizer must be a local .pth file or 'owner/repo/file.pth'; got {ref!r}")
    return hub_file(f"{parts[0]}/{parts[1]}", parts[2], hub, CLONING_HINT)


class VoiceCloner:
    """Makes `Voice`s from recordings. Holds HuBERT, the quantizer and (shared with the pipeline) the codec."""

    def __init__(self, hubert: nn.Module, quantizer: HubertQuantizer, codec: nn.Module,
                 device: torch.device | str = "cpu"):
        hidden = hubert.config.hidden_size
        if quantizer.config.input_size != hidden:
            raise ValueError(f"the quantizer expects {quantizer.config.input_size}-wide features; "
                             f"HuBERT gives {hidden}")
        if hubert.config.num_hidden_layers < HUBERT_LAYER:
            raise ValueError(f"HuBERT has {hubert.config.num_hidden_layers} layers; layer {HUBERT_LAYER} is needed")
        self.device = torch.device(device)
        self.hubert, self.quantizer, self.codec = hubert.eval(), quantizer.eval(), codec
        self._lock = threading.Lock()  # the codec may be shared with a pipeline on another thread's device moves
        for m in (self.hubert, self.quantizer):
            m.requires_grad_(False).to(self.device)

    @classmethod
    def from_pretrained(cls, codec: nn.Module, *, hubert: str | Path = DEFAULT_HUBERT,
                        quantizer: str | Path = DEFAULT_QUANTIZER, device: str = "cpu",
                        hub: HubOptions | None = None) -> VoiceCloner:
        with TRANSFORMERS_LOCK:
            from transformers import HubertConfig, HubertModel

        hub = hub or HubOptions()
        model = load_transformers_model(HubertModel, HubertConfig, hubert, hub, "HuBERT", hint=CLONING_HINT)
        return cls(model, load_quantizer(resolve_quantizer(quantizer, hub)), codec, device)

    @torch.inference_mode()
    def semantic_tokens(self, wav16: np.ndarray) -> np.ndarray:
        """wav16 (n,) at 16 kHz -> semantic tokens (≈ n / 320,) in 0..9999."""
        x = torch.from_numpy(wav16)[None].to(self.device)
        hidden = self.hubert(x, output_hidden_states=True).hidden_states[HUBERT_LAYER]
        tokens = self.quantizer(hidden).argmax(dim=-1)[0]
        return tokens.cpu().numpy().astype(np.int64)

    @torch.inference_mode()
    def codec_codes(self, wav24: np.ndarray) -> np.ndarray:
        """wav24 (n,) at 24 kHz -> EnCodec codes (8, ≈ n / 320) at 6 kbps."""
        device = next(self.codec.parameters()).device
        x = torch.from_numpy(wav24)[None, None].to(device)
        codes = self.codec.encode(x, bandwidth=C.CODEC_BANDWIDTH_KBPS).audio_codes  # (frames=1, B, n_q, T)
        return codes[0, 0].cpu().numpy().astype(np.int64)

    def voice_from_recording(self, recording: Recording | str | Path, name: str | None = None) -> Voice:
        """A recording (a path, or a `Recording`) -> a validated Voice (semantic, coarse = fine[:2], fine)."""
        rec = recording if isinstance(recording, Recording) else read_recording(recording)
        clip = prepare_clip(rec)
        wav24 = resample(clip.samples, clip.sample_rate, C.SAMPLE_RATE)
        wav16 = resample(clip.samples, clip.sample_rate, HUBERT_SAMPLE_RATE)
        with self._lock:
            fine = self.codec_codes(wav24)
            semantic = self.semantic_tokens(wav16)
        if semantic.max(initial=0) >= C.SEMANTIC_VOCAB_SIZE:
            raise ValueError("the quantizer produced tokens outside Bark's semantic vocabulary (wrong quantizer?)")
        return Voice.from_arrays({"semantic_prompt": semantic, "coarse_prompt": fine[: C.N_COARSE_CODEBOOKS],
                                  "fine_prompt": fine}, name=name or "recording")
