"""The app, launched on tiny random checkpoints and driven through gradio_client like a remote user."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import soundfile as sf

from bark_core import constants as C

from .conftest import PROMPTS, need_prompts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(model_dir, tmp_path_factory):
    need_prompts()
    import app
    from bark_core.testing.random_weights import write_hubert, write_quantizer

    d = tmp_path_factory.mktemp("cloning")
    # A second model the machine cannot download: choosing it must give a clear message, not a traceback.
    pipes = app.Pipelines([str(model_dir), "bark-small"], device="cpu", voices=str(PROMPTS),
                          hubert=str(write_hubert(d / "hubert")), quantizer=str(write_quantizer(d / "q.pth")))
    demo = app.build_demo(pipes)
    demo.queue(max_size=8, default_concurrency_limit=1)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


DEFAULTS = dict(text="Hello! [laughs] I'm Bark.", language="en", preset="v2/en_speaker_6", npz_path=None,
                text_temp=0.7, waveform_temp=0.7, fine_temp=0.5, top_k=0, top_p=1.0, min_eos_p=0.2,
                max_duration=1.5, seed=7, random_seed=False)


def call(client, **kw):
    args = {**DEFAULTS, **kw}
    return client.predict(*args.values(), api_name="/generate")


def test_startup_loads_no_model(model_dir):
    import app

    pipes = app.Pipelines([str(model_dir)], device="cpu")
    app.build_demo(pipes)
    assert pipes._loaded == {}


def test_generate_returns_audio_tokens_seed_and_timings(client):
    out = call(client)
    audio_path, wav_path, voice_path, tokens_path, timing, settings, _plot = out[:7]
    tokens = np.load(tokens_path)
    n_frames = tokens["coarse_tokens"].shape[1]
    audio, sr = sf.read(wav_path)
    assert sr == C.SAMPLE_RATE and len(audio) == n_frames * C.SAMPLES_PER_FRAME
    assert tokens["fine_tokens"].shape == (8, n_frames)
    assert len(tokens["semantic_tokens"]) == 75  # max duration 1.5 s -> 75 semantic tokens
    assert settings["seed"] == 7 and settings["voice"] == "v2/en_speaker_6" and settings["language"] == "en"
    assert "real-time factor" in timing and "semantic" in timing and "seed **7**" in timing
    assert out[9] == 7
    voice = np.load(voice_path)
    np.testing.assert_array_equal(voice["fine_prompt"], tokens["fine_tokens"])


def test_same_seed_same_audio(client):
    a, b = call(client, seed=11), call(client, seed=11)
    np.testing.assert_array_equal(sf.read(a[1])[0], sf.read(b[1])[0])
    c = call(client, seed=12)
    assert not np.array_equal(np.load(a[3])["semantic_tokens"], np.load(c[3])["semantic_tokens"])


def test_uploaded_npz_voice_round_trips(client):
    from gradio_client import handle_file

    first = call(client, seed=3)
    a = call(client, preset="v2/de_speaker_0", npz_path=handle_file(first[2]), seed=5)
    b = call(client, preset="v2/de_speaker_0", npz_path=handle_file(first[2]), seed=5)
    assert a[5]["voice"].startswith("uploaded")
    np.testing.assert_array_equal(np.load(a[3])["fine_tokens"], np.load(b[3])["fine_tokens"])


@pytest.mark.parametrize("kw,message", [
    (dict(text=""), "text is empty"),
    (dict(text="   "), "text is empty"),
    (dict(text="hello " * 5000), "at most 20,000"),
    (dict(preset="v2/en_speaker_66"), "unknown voice preset"),
    (dict(preset="../../etc/passwd"), "unknown voice preset"),
    # Gradio checks its sliders' and numbers' ranges itself, and says which bound was crossed.
    (dict(text_temp=0.0), "less than minimum value 0.05"),
    (dict(top_k=-3), "less than minimum value 0"),
    (dict(min_eos_p=1.5), "greater than maximum value 1"),
    (dict(seed=None, random_seed=False), "seed must be a whole number"),
    (dict(seed=-4, random_seed=False), "less than minimum value 0"),
])
def test_bad_inputs_give_messages_and_app_keeps_serving(client, kw, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        call(client, **kw)
    assert call(client, max_duration=0.3)[5]["seed"] == 7


def test_broken_npz_upload(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(AppError, match="not a valid .npz"):
        call(client, npz_path=handle_file(str(bad)))
    np.savez(tmp_path / "short.npz", semantic_prompt=np.arange(10), coarse_prompt=np.zeros((2, 15), int))
    with pytest.raises(AppError, match="missing fine_prompt"):
        call(client, npz_path=handle_file(str(tmp_path / "short.npz")))


def test_random_seed_is_reported(client):
    out = call(client, random_seed=True, seed=0)
    assert isinstance(out[9], (int, float)) and out[5]["seed"] == out[9]


def test_model_that_cannot_be_downloaded_gives_a_clear_message(client, model_dir):
    from gradio_client.exceptions import AppError

    args = {**DEFAULTS, "model": "bark-small"}
    with pytest.raises(AppError, match=r"Could not get text.pt from the Hugging Face Hub repo 'suno/bark'"):
        client.predict(*args.values(), api_name="/generate")
    assert call(client, max_duration=0.3)[5]["model"] == str(model_dir)


def test_readme_client_example(client):
    """The README's gradio_client call, with named parameters, returns audio and tokens."""
    out = client.predict(
        text="Hello! [laughs]", language="en", preset="v2/en_speaker_6", npz_path=None, text_temp=0.7,
        waveform_temp=0.7, fine_temp=0.5, top_k=0, top_p=1.0, min_eos_p=0.2, max_duration=0.5, seed=7,
        random_seed=False, n_takes=2, live=False, api_name="/generate")
    audio, wav, voice_npz, tokens_npz, timing, settings, plot, table, take, seed, bundle = out[:11]
    other_takes = [o.get("value") for o in out[11:14]]  # takes 2..4 as WAV files (None past n_takes)
    tokens = np.load(tokens_npz)
    assert tokens["semantic_tokens"].shape == (25,) and seed == 7
    assert sf.read(audio)[0].shape[0] == tokens["fine_tokens"].shape[1] * C.SAMPLES_PER_FRAME
    assert sf.read(other_takes[0])[0].size and other_takes[1] is None and "2 takes" in timing


@pytest.mark.parametrize("speed", ["exact", "fast"])
def test_live_preview_streams_before_the_take_is_done(client, speed):
    import app

    if not app.has_ffmpeg():
        pytest.skip("ffmpeg is not installed (Gradio encodes streamed audio with it)")
    job = client.submit(**{**DEFAULTS, "max_duration": 3.0}, speed=speed, live=True, api_name="/generate")
    final = job.result(timeout=300)
    updates = job.outputs()
    assert len(updates) >= 3, "the live preview should arrive in several pieces before the take"
    assert all(u[0] is None or isinstance(u[0], dict) for u in updates[:-1])  # only the preview changes meanwhile
    tokens = np.load(final[3])
    plain = client.predict(**{**DEFAULTS, "max_duration": 3.0}, speed=speed, live=False, api_name="/generate")
    np.testing.assert_array_equal(np.load(plain[3])["fine_tokens"], tokens["fine_tokens"])  # the same take
    assert "first audio after" in final[4] and final[5]["precision"] == ("fp32" if speed == "exact"
                                                                        else "int8-dynamic")


def test_live_preview_plays_long_text_chunk_by_chunk(client):
    import app

    if not app.has_ffmpeg():
        pytest.skip("ffmpeg is not installed (Gradio encodes streamed audio with it)")
    text = " ".join(f"Sentence number {i} is here, and it goes on for a while." for i in range(3))  # 3 chunks
    settings = {**DEFAULTS, "text": text, "max_duration": 0.6}
    job = client.submit(**settings, live=True, api_name="/generate")
    final = job.result(timeout=300)
    assert len(job.outputs()) >= 4, "each chunk's preview should arrive before the take"
    plain = client.predict(**settings, live=False, api_name="/generate")
    np.testing.assert_array_equal(np.load(plain[3])["fine_tokens"], np.load(final[3])["fine_tokens"])
    assert "first audio after" in final[4]


def test_live_preview_plays_the_first_of_a_batch_of_takes(client):
    import app

    if not app.has_ffmpeg():
        pytest.skip("ffmpeg is not installed (Gradio encodes streamed audio with it)")
    settings = {**DEFAULTS, "max_duration": 1.0, "n_takes": 2}
    job = client.submit(**settings, live=True, api_name="/generate")
    final = job.result(timeout=300)
    assert len(job.outputs()) >= 3, "the first take's preview should arrive before the takes"
    plain = client.predict(**settings, live=False, api_name="/generate")
    np.testing.assert_array_equal(np.load(plain[3])["fine_tokens"], np.load(final[3])["fine_tokens"])
    assert sf.read(final[11]["value"])[0].tolist() == sf.read(plain[11]["value"])[0].tolist()  # take 2 too
    assert "2 takes in" in final[4] and "first audio after" in final[4]


def test_takes_are_batched_and_each_is_in_the_history(client):
    out = client.predict(**{**DEFAULTS, "max_duration": 1.0}, n_takes=3, api_name="/generate")
    table = out[7]
    assert [row[4] for row in table["data"]][-3:] == [7, 8, 9]  # seeds s, s+1, s+2
    single = call(client, seed=8, max_duration=1.0)
    assert sf.read(out[11]["value"])[0].tolist() == sf.read(single[1])[0].tolist()  # take 2 == seed 8 alone
    with pytest.raises(Exception, match="greater than maximum value 4"):
        client.predict(**DEFAULTS, n_takes=5, api_name="/generate")


def test_voice_list_order_and_language_filter():
    import app

    every = app.voice_choices("any")
    assert every[0].startswith("v2/") and every[-1] == app.NO_VOICE and len(every) == 272
    first_v1 = next(i for i, n in enumerate(every) if not n.startswith("v2/"))
    assert all(n.startswith("v2/") for n in every[:first_v1]) and first_v1 == 130
    assert every.index("announcer") < every.index("speaker_0") < len(every) - 1
    german = app.voice_choices("de")
    assert german == [f"v2/de_speaker_{i}" for i in range(10)] + [f"de_speaker_{i}" for i in range(10)] + [app.NO_VOICE]
    assert "announcer" in app.voice_choices("en") and "v2/de_speaker_1" not in app.voice_choices("en")


def test_command_line_starts_without_loading_models(model_dir, tmp_path):
    import shutil
    import subprocess
    import sys
    import time
    import urllib.request

    from .conftest import ROOT

    # A model folder whose checkpoint is broken: start-up only succeeds if it loads no model.
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "text.pt").write_bytes(b"not a checkpoint")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "app.py", "--model", str(broken), "--port", str(port), "--host",
                             "127.0.0.1", "--device", "cpu", "--offload", "--graphs", "static"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(120):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("app did not start")
        assert "Bark Studio" in page
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert "gradio.live" not in out  # --share is off by default


def test_voice_from_recording_is_private_to_its_session(app_url, tmp_path, model_dir):
    from gradio_client import Client, handle_file

    from .test_cloning import speech_like

    sf.write(tmp_path / "me.wav", speech_like(4.0), 44_100)
    alice, bob = Client(app_url, verbose=False), Client(app_url, verbose=False)
    info, status, npz = alice.predict(handle_file(str(tmp_path / "me.wav")), str(model_dir),
                                      api_name="/make_voice")
    assert "your recording" in info and "Voice made from" in status
    made = np.load(npz)
    assert made["semantic_prompt"].ndim == 1 and made["fine_prompt"].shape[0] == 8
    mine, theirs = call(alice, seed=2), call(bob, seed=2)
    assert mine[5]["voice"].startswith("your recording")
    assert theirs[5]["voice"] == "v2/en_speaker_6"
    np.testing.assert_array_equal(np.load(mine[2])["semantic_prompt"], np.load(mine[3])["semantic_tokens"])
    assert not np.array_equal(np.load(mine[3])["fine_tokens"], np.load(theirs[3])["fine_tokens"])


def test_bad_recording_gives_message(client, tmp_path, model_dir):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    sf.write(tmp_path / "short.wav", np.zeros(8000, np.float32), 16_000)
    with pytest.raises(AppError, match="silent|at least 1 s"):
        client.predict(handle_file(str(tmp_path / "short.wav")), str(model_dir), api_name="/make_voice")


def test_long_text_is_split_and_joined(client):
    text = "Hello world. This is a test. The bark is long. The text is long. Hello again. " * 3
    out = call(client, text=text, max_duration=0.3, seed=4)
    settings = out[5]
    assert settings["carry"] == "previous" and len(settings["chunk_voices"]) > 1
    tokens = np.load(out[3])
    audio, _ = sf.read(out[1])
    n = len(settings["chunk_voices"])
    silence = int(0.25 * C.SAMPLE_RATE)
    assert len(audio) == tokens["fine_tokens"].shape[1] * C.SAMPLES_PER_FRAME + (n - 1) * silence
    import json

    shapes = json.loads(out[6]["plot"])["layout"]["shapes"]  # the token panel marks each chunk boundary
    assert len({sh["x0"] for sh in shapes}) == n - 1 and all(sh["line"]["dash"] == "dash" for sh in shapes)


def test_fast_precision_setting(client, model_dir):
    args = {**DEFAULTS, "max_duration": 0.3, "model": str(model_dir), "speed": "fast"}
    out = client.predict(*args.values(), api_name="/generate")
    assert out[5]["precision"] == "int8-dynamic"
    assert call(client, max_duration=0.3)[5]["precision"] == "fp32"


def test_use_take_keeps_the_current_voice_when_a_take_cannot_be_one(pipe):
    import app

    voice = pipe.generate("Hello.", seed=1, max_duration_s=0.6).to_voice()
    current = {"label": "uploaded mine.npz", "voice": voice}
    with pytest.warns(UserWarning, match="Generate a take first"):
        assert app.use_take(None, current)[0] is current
    short = {"n": 3, "settings": {"seed": 5}, "voice": None}  # save_take found it too short to be a voice
    with pytest.warns(UserWarning, match="too short to be a voice prompt"):
        assert app.use_take(short, None) == (None, "Using the preset selected above.")
    custom, status = app.use_take({"n": 4, "settings": {"seed": 9}, "voice": voice}, current)
    assert custom == {"label": "take #4 (seed 9)", "voice": voice} and status.startswith("Using **take #4 (seed 9)**")
