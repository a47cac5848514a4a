"""Checkpoint loading: every real-format quirk, hostile and broken files, and readable offline errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bark_core import BarkPipeline, ModelFilesUnavailable
from bark_core.models.checkpoints import load_suno_checkpoint, safe_torch_load
from bark_core.models.hub import HubOptions, resolve_model
from bark_core.testing.random_weights import random_models, suno_checkpoint, write_suno_files

ROOT = Path(__file__).resolve().parent.parent


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("kind", ["text", "coarse", "fine"])
@pytest.mark.parametrize("quirks", [dict(), dict(compiled_prefix=True), dict(mask_buffers=False),
                                    dict(legacy_vocab_size=True)])
def test_suno_format_quirks(tmp_path, tiny_models, kind, quirks):
    torch.save(suno_checkpoint(tiny_models[kind], **quirks), tmp_path / "m.pt")
    assert same_weights(load_suno_checkpoint(tmp_path / "m.pt", kind), tiny_models[kind])


def test_legacy_vocab_size_is_read(tmp_path, tiny_models):
    ckpt = suno_checkpoint(tiny_models["coarse"], legacy_vocab_size=True)
    assert "vocab_size" in ckpt["model_args"] and "input_vocab_size" not in ckpt["model_args"]
    torch.save(ckpt, tmp_path / "c.pt")
    assert load_suno_checkpoint(tmp_path / "c.pt", "coarse").config.input_vocab_size == 12_096


def test_numpy1_scalar_name_is_allowed(tmp_path, tiny_models):
    """Real files were pickled by numpy 1.x, which names the scalar `numpy.core.multiarray.scalar`."""
    import zipfile

    torch.save(suno_checkpoint(tiny_models["fine"]), tmp_path / "new.pt")
    with zipfile.ZipFile(tmp_path / "new.pt") as src, zipfile.ZipFile(tmp_path / "old.pt", "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                assert b"numpy._core.multiarray" in data
                data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            dst.writestr(info, data)
    assert same_weights(load_suno_checkpoint(tmp_path / "old.pt", "fine"), tiny_models["fine"])


def test_fine_heads_are_tied_and_may_be_stored_once(tmp_path, tiny_models):
    ckpt = suno_checkpoint(tiny_models["fine"])
    for i in range(7):
        del ckpt["model"][f"lm_heads.{i}.weight"]
    torch.save(ckpt, tmp_path / "f.pt")
    fine = load_suno_checkpoint(tmp_path / "f.pt", "fine")
    assert fine.lm_heads[3].weight.data_ptr() == fine.transformer.wtes[4].weight.data_ptr()
    assert same_weights(fine, tiny_models["fine"])


def test_bias_true_checkpoints_load(tmp_path):
    models = random_models("tiny", seed=3, bias=True)
    torch.save(suno_checkpoint(models["text"]), tmp_path / "t.pt")
    assert load_suno_checkpoint(tmp_path / "t.pt", "text").transformer.h[0].attn.c_attn.bias is not None


def test_missing_and_extra_keys_are_listed(tmp_path, tiny_models):
    ckpt = suno_checkpoint(tiny_models["coarse"])
    del ckpt["model"]["transformer.h.1.mlp.c_fc.weight"]
    ckpt["model"]["transformer.h.9.surprise"] = torch.zeros(1)
    torch.save(ckpt, tmp_path / "c.pt")
    with pytest.raises(ValueError, match=r"missing keys \['transformer.h.1.mlp.c_fc.weight'\].*extra keys "
                                         r"\['transformer.h.9.surprise'\]"):
        load_suno_checkpoint(tmp_path / "c.pt", "coarse")


def test_wrong_shape_is_named(tmp_path, tiny_models):
    ckpt = suno_checkpoint(tiny_models["coarse"])
    ckpt["model"]["transformer.wpe.weight"] = torch.zeros(10, 32)
    torch.save(ckpt, tmp_path / "c.pt")
    with pytest.raises(ValueError, match="transformer.wpe.weight has shape"):
        load_suno_checkpoint(tmp_path / "c.pt", "coarse")


@pytest.mark.parametrize("given,slot", [("coarse", "text"), ("text", "coarse"), ("fine", "coarse")])
def test_wrong_model_in_slot(tmp_path, tiny_models, given, slot):
    torch.save(suno_checkpoint(tiny_models[given]), tmp_path / "x.pt")
    with pytest.raises(ValueError, match=f"does not fit the {slot} slot|does not match"):
        load_suno_checkpoint(tmp_path / "x.pt", slot)


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path, tiny_models):
    marker = tmp_path / "pwned"
    evil = Evil()
    evil.marker = marker
    ckpt = suno_checkpoint(tiny_models["fine"])
    ckpt["payload"] = evil
    torch.save(ckpt, tmp_path / "fine.pt")
    with pytest.raises(ValueError, match="Refusing to load fine.pt.*run code"):
        load_suno_checkpoint(tmp_path / "fine.pt", "fine")
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint(tmp_path, tiny_models, damage):
    torch.save(suno_checkpoint(tiny_models["fine"]), tmp_path / "fine.pt")
    data = (tmp_path / "fine.pt").read_bytes()
    data = {"truncate": data[: len(data) // 2], "garbage": b"RIFF....WAVEfmt " * 100, "empty": b""}[damage]
    (tmp_path / "fine.pt").write_bytes(data)
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        safe_torch_load(tmp_path / "fine.pt")


def test_not_a_bark_dict(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "t.pt")
    with pytest.raises(ValueError, match="not a Bark checkpoint"):
        load_suno_checkpoint(tmp_path / "t.pt", "text")


def test_text_2_files_are_preferred(tmp_path, model_dir):
    folder = tmp_path / "m"
    shutil.copytree(model_dir, folder)
    write_suno_files(folder, random_models("tiny", seed=9), names=("text_2.pt", "coarse_2.pt", "fine_2.pt"))
    src = resolve_model(str(folder), None, None, HubOptions(local_files_only=True))
    assert [p.name for p in src.suno_files] == ["text_2.pt", "coarse_2.pt", "fine_2.pt"]
    assert src.tokenizer == folder / "tokenizer" and src.codec == folder / "codec"


def test_folder_without_model(tmp_path):
    with pytest.raises(ModelFilesUnavailable, match="holds no Bark model"):
        BarkPipeline.from_pretrained(str(tmp_path))


@pytest.mark.parametrize("model,repo,file", [("bark-small", "suno/bark", "text.pt"),
                                             ("bark", "suno/bark", "text_2.pt"),
                                             ("someone/my-bark", "someone/my-bark", "config.json")])
def test_offline_errors_name_repo_file_and_fix(tmp_path, model, repo, file):
    with pytest.raises(ModelFilesUnavailable) as e:
        BarkPipeline.from_pretrained(model, cache_dir=str(tmp_path), local_files_only=True)
    msg = str(e.value)
    assert f"'{repo}'" in msg and file in msg and "local folder" in msg and "Traceback" not in msg


def test_missing_local_tokenizer_falls_back_to_hub_with_clear_error(tmp_path, model_dir):
    folder = tmp_path / "m"
    shutil.copytree(model_dir, folder)
    shutil.rmtree(folder / "tokenizer")
    with pytest.raises(ModelFilesUnavailable, match="bert-base-multilingual-cased"):
        BarkPipeline.from_pretrained(str(folder), cache_dir=str(tmp_path / "cache"), local_files_only=True)


def test_unreachable_hub_message(tmp_path):
    """Online mode, but the Hub cannot be reached: the error says so, names the file and the local fix."""
    code = ("from bark_core import BarkPipeline\n"
            f"try:\n    BarkPipeline.from_pretrained('bark-small', cache_dir='{tmp_path}')\n"
            "except ValueError as e:\n    print('MSG', e)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_ETAG_TIMEOUT": "2",
           "HF_HUB_DOWNLOAD_TIMEOUT": "2"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120).stdout
    assert "MSG Could not get text.pt from the Hugging Face Hub repo 'suno/bark'" in out
    assert "local folder" in out


def cached_hub_file(cache: Path, repo: str, filename: str) -> Path:
    """A file as huggingface_hub's cache holds it (refs/main -> snapshots/<commit>/filename)."""
    commit = "0" * 40
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    (folder / "snapshots" / commit).mkdir(parents=True)
    path = folder / "snapshots" / commit / filename
    path.write_text("x")
    return path


def test_an_unreachable_hub_answers_from_the_cache_or_fails_at_once(tmp_path, monkeypatch):
    """The probe finds no connection: the download runs cache-only (no ~24 s of retries), so a cached file is
    found and a missing one is reported as the Hub being unreachable."""
    import huggingface_hub

    from bark_core.models import hub

    def no_connection(address, timeout=None):
        raise OSError(101, "Network is unreachable")

    calls = []
    real = huggingface_hub.hf_hub_download
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    monkeypatch.setattr(hub.socket, "create_connection", no_connection)
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    cached = cached_hub_file(tmp_path, "suno/bark", "text.pt")
    opts = HubOptions(cache_dir=str(tmp_path))
    assert hub.hub_file("suno/bark", "text.pt", opts) == cached
    with pytest.raises(ModelFilesUnavailable, match=r"not in the local cache and the Hub \(huggingface.co:443\) "
                                                    r"could not be reached") as e:
        hub.hub_file("suno/bark", "coarse.pt", opts)
    assert "coarse.pt" in str(e.value) and "local folder" in str(e.value)
    assert [kw["local_files_only"] for kw in calls] == [True, True]
    # A proxy may reach what a direct connection cannot: then the probe leaves it to huggingface_hub.
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert hub.hub_reachable(1.0)


def test_the_hub_probe_connects_to_the_configured_endpoint(monkeypatch):
    import socket

    import huggingface_hub

    from bark_core.models import hub

    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{port}")
        assert hub.hub_host() == ("127.0.0.1", port) and hub.hub_reachable(2.0)
    assert not hub.hub_reachable(2.0)  # the server is gone: refused


@pytest.mark.parametrize("bad", ["", "../nope/x/y", 42])
def test_bad_model_argument(bad):
    with pytest.raises(ValueError, match="model"):
        BarkPipeline.from_pretrained(bad)


def test_device_checks(model_dir):
    from bark_core.models.loading import resolve_device

    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_offload_keeps_models_on_cpu_and_matches(model_dir, pipe):
    off = BarkPipeline.from_pretrained(str(model_dir), device="cpu", offload=True, voices=pipe.presets.source)
    a = off.generate("Hello world", seed=3, max_duration_s=0.5)
    b = pipe.generate("Hello world", seed=3, max_duration_s=0.5)
    np.testing.assert_array_equal(a.fine_tokens, b.fine_tokens)
    assert next(off.coarse_model.parameters()).device.type == "cpu"


def test_hub_failures_say_how_to_do_without_the_hub(tmp_path):
    """Each kind of file names its own local fix: model files the model folder, presets a voices folder, voices
    from recordings local HuBERT / quantizer copies."""
    from bark_core.voices.cloning import VoiceCloner, resolve_quantizer
    from bark_core.voices.presets import PresetStore

    offline = HubOptions(cache_dir=str(tmp_path), local_files_only=True)
    with pytest.raises(ModelFilesUnavailable, match="speaker_embeddings_path.json") as e:
        PresetStore("suno/bark", offline).load("v2/en_speaker_6")
    assert "--voices /path/to/voices" in str(e.value) and "no voice" in str(e.value)
    with pytest.raises(ModelFilesUnavailable, match="quantizer.pth") as e:
        resolve_quantizer("someone/repo/quantizer.pth", offline)
    assert "--quantizer /path/to/quantizer.pth" in str(e.value)
    with pytest.raises(ModelFilesUnavailable, match="HuBERT") as e:
        VoiceCloner.from_pretrained(torch.nn.Identity(), hubert="facebook/hubert-base-ls960", hub=offline)
    assert "--hubert /path/to/hubert" in str(e.value)
    with pytest.raises(ModelFilesUnavailable, match="text.pt") as e:
        BarkPipeline.from_pretrained("bark-small", cache_dir=str(tmp_path), local_files_only=True)
    assert "--model /path/to/folder" in str(e.value)


def test_weight_norm_tensors_load_under_their_old_names(tmp_path, tiny_models):
    """The real codec, the codec inside transformers Bark checkpoints and HuBERT name their weight-normed
    tensors weight_g / weight_v (saved before parametrized weight norm); the fixtures do too. Each loads to the
    weights transformers' own from_pretrained gives, and to those of the same model saved with today's names."""
    from safetensors import safe_open
    from transformers import EncodecModel, HubertConfig, HubertModel

    from bark_core.models.loading import load_codec, load_models, load_transformers_model
    from bark_core.testing.random_weights import write_codec, write_hubert, write_transformers_folder

    old, new = write_codec(tmp_path / "old", seed=3), write_codec(tmp_path / "new", seed=3, legacy_names=False)
    with safe_open(str(old / "model.safetensors"), "pt") as f:
        assert "encoder.layers.0.conv.weight_g" in set(f.keys())
    codec = load_codec(old, HubOptions())
    assert same_weights(codec, load_codec(new, HubOptions()))
    assert same_weights(codec, EncodecModel.from_pretrained(str(old)))
    hf = write_transformers_folder(tmp_path / "hf", tiny_models, old)
    with safe_open(str(hf / "model.safetensors"), "pt") as f:
        assert "codec_model.encoder.layers.0.conv.weight_v" in set(f.keys())
    _, embedded = load_models(resolve_model(str(hf), None, None, HubOptions(local_files_only=True)))
    assert same_weights(embedded, codec)
    hubert_old, hubert_new = write_hubert(tmp_path / "h-old"), write_hubert(tmp_path / "h-new", legacy_names=False)
    hubert = load_transformers_model(HubertModel, HubertConfig, hubert_old, HubOptions(), "HuBERT")
    assert same_weights(hubert, load_transformers_model(HubertModel, HubertConfig, hubert_new, HubOptions(),
                                                        "HuBERT"))
    assert same_weights(hubert, HubertModel.from_pretrained(str(hubert_old)))
