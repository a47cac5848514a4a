"""The app, launched on tiny random checkpoints and driven through gradio_client like a remote user."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import soundfile as sf

from bark_core import constants as C

from .conftest import PROMPTS, need_prompts

pytestmark = pytest.mark.app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(pipes):
    """Build the demo over `pipes` and serve it on a free port; returns (demo, url)."""
    import app

    demo = app.build_demo(pipes)
    demo.queue(max_size=8, default_concurrency_limit=1)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    return demo, url


@pytest.fixture(scope="module")
def served(model_dir, tmp_path_factory):
    """The app on the tiny checkpoints, in a folder marked as random weights (as write_offline_folder marks its
    folders): the page shows the banner."""
    need_prompts()
    import shutil

    import app
    from bark_core.models.hub import RANDOM_WEIGHTS_MARKER
    from bark_core.testing.random_weights import write_hubert, write_quantizer

    d = tmp_path_factory.mktemp("served")
    model = shutil.copytree(model_dir, d / "bark-tiny")
    (model / RANDOM_WEIGHTS_MARKER).write_text('{"random_weights": true}')
    # A second model the machine cannot download: choosing it must give a clear message, not a traceback.
    pipes = app.Pipelines([str(model), "bark-small"], device="cpu", voices=str(PROMPTS),
                          hubert=str(write_hubert(d / "hubert")), quantizer=str(write_quantizer(d / "q.pth")))
    demo, url = launch(pipes)
    yield dict(url=url, model=str(model), demo=demo)
    demo.close()


@pytest.fixture(scope="module")
def app_url(served):
    return served["url"]


@pytest.fixture(scope="module")
def served_model(served) -> str:
    return served["model"]


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


# What the page sends for a short take; the API's names are the page's (sampling settings by their SAMPLING name).
DEFAULTS = dict(text="Hello! [laughs] I'm Bark.", voice="v2/en_speaker_6", language="en", seed=7, random_seed=False,
                max_duration_s=1.5, live=False)


def named(out) -> dict:
    """/generate's returns by name (app.GENERATE_RETURNS)."""
    import app

    assert len(out) == len(app.GENERATE_RETURNS)
    return dict(zip(app.GENERATE_RETURNS, out, strict=True))


def call(client, **kw) -> dict:
    return named(client.predict(**{**DEFAULTS, **kw}, api_name="/generate"))


def test_startup_loads_no_model(model_dir):
    import app

    pipes = app.Pipelines([str(model_dir)], device="cpu")
    app.build_demo(pipes)
    assert pipes._loaded == {}


def test_generate_with_the_text_alone(app_url):
    """The issue's call, as a script writes it: every input but the text has a default."""
    from gradio_client import Client

    out = named(Client(app_url, verbose=False).predict("Hello there.", api_name="/generate"))
    audio, sr = sf.read(out["wav"])
    assert sr == C.SAMPLE_RATE and audio.size > 0 and out["settings"]["text"] == "Hello there."
    assert out["settings"]["voice"] == "v2/en_speaker_6" and isinstance(out["seed"], int)
    assert out["settings"]["precision"].startswith("int8")  # no GPU here: the studio starts in fast precision


def test_api_schema_has_defaults_and_integers(client):
    import app
    from bark_core.generation.settings import SAMPLING
    from bark_core.studio.fields import initial_value

    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    params = {p["parameter_name"]: p for p in api["/generate"]["parameters"]}
    assert [n for n, p in params.items() if not p["parameter_has_default"]] == ["text"]
    for name in ("n_takes", "seed", "top_k"):
        assert params[name]["type"]["type"] == "integer", name
    assert {s.name: params[s.name]["parameter_default"] for s in SAMPLING} == {s.name: initial_value(s)
                                                                              for s in SAMPLING}
    assert len(api["/generate"]["returns"]) == len(app.GENERATE_RETURNS)
    tts = {p["parameter_name"]: p for p in api["/tts"]["parameters"]}
    assert list(tts) == ["text", "voice", "seed", *(s.name for s in SAMPLING)]
    assert [n for n, p in tts.items() if not p["parameter_has_default"]] == ["text"]
    assert tts["seed"]["parameter_default"] is None and tts["top_k"]["type"]["type"] == "integer"
    assert [r["component"] for r in api["/tts"]["returns"]] == ["Audio", "Number"]


def test_tts_endpoint(client):
    wav, seed = client.predict("Hello there.", seed=5, max_duration_s=0.5, api_name="/tts")
    audio, sr = sf.read(wav)
    assert seed == 5 and sr == C.SAMPLE_RATE and audio.size > 0
    again, _ = client.predict(text="Hello there.", seed=5, max_duration_s=0.5, api_name="/tts")
    np.testing.assert_array_equal(sf.read(again)[0], audio)
    other, drawn = client.predict("Hello there.", voice="announcer", top_k=50, max_duration_s=0.5, api_name="/tts")
    assert isinstance(drawn, int) and sf.read(other)[0].size  # no seed: one is drawn, and said
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"top-k must be 0 \(off\) or more"):
        client.predict("Hello there.", top_k=-5, api_name="/tts")


def test_generate_returns_audio_tokens_seed_and_timings(client):
    out = call(client)
    tokens = np.load(out["tokens"])
    n_frames = tokens["coarse_tokens"].shape[1]
    audio, sr = sf.read(out["wav"])
    assert sr == C.SAMPLE_RATE and len(audio) == n_frames * C.SAMPLES_PER_FRAME
    assert out["audio"] == out["wav"] or sf.read(out["audio"])[0].shape == audio.shape
    assert tokens["fine_tokens"].shape == (8, n_frames)
    assert len(tokens["semantic_tokens"]) == 75  # max duration 1.5 s -> 75 semantic tokens
    settings = out["settings"]
    assert settings["seed"] == 7 and settings["voice"] == "v2/en_speaker_6" and settings["language"] == "en"
    assert "real-time factor" in out["timing"] and "semantic" in out["timing"] and "seed **7**" in out["timing"]
    assert out["seed"] == 7 and "seed 7" in out["title"] and "Done" in out["status"]
    voice = np.load(out["voice"])
    np.testing.assert_array_equal(voice["fine_prompt"], tokens["fine_tokens"])
    assert out["take2"] is None and out["take2_wav"] is None  # one take asked for


def test_same_seed_same_audio(client):
    a, b = call(client, seed=11), call(client, seed=11)
    np.testing.assert_array_equal(sf.read(a["wav"])[0], sf.read(b["wav"])[0])
    c = call(client, seed=12)
    assert not np.array_equal(np.load(a["tokens"])["semantic_tokens"], np.load(c["tokens"])["semantic_tokens"])


def test_uploaded_npz_voice_round_trips(client):
    from gradio_client import handle_file

    first = call(client, seed=3)
    a = call(client, voice="v2/de_speaker_0", npz_path=handle_file(first["voice"]), seed=5)
    b = call(client, voice="v2/de_speaker_0", npz_path=handle_file(first["voice"]), seed=5)
    assert a["settings"]["voice"].startswith("uploaded")
    np.testing.assert_array_equal(np.load(a["tokens"])["fine_tokens"], np.load(b["tokens"])["fine_tokens"])


LONG_TEXT = "Hello world. " * 1400  # 18,200 characters: under the cap, but far more than 10 minutes of speech


@pytest.mark.parametrize("kw,message", [
    (dict(text=""), "text is empty"),
    (dict(text="   "), "text is empty"),
    (dict(text="hello " * 5000), "the text is 30,000 characters; at most 20,000 fit one take"),  # refused, not cut
    (dict(text=LONG_TEXT), "would make about 16 min of audio; at most 10 min per generation"),
    (dict(voice="v2/en_speaker_66"), "unknown voice preset"),
    (dict(voice="../../etc/passwd"), "unknown voice preset"),
    (dict(voice="custom"), "there is no voice of your own yet"),
    # The app checks every field itself: the message names the field as the page labels it and what it allows.
    (dict(text_temp=0.0), r"text temperature must be more than 0 and at most 10; got 0"),
    (dict(top_k=-3), r"top-k must be 0 \(off\) or more; got -3"),
    (dict(top_k=2.5), "top-k must be a whole number; got 2.5"),
    (dict(top_p=1.5), r"top-p must be more than 0 and at most 1 \(1 = off\); got 1.5"),
    (dict(min_eos_p=1.5), "min_eos_p must be more than 0 and at most 1; got 1.5"),
    (dict(max_duration_s=-5), r"max duration \(s\) must be 0 \(no limit\) or more; got -5"),
    (dict(seed=None, random_seed=False), "seed is empty: enter a whole number from 0 to"),
    (dict(fine_temp=None), "fine temperature is empty: enter a number more than 0 and at most 10"),
    (dict(seed=-4, random_seed=False), "seed must be a whole number from 0 to"),
    (dict(n_takes=5), "takes must be a whole number from 1 to 4; got 5"),
    (dict(n_takes=3, seed=2**63 - 2, random_seed=False), r"with 3 takes the seed must be at most 9223372036854775805"),
    (dict(precision="turbo"), "precision must be 'fast' or 'exact'; got 'turbo'"),
    (dict(language="xx"), "text language must be 'any' or one of en, de"),
    (dict(model="other"), "model must be one of"),
])
def test_bad_inputs_give_messages_and_app_keeps_serving(client, kw, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message) as e:
        call(client, **kw)
    text = str(e.value)
    assert "minimum value" not in text and "maximum value" not in text and "Settings." not in text
    assert call(client, max_duration_s=0.3)["settings"]["seed"] == 7


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
    assert isinstance(out["seed"], int) and out["settings"]["seed"] == out["seed"]


def test_model_that_cannot_be_downloaded_gives_a_clear_message(client, served_model):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"Could not get text.pt from the Hugging Face Hub repo 'suno/bark'"):
        call(client, model="bark-small")
    assert call(client, max_duration_s=0.3)["settings"]["model"] == served_model


def test_readme_client_example(client):
    """The README's gradio_client calls: /tts for scripts, /generate for everything the page shows."""
    wav, seed = client.predict("Hello! [laughs]", voice="v2/en_speaker_6", seed=7, max_duration_s=0.5,
                               api_name="/tts")
    assert seed == 7 and sf.read(wav)[0].size
    out = client.predict(text="Hello! [laughs]", voice="v2/en_speaker_6", seed=7, random_seed=False, n_takes=2,
                         max_duration_s=0.5, live=False, api_name="/generate")
    import app

    take = dict(zip(app.GENERATE_RETURNS, out, strict=True))
    tokens = np.load(take["tokens"])
    assert tokens["semantic_tokens"].shape == (25,) and take["seed"] == 7
    assert sf.read(take["audio"])[0].shape[0] == tokens["fine_tokens"].shape[1] * C.SAMPLES_PER_FRAME
    assert sf.read(take["take2_wav"])[0].size and take["take3"] is None and "2 takes" in take["timing"]
    np.testing.assert_array_equal(sf.read(wav)[0], sf.read(take["wav"])[0])  # /tts made the same take


def test_empty_text_is_refused_before_the_models_load(model_dir):
    """A first request with nothing to say gets its answer at once: no model loads for it."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    import app

    pipes = app.Pipelines([str(model_dir)], device="cpu", voices=str(need_prompts()))
    demo, url = launch(pipes)
    try:
        for text in ("", "  \u200b "):
            with pytest.raises(AppError, match="text is empty"):
                Client(url, verbose=False).predict(**{**DEFAULTS, "text": text}, api_name="/generate")
        assert not pipes._loaded
    finally:
        demo.close()


def test_first_generate_on_a_fresh_server_says_what_it_loads(model_dir):
    """Before a fresh server's first take, the status line says which part is loading ("loading the text model
    1/4…"): the models load on that request, not at start-up."""
    import app

    pipes = app.Pipelines([str(model_dir)], device="cpu", voices=str(need_prompts()))
    demo, url = launch(pipes)
    try:
        from gradio_client import Client

        job = Client(url, verbose=False).submit(**{**DEFAULTS, "max_duration_s": 0.3}, api_name="/generate")
        final = named(job.result(timeout=300))
        statuses = [named(u)["status"] for u in job.outputs()]
        loading = [s for s in statuses if isinstance(s, str) and "loading the" in s]
        assert loading and all("/4…" in s for s in loading), statuses
        assert statuses.index(loading[0]) < statuses.index(final["status"]) and "Done" in final["status"]
    finally:
        demo.close()


@pytest.mark.parametrize("speed", ["exact", "fast"])
def test_live_preview_streams_before_the_take_is_done(client, speed):
    import app

    if not app.has_ffmpeg():
        pytest.skip("ffmpeg is not installed (Gradio encodes streamed audio with it)")
    job = client.submit(**{**DEFAULTS, "max_duration_s": 3.0, "live": True}, precision=speed, api_name="/generate")
    final = named(job.result(timeout=300))
    updates = [named(u) for u in job.outputs()]
    previews = [u for u in updates[:-1] if isinstance(u["live"], str)]
    assert len(previews) >= 2, "the live preview should arrive in several pieces before the take"
    assert all(not isinstance(u["wav"], str) for u in updates[:-1])  # only the preview and status change meanwhile
    tokens = np.load(final["tokens"])
    plain = call(client, max_duration_s=3.0, precision=speed)
    np.testing.assert_array_equal(np.load(plain["tokens"])["fine_tokens"], tokens["fine_tokens"])  # the same take
    assert "first audio after" in final["timing"]
    assert final["settings"]["precision"].startswith("fp32" if speed == "exact" else "int8-dynamic")


def test_live_preview_plays_long_text_chunk_by_chunk(client):
    import app

    if not app.has_ffmpeg():
        pytest.skip("ffmpeg is not installed (Gradio encodes streamed audio with it)")
    text = " ".join(f"Sentence number {i} is here, and it goes on for a while." for i in range(3))  # 3 chunks
    settings = {**DEFAULTS, "text": text, "max_duration_s": 0.6}
    job = client.submit(**{**settings, "live": True}, api_name="/generate")
    final = named(job.result(timeout=300))
    assert len([u for u in job.outputs() if isinstance(named(u)["live"], str)]) >= 2
    plain = call(client, **settings)
    np.testing.assert_array_equal(np.load(plain["tokens"])["fine_tokens"], np.load(final["tokens"])["fine_tokens"])
    assert "first audio after" in final["timing"]


def test_live_preview_plays_the_first_of_a_batch_of_takes(client):
    import app

    if not app.has_ffmpeg():
        pytest.skip("ffmpeg is not installed (Gradio encodes streamed audio with it)")
    settings = {**DEFAULTS, "max_duration_s": 1.0, "n_takes": 2}
    job = client.submit(**{**settings, "live": True}, api_name="/generate")
    final = named(job.result(timeout=300))
    assert len([u for u in job.outputs() if isinstance(named(u)["live"], str)]) >= 2
    plain = call(client, **settings)
    np.testing.assert_array_equal(np.load(plain["tokens"])["fine_tokens"], np.load(final["tokens"])["fine_tokens"])
    assert sf.read(final["take2"])[0].tolist() == sf.read(plain["take2"])[0].tolist()  # take 2 too
    assert "2 takes in" in final["timing"] and "first audio after" in final["timing"]


def test_each_take_has_its_own_label_and_downloads(client):
    out = call(client, max_duration_s=1.0, n_takes=3)
    assert ["seed 7" in out["title"], "seed 8" in out["take2_title"], "seed 9" in out["take3_title"]] == [True] * 3
    numbers = [int(out[k].split("take ")[1].split(" ")[0]) for k in ("title", "take2_title", "take3_title")]
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]  # numbered as the history numbers them
    for take in ("take2", "take3"):
        with np.load(out[f"{take}_tokens"]) as tokens, np.load(out[f"{take}_voice"]) as voice:
            np.testing.assert_array_equal(voice["fine_prompt"], tokens["fine_tokens"])
        assert out[f"{take}_bundle"].endswith(".zip") and sf.read(out[f"{take}_wav"])[0].size
    single = call(client, seed=8, max_duration_s=1.0)
    assert sf.read(out["take2_wav"])[0].tolist() == sf.read(single["wav"])[0].tolist()  # take 2 == seed 8 alone
    assert out["take4"] is None


def test_voice_choices_are_labelled_from_the_catalogue():
    import app

    every = app.voice_choices()
    values = [v for _, v in every]
    assert values[0].startswith("v2/") and values[-1] == app.NO_VOICE and len(every) == 272
    labels = dict((v, label) for label, v in every)
    assert labels["v2/en_speaker_6"] == "v2/en_speaker_6 · English · male · Suno Favorite"
    assert labels["v2/de_speaker_3"].startswith("v2/de_speaker_3 · German") and labels["speaker_0"] == "speaker_0"
    first_v1 = next(i for i, n in enumerate(values) if not n.startswith("v2/"))
    assert all(n.startswith("v2/") for n in values[:first_v1]) and first_v1 == 130
    mine = app.voice_choices("your recording (4.0 s)")
    assert mine[0] == ("🎙 your recording (4.0 s) (your voice)", app.CUSTOM) and mine[1:] == every


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
    assert "random weights" not in out and "UserWarning" not in out


def test_refused_input_is_one_log_line_not_a_traceback(app_url, client, caplog, capfd):
    """A refused request is the caller's doing: one line in the server's log, no traceback (the server runs in
    this process: what it prints is captured here)."""
    import logging

    from gradio_client.exceptions import AppError

    capfd.readouterr()
    with caplog.at_level(logging.INFO, logger="bark_studio"), pytest.raises(AppError):
        call(client, top_k=-5)
    lines = [r for r in caplog.records if r.name == "bark_studio"]
    assert [r.getMessage() for r in lines] == ["Generation refused: top-k must be 0 (off) or more; got -5"]
    assert all(r.exc_info is None for r in lines)
    printed = capfd.readouterr()
    assert "Traceback" not in printed.err + printed.out


def test_takes_write_what_gradio_plays_without_a_conversion_warning(client, recwarn):
    """Gradio warns when it must convert float32 audio to int16; the app hands it files and int16 samples."""
    import warnings

    warnings.simplefilter("always")
    call(client, max_duration_s=0.3, live=True)
    assert not [w for w in recwarn if "16-bit int" in str(w.message)]


def test_voice_from_recording_is_private_to_its_session(app_url, tmp_path, served_model):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from .test_cloning import speech_like

    sf.write(tmp_path / "me.wav", speech_like(4.0), 44_100)
    alice, bob = Client(app_url, verbose=False), Client(app_url, verbose=False)
    status, npz, picker = alice.predict(handle_file(str(tmp_path / "me.wav")), served_model,
                                        api_name="/make_voice")
    assert "Voice made from" in status and picker["value"] == "custom"
    assert picker["choices"][0][0].startswith("🎙 your recording")  # the picker says which voice is in use
    made = np.load(npz)
    assert made["semantic_prompt"].ndim == 1 and made["fine_prompt"].shape[0] == 8
    mine = call(alice, voice="custom", seed=2)
    theirs = call(bob, seed=2)
    assert mine["settings"]["voice"].startswith("your recording")
    assert theirs["settings"]["voice"] == "v2/en_speaker_6"
    with pytest.raises(AppError, match="no voice of your own"):
        call(bob, voice="custom", seed=2)  # Alice's voice is not Bob's
    np.testing.assert_array_equal(np.load(mine["voice"])["semantic_prompt"], np.load(mine["tokens"])["semantic_tokens"])
    assert not np.array_equal(np.load(mine["tokens"])["fine_tokens"], np.load(theirs["tokens"])["fine_tokens"])


def test_bad_recording_gives_message(client, tmp_path, served_model):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    sf.write(tmp_path / "short.wav", np.zeros(8000, np.float32), 16_000)
    with pytest.raises(AppError, match="silent|at least 1 s"):
        client.predict(handle_file(str(tmp_path / "short.wav")), served_model, api_name="/make_voice")


def test_a_reference_clip_is_judged_when_it_arrives(tmp_path):
    """The recording's status line refuses, at the upload, what "Make a voice" would refuse (a clip too short,
    silent or not audio) and says how much sound a good one gives."""
    import app

    sf.write(tmp_path / "tone.wav", np.sin(np.linspace(0, 4000, 3 * 16_000)).astype(np.float32), 16_000)
    sf.write(tmp_path / "short.wav", np.sin(np.linspace(0, 500, 8_000)).astype(np.float32), 16_000)
    sf.write(tmp_path / "silent.wav", np.zeros(32_000, np.float32), 16_000)
    (tmp_path / "notes.wav").write_text("not audio")
    good = app.on_reference(str(tmp_path / "tone.wav"))
    assert "Recording received: 3.0 s" in good and "3.0 s of sound will be used" in good and "error" not in good
    for name, message in (("short", "0.5 s of sound; at least 1 s"), ("silent", "silent"),
                          ("notes", "could not be read as audio")):
        line = app.on_reference(str(tmp_path / f"{name}.wav"))
        assert message in line and "bark-status error" in line and 'role="alert"' in line, line
    assert "No recording yet" in app.on_reference(None)


def test_long_text_is_split_and_joined(client):
    text = "Hello world. This is a test. The bark is long. The text is long. Hello again. " * 3
    out = call(client, text=text, max_duration_s=0.3, seed=4)
    settings = out["settings"]
    assert settings["carry"] == "previous" and len(settings["chunk_voices"]) > 1
    tokens = np.load(out["tokens"])
    audio, _ = sf.read(out["wav"])
    n = len(settings["chunk_voices"])
    silence = int(0.25 * C.SAMPLE_RATE)
    assert len(audio) == tokens["fine_tokens"].shape[1] * C.SAMPLES_PER_FRAME + (n - 1) * silence
    import json

    layout = json.loads(out["plot"]["plot"])["layout"]
    shapes = layout["shapes"]  # the token panel marks each chunk boundary
    assert len({sh["x0"] for sh in shapes}) == n - 1 and all(sh["line"]["dash"] == "dash" for sh in shapes)
    assert layout["margin"]["t"] >= 60  # room above the first title for plotly's toolbar


def test_precision_setting(client, served_model):
    assert call(client, max_duration_s=0.3, model=served_model, precision="exact")["settings"]["precision"] == "fp32"
    assert call(client, max_duration_s=0.3)["settings"]["precision"].startswith("int8-dynamic")  # the default: no GPU


def test_a_take_too_short_to_be_a_voice_is_refused_with_its_reason():
    import app

    with pytest.raises(ValueError, match="Generate a take first"):
        app.custom_from_take(None)
    short = {"n": 3, "settings": {"seed": 5}, "voice": None}  # save_take found it too short to be a voice
    with pytest.raises(ValueError, match="take 3 · seed 5 is too short to be a voice prompt"):
        app.custom_from_take(short)
    assert app.custom_from_take({"n": 4, "settings": {"seed": 9}, "voice": "v"}) == {"label": "take 4 · seed 9",
                                                                                     "voice": "v"}


def test_random_weights_banner_follows_the_folder(model_dir, tmp_path):
    import app
    from bark_core.models.hub import RANDOM_WEIGHTS_MARKER

    plain = app.Pipelines([str(model_dir)], device="cpu")
    marked = tmp_path / "marked"
    marked.mkdir()
    (marked / RANDOM_WEIGHTS_MARKER).write_text("{}")
    assert not plain.random_weights(str(model_dir)) and app.Pipelines([str(marked)]).random_weights(str(marked))
    assert app.Pipelines([]).random_weights("bark-small") is False  # a Hub name: real weights
