"""Voices from recordings: decoding and preparing clips, the quantizer format, and the produced voice."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import soundfile as sf
import torch

from bark_core.testing.random_weights import write_hubert, write_quantizer
from bark_core.voices import audio as A
from bark_core.voices.cloning import HubertQuantizer, VoiceCloner, load_quantizer, read_quantizer_info

SR = 44_100


def speech_like(seconds: float, sr: int = SR, pause_at: float | None = None, seed: int = 0) -> np.ndarray:
    """Noise bursts shaped like syllables (4 per second), with an optional 0.3 s pause."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    env = (np.sin(2 * np.pi * 2 * t) ** 2) * 0.8 + 0.2
    x = rng.standard_normal(len(t)) * 0.1 * env + 0.2 * np.sin(2 * np.pi * 180 * t) * env
    if pause_at is not None:
        x[int(pause_at * sr) : int((pause_at + 0.3) * sr)] = 0
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def cloner(tmp_path_factory, pipe):
    d = tmp_path_factory.mktemp("cloner")
    return VoiceCloner.from_pretrained(pipe.codec, hubert=write_hubert(d / "hubert"),
                                       quantizer=write_quantizer(d / "q.pth", version=0))


@pytest.mark.parametrize("sr", [8_000, 16_000, 22_050, 44_100, 48_000, 192_000])
def test_any_sample_rate_gives_a_valid_voice(cloner, tmp_path, sr):
    sf.write(tmp_path / "r.wav", speech_like(3.0, sr), sr)
    v = cloner.voice_from_recording(tmp_path / "r.wav")
    assert abs(v.duration_s - 3.0) < 0.15  # trimmed edges only
    assert round(v.coarse_prompt.shape[1] / len(v.semantic_prompt), 1) == 1.5
    np.testing.assert_array_equal(v.coarse_prompt, v.fine_prompt[:2])


def test_stereo_and_eight_channels(cloner, tmp_path):
    mono = speech_like(2.0)
    sf.write(tmp_path / "st.wav", np.stack([mono, mono], axis=1), SR)
    sf.write(tmp_path / "m.wav", mono, SR)
    sf.write(tmp_path / "8.wav", np.tile(mono[:, None], (1, 8)), SR)
    a, b = cloner.voice_from_recording(tmp_path / "st.wav"), cloner.voice_from_recording(tmp_path / "m.wav")
    np.testing.assert_array_equal(a.fine_prompt, b.fine_prompt)
    assert cloner.voice_from_recording(tmp_path / "8.wav").fine_prompt.shape[0] == 8


def test_silence_padding_is_trimmed_and_loudness_normalised(tmp_path):
    x = speech_like(2.0)
    padded = np.concatenate([np.zeros(SR), x * 0.05, np.zeros(2 * SR)])
    a = A.prepare_clip(A.to_recording(x, SR))
    b = A.prepare_clip(A.to_recording(padded, SR))
    assert abs(len(b.samples) - len(a.samples)) < 0.05 * SR
    rms = lambda s: 20 * np.log10(np.sqrt(np.mean(s.astype(np.float64) ** 2)))  # noqa: E731
    assert abs(rms(a.samples) - A.TARGET_RMS_DB) < 0.5 and abs(rms(b.samples) - A.TARGET_RMS_DB) < 0.5


def test_long_clip_is_cut_at_a_pause_between_10_and_15_s():
    clip = A.prepare_clip(A.to_recording(speech_like(40.0, pause_at=12.3), SR))
    assert 12.25 <= clip.duration_s <= 12.65


@pytest.mark.parametrize("make,message", [
    (lambda p: sf.write(p, speech_like(0.5), SR), "at least 1 s of speech"),
    (lambda p: sf.write(p, np.zeros(3 * SR, np.float32), SR), "silent"),
    (lambda p: sf.write(p, np.full(SR * 2, np.nan, np.float32), SR, subtype="FLOAT"), "NaN or infinity"),
    (lambda p: p.write_bytes(b"hello, I am a text file"), "not audio"),
    (lambda p: p.write_bytes(b""), "not audio"),
    (lambda p: sf.write(p, speech_like(2.0, 1000), 1000), "sample rate is 1000 Hz"),
    (lambda p: sf.write(p, np.zeros(int(301 * 8000), np.int16), 8000, subtype="PCM_16"), "min long"),
])
def test_bad_recordings(cloner, tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(ValueError, match=message):
        cloner.voice_from_recording(path)


def test_truncated_file(tmp_path, cloner):
    sf.write(tmp_path / "r.wav", speech_like(3.0), SR)
    data = (tmp_path / "r.wav").read_bytes()
    (tmp_path / "t.wav").write_bytes(data[:200])
    with pytest.raises(ValueError, match="not audio|could not be decoded|at least 1 s"):
        cloner.voice_from_recording(tmp_path / "t.wav")


def test_size_cap_is_checked_before_decoding(tmp_path, cloner):
    big = tmp_path / "huge.wav"
    with open(big, "wb") as f:
        f.truncate(A.MAX_UPLOAD_BYTES + 1)  # not audio at all: only the size check can have refused it
    with pytest.raises(ValueError, match="MiB"):
        cloner.voice_from_recording(big)


@pytest.mark.parametrize("fmt", ["FLAC", "OGG", "MP3"])
def test_compressed_formats(cloner, tmp_path, fmt):
    path = tmp_path / f"r.{fmt.lower()}"
    sf.write(path, speech_like(2.0, 48_000), 48_000, format=fmt)
    assert cloner.voice_from_recording(path).duration_s > 1.5


def test_voice_drives_generate_and_round_trips(cloner, pipe, tmp_path):
    sf.write(tmp_path / "r.wav", speech_like(5.0), SR)
    voice = cloner.voice_from_recording(tmp_path / "r.wav")
    a = pipe.generate("Hello world", voice=voice, seed=1, max_duration_s=1.0)
    path = voice.save(tmp_path / "mine.npz")
    b = pipe.generate("Hello world", voice=str(path), seed=1, max_duration_s=1.0)
    np.testing.assert_array_equal(a.fine_tokens, b.fine_tokens)


# quantizer files ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [0, 1])
def test_quantizer_with_info(tmp_path, version):
    path = write_quantizer(tmp_path / "q.pth", input_size=32, hidden_size=24, version=version)
    assert read_quantizer_info(path).version == version
    q = load_quantizer(path)
    assert hasattr(q, "intermediate") == (version == 1)
    assert q(torch.zeros(1, 7, 32)).shape == (1, 7, 10_000)


def test_quantizer_without_info_uses_version0_defaults(tmp_path):
    path = write_quantizer(tmp_path / "old.pth", input_size=768, hidden_size=1024, with_info=False)
    with zipfile.ZipFile(path) as zf:
        assert not any(n.endswith("/.info") for n in zf.namelist())
    q = load_quantizer(path)
    assert (q.config.input_size, q.config.hidden_size, q.config.version) == (768, 1024, 0)
    assert q.lstm.num_layers == 2 and q.fc.out_features == 10_000


def test_quantizer_info_that_lies_is_refused(tmp_path):
    path = write_quantizer(tmp_path / "q.pth", version=0)
    with zipfile.ZipFile(path) as zf:
        data = {n: zf.read(n) for n in zf.namelist()}
    info = next(n for n in data if n.endswith("/.info"))
    data[info] = b'{"input_size": 32, "hidden_size": 24, "output_size": 10000, "version": 1}'  # v0 weights
    with zipfile.ZipFile(path, "w") as zf:
        for n, b in data.items():
            zf.writestr(n, b)
    with pytest.raises(ValueError, match="does not match version 1"):
        load_quantizer(path)


def test_malicious_quantizer_is_refused(tmp_path):
    import os

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"lstm.weight_ih_l0": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="Refusing"):
        load_quantizer(tmp_path / "evil.pth")
    assert not (tmp_path / "pwned").exists()


def test_quantizer_must_fit_hubert(tmp_path, pipe):
    with pytest.raises(ValueError, match="expects 768-wide features"):
        VoiceCloner.from_pretrained(pipe.codec, hubert=write_hubert(tmp_path / "h"),
                                    quantizer=write_quantizer(tmp_path / "q.pth", 768, 16))


def test_quantizer_class_versions():
    from bark_core.voices.cloning import QuantizerConfig

    with pytest.raises(ValueError, match="version 2"):
        HubertQuantizer(QuantizerConfig(version=2))
