"""Reliability: a catalogue of bad input (each with its message, the app serving on), faults, security, load."""

from __future__ import annotations

import io
import os
import shutil
import time
import zipfile

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch

from bark_core.testing.random_weights import random_models, suno_checkpoint, write_hubert, write_quantizer

from .conftest import PROMPTS, ROOT, need_prompts
from .test_app import DEFAULTS, free_port, named
from .test_cloning import speech_like

pytestmark = pytest.mark.app

BROKEN = ("truncated", "wrong-slot", "missing-keys", "evil", "flaky")


def broken_folders(model_dir, root):
    """Model folders with one bad checkpoint each (tokenizer and codec are the good ones)."""
    folders = {}
    for name in BROKEN:
        d = root / name
        shutil.copytree(model_dir, d)
        folders[name] = d
    data = (model_dir / "text.pt").read_bytes()
    (folders["truncated"] / "text.pt").write_bytes(data[: len(data) // 3])
    (folders["flaky"] / "text.pt").write_bytes(data[: len(data) // 3])
    shutil.copy(model_dir / "fine.pt", folders["wrong-slot"] / "text.pt")
    ckpt = suno_checkpoint(random_models("tiny")["coarse"])
    del ckpt["model"]["transformer.h.0.attn.c_attn.weight"]
    torch.save(ckpt, folders["missing-keys"] / "coarse.pt")

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {root / 'pwned'}",))

    evil = suno_checkpoint(random_models("tiny")["fine"])
    evil["x"] = Evil()
    torch.save(evil, folders["evil"] / "fine.pt")
    return folders


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    need_prompts()
    import app

    root = tmp_path_factory.mktemp("reliability")
    folders = broken_folders(model_dir, root)
    pipes = app.Pipelines([str(model_dir)] + [str(f) for f in folders.values()], device="cpu", voices=str(PROMPTS),
                          hubert=str(write_hubert(root / "hubert")), quantizer=str(write_quantizer(root / "q.pth")))
    demo = app.build_demo(pipes)
    demo.queue(max_size=6, default_concurrency_limit=1)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield dict(url=url, demo=demo, folders=folders, root=root, model=str(model_dir))
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server["url"], verbose=False)


def generate(client, **kw) -> dict:
    return named(client.predict(**{**DEFAULTS, "max_duration_s": 0.3, **kw}, api_name="/generate"))


def still_serving(client):
    assert generate(client, text="Still here?", seed=1)["settings"]["seed"] == 1


def npz_file(tmp_path, name="v.npz", **arrays) -> str:
    from gradio_client import handle_file

    base = {"semantic_prompt": np.arange(100) % 10_000, "coarse_prompt": np.zeros((2, 150), np.int64),
            "fine_prompt": np.zeros((8, 150), np.int64)}
    base.update(arrays)
    np.savez(tmp_path / name, **{k: v for k, v in base.items() if v is not None})
    return handle_file(str(tmp_path / name))


# (inputs, expected message or None for "works") -----------------------------------------------------------------
TEXT_CASES = [
    (dict(text=""), "text is empty"),
    (dict(text=" \n\t  "), "text is empty"),
    (dict(text="\x00\x07\x1b"), "text is empty"),
    (dict(text="\u200b"), "text is empty"),  # BERT drops it: no token at all
    (dict(text=" \ufeff\u2060\u00ad\u200d "), "text is empty"),
    (dict(text="x" * 100_000), "the text is 100,000 characters; at most 20,000 fit one take"),
    (dict(text="[laughs] ♪"), None),
    (dict(text="Hello\x00 world\x07"), None),
    (dict(text="שלום עולם مرحبا بالعالم"), None),
    (dict(text="Hello 你好 Привет नमस्ते"), None),
    (dict(text="Hello 👋🐶🎶"), None),
]
# Each message names the field as the page labels it and what it allows (never Gradio's "Value -5 is less than
# minimum value 0").
SETTING_CASES = [
    (dict(text_temp=0.0), "text temperature must be more than 0 and at most 10; got 0.0"),
    (dict(text_temp=100.0), "text temperature must be more than 0 and at most 10; got 100.0"),
    (dict(fine_temp=-1.0), "fine temperature must be more than 0 and at most 10"),
    (dict(top_p=0.0), r"top-p must be more than 0 and at most 1 \(1 = off\)"),
    (dict(top_p=1.5), r"top-p must be more than 0 and at most 1 \(1 = off\)"),
    (dict(top_k=-1), r"top-k must be 0 \(off\) or more; got -1"),
    (dict(seed=-1, random_seed=False), "seed must be a whole number from 0 to 9223372036854775807"),
    (dict(seed=2**70, random_seed=False), "seed must be a whole number from 0 to"),
    (dict(seed=None, random_seed=False), "seed is empty: enter a whole number"),
    (dict(max_duration_s=-5), r"max duration \(s\) must be 0 \(no limit\) or more"),
    (dict(min_eos_p=2.0), "min_eos_p must be more than 0 and at most 1"),
    (dict(n_takes=0), "takes must be a whole number from 1 to 4"),
]
VOICE_CASES = [  # a voice is a preset name: never a file on the server
    (dict(voice="v2/en_speaker_66"), "unknown voice preset"),
    (dict(voice="../../etc/passwd"), "unknown voice preset"),
    (dict(voice="/etc/passwd"), "unknown voice preset"),
    (dict(voice="~/.bashrc.npz"), "unknown voice preset"),
]
NPZ_CASES = [
    (dict(fine_prompt=None), "missing fine_prompt"),
    (dict(semantic_prompt=np.ones(100, np.float32)), "must hold integers"),
    (dict(coarse_prompt=np.zeros((3, 150), np.int64)), r"must have shape \(2, T\)"),
    (dict(semantic_prompt=np.full(100, 10_000)), "values must be in 0..9999"),
    (dict(coarse_prompt=np.zeros((2, 40), np.int64)), "do not line up"),
]


@pytest.mark.parametrize("kw,message", TEXT_CASES + SETTING_CASES + VOICE_CASES)
def test_bad_input_catalogue(client, kw, message):
    from gradio_client.exceptions import AppError

    if message is None:
        assert generate(client, **kw)["audio"] is not None
    else:
        with pytest.raises(AppError, match=message):
            generate(client, **kw)
    still_serving(client)


@pytest.mark.parametrize("arrays,message", NPZ_CASES)
def test_bad_npz_catalogue(client, tmp_path, arrays, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        generate(client, npz_path=npz_file(tmp_path, **arrays))
    still_serving(client)


def _bytes_file(tmp_path, name: str, data: bytes):
    from gradio_client import handle_file

    (tmp_path / name).write_bytes(data)
    return handle_file(str(tmp_path / name))


def _zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("semantic_prompt.npy", b"\0" * (200 * 2**20))
    return buf.getvalue()


def _wav_bytes() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, speech_like(1.0), 44_100, format="WAV")
    return buf.getvalue()


@pytest.mark.parametrize("make,message", [
    (lambda: np.array([1, "x"], dtype=object), "object arrays"),
    (_zip_bomb, "unpacks to"),
    (lambda: b"", "not a valid"),
    (_wav_bytes, "not a valid"),
])
def test_hostile_npz_files(client, tmp_path, make, message):
    from gradio_client.exceptions import AppError

    content = make()
    if isinstance(content, np.ndarray):
        f = npz_file(tmp_path, semantic_prompt=content)
    else:
        f = _bytes_file(tmp_path, "voice.npz", content)
    with pytest.raises(AppError, match=message):
        generate(client, npz_path=f)
    still_serving(client)


AUDIO_CASES = [
    (lambda p: p.write_bytes(b"definitely not audio"), "not audio"),
    (lambda p: sf.write(p, np.zeros(0, np.float32), 16_000), "empty|not audio"),
    (lambda p: sf.write(p, np.zeros(30 * 60 * 8000, np.int16), 8000, subtype="PCM_16"), "30 min long"),
    (lambda p: sf.write(p, speech_like(2.0, 1000), 1000), "sample rate is 1000 Hz"),
    (lambda p: sf.write(p, speech_like(2.0, 192_000), 192_000), None),
    (lambda p: sf.write(p, np.tile(speech_like(2.0)[:, None], (1, 8)), 44_100), None),
    (lambda p: sf.write(p, np.full(88_200, np.inf, np.float32), 44_100, subtype="FLOAT"), "NaN or infinity"),
    (lambda p: sf.write(p, np.sign(speech_like(2.0)), 44_100), None),  # hard clipping still makes a voice
    (lambda p: sf.write(p, np.zeros(88_200, np.float32), 44_100), "silent"),
]


@pytest.mark.parametrize("make,message", AUDIO_CASES)
def test_bad_recordings_catalogue(client, server, tmp_path, make, message):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    path = tmp_path / "clip.wav"
    make(path)
    call = lambda: client.predict(handle_file(str(path)), server["model"], api_name="/make_voice")  # noqa: E731
    if message is None:
        assert "your recording" in call()[0]
    else:
        with pytest.raises(AppError, match=message):
            call()
    still_serving(client)


@pytest.mark.parametrize("name,message", [("truncated", "not a readable PyTorch checkpoint"),
                                          ("wrong-slot", "does not fit the text slot|does not match"),
                                          ("missing-keys", "missing keys"),
                                          ("evil", "Refusing to load fine.pt")])
def test_bad_checkpoints(client, server, name, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        generate(client, model=str(server["folders"][name]))
    assert not (server["root"] / "pwned").exists()
    still_serving(client)


@pytest.mark.parametrize("kw,message", [(dict(text="Hello \ud800 world"), "invalid characters"),
                                        (dict(waveform_temp=float("nan")), "waveform_temp must be a number")])
def test_inputs_json_cannot_carry(pipe, kw, message):
    """Unpaired surrogates and NaN cannot travel in the page's JSON, but Python callers can pass them."""
    with pytest.raises(ValueError, match=message):
        pipe.generate(**{"text": "Hello", **kw})


def test_catalogue_has_at_least_40_cases():
    n = len(TEXT_CASES) + len(SETTING_CASES) + len(VOICE_CASES) + len(NPZ_CASES) + 4 + len(AUDIO_CASES) + 4 + 2
    assert n >= 40


# faults ----------------------------------------------------------------------------------------------------------

def test_corrupt_checkpoint_then_repaired(client, server, model_dir):
    from gradio_client.exceptions import AppError

    flaky = server["folders"]["flaky"]
    with pytest.raises(AppError, match="delete it so it is downloaded again"):
        generate(client, model=str(flaky))
    shutil.copy(model_dir / "text.pt", flaky / "text.pt")  # the user replaces the file: no restart needed
    assert generate(client, model=str(flaky))["settings"]["model"] == str(flaky)


def test_partial_download_in_cache_is_not_used(tmp_path):
    from bark_core import BarkPipeline, ModelFilesUnavailable

    blobs = tmp_path / "models--suno--bark" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / ("0" * 64 + ".incomplete")).write_bytes(b"half a checkpoint")
    with pytest.raises(ModelFilesUnavailable, match="not in the local cache"):
        BarkPipeline.from_pretrained("bark-small", cache_dir=str(tmp_path), local_files_only=True)


def test_disk_full_when_saving_keeps_the_take(client, monkeypatch):
    from bark_core.generation.result import BarkResult

    def full(self, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(BarkResult, "save_wav", full)
    out = generate(client, seed=3)
    assert out["audio"] is not None and out["wav"] is None  # it plays; the download is what's missing
    assert "could not be saved for download" in out["status"]  # and the status line says why
    monkeypatch.undo()
    assert generate(client, seed=3)["wav"] is not None


def wait_until_generating(demo) -> None:
    deadline = time.time() + 60
    while not demo.active_generations and time.time() < deadline:
        time.sleep(0.05)
    assert demo.active_generations, "the generation never started"


def wait_until_stopped(demo) -> float:
    """Waits for the workers to end after a Stop; returns when the wait began."""
    t = time.time()
    while demo.active_generations and time.time() - t < 10:
        time.sleep(0.05)
    assert not demo.active_generations, "the worker kept generating after Stop"
    return t


def test_stop_ends_the_worker_and_the_next_request_works(client, server):
    demo = server["demo"]
    job = client.submit(**{**DEFAULTS, "text": "Hello world. " * 30, "max_duration_s": 0}, api_name="/generate")
    wait_until_generating(demo)
    time.sleep(0.5)
    fn_index = client._infer_fn_index("/generate", None)
    httpx.post(server["url"] + "gradio_api/cancel", json={  # what the page's Stop button sends
        "session_hash": client.session_hash, "fn_index": fn_index, "event_id": job.communicator.event_id})
    t = wait_until_stopped(demo)
    assert time.time() - t < 3  # a full generation of this text takes far longer
    still_serving(client)


def test_server_side_stop_ends_only_that_sessions_work(client, server):
    """Stop also flags the session's generations on the server, so it works even if the page's cancel misses."""
    import threading

    from bark_core.studio.registry import StopSignals

    signals, mine, theirs = StopSignals(), threading.Event(), threading.Event()
    with signals.register("me", mine), signals.register("you", theirs):
        assert signals.stop(None) == 0 and not mine.is_set()  # no session: stops nothing
        assert signals.stop("me") == 1 and mine.is_set() and not theirs.is_set()
    assert signals.stop("me") == 0  # finished generations are forgotten

    demo = server["demo"]
    job = client.submit(**{**DEFAULTS, "text": "Hello world. " * 30, "max_duration_s": 0}, api_name="/generate")
    wait_until_generating(demo)
    stop_index = next(i for i, d in enumerate(demo.config["dependencies"])
                      if d.get("backend_fn") and d["targets"] and demo.blocks[d["targets"][0][0]].elem_id == "bark-stop"
                      and not d.get("cancels") and d["targets"][0][1] == "click")
    httpx.post(server["url"] + "gradio_api/queue/join", json={  # what the Stop button's server half receives
        "data": [], "fn_index": stop_index, "session_hash": client.session_hash, "event_data": None,
        "trigger_id": None})
    wait_until_stopped(demo)
    with pytest.raises(Exception, match="Stopped"):
        job.result()
    still_serving(client)


# security --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/etc/passwd", str(ROOT / "app.py"), str(ROOT / "bark_core" / "pipeline.py")])
def test_app_serves_no_file_outside_its_outputs(server, path):
    for route in (f"gradio_api/file={path}", f"file={path}"):
        r = httpx.get(server["url"] + route)
        assert r.status_code in (403, 404), (route, r.status_code)
        assert "root:" not in r.text and "import" not in r.text


def test_generated_files_are_served(server, client):
    """The positive control for the test above: the same route serves a take from Gradio's output cache."""
    from pathlib import Path

    generate(client, seed=9)
    cached = max(Path(server["demo"].GRADIO_CACHE).rglob("bark-*.wav"), key=lambda p: p.stat().st_mtime)
    r = httpx.get(server["url"] + f"gradio_api/file={cached}")
    assert r.status_code == 200 and r.content[:4] == b"RIFF"


# many users ------------------------------------------------------------------------------------------------------

def test_three_clients_no_crosstalk_and_busy_message(server):
    from benchmarks.load_test import busy_answer, check_alone, run_load

    load = run_load(server["url"], clients=3, requests=2)
    assert load["served"] == 6 and load["failed"] == 0, load["failures"]
    assert check_alone(server["url"], load["results"]) == []
    messages = busy_answer(server["url"], queue_size=6)
    assert messages and all("Queue is full" in m for m in messages)



RACE = """
import sys, threading
from bark_core.models.hub import HubOptions
from bark_core.models.loading import load_codec, load_tokenizer
folder = sys.argv[1]
errors, barrier = [], threading.Barrier(2)
def run(fn, *args):
    barrier.wait()
    try:
        fn(*args)
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=run, args=(load_tokenizer, folder + "/tokenizer", HubOptions())),
           threading.Thread(target=run, args=(load_codec, folder + "/codec", HubOptions()))]
[t.start() for t in threads]
[t.join() for t in threads]
print("ERRORS", errors)
"""


def test_tokenizer_and_codec_load_at_once_from_two_threads(model_dir):
    """The app's token counter loads the tokenizer while the first generation loads the codec: in a fresh process
    both import from transformers at once, which raced in transformers' lazy module (ImportError: cannot import
    name 'EncodecConfig'; about 1 fresh process in 2 here) until the loads took `loading.TRANSFORMERS_LOCK`."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = [subprocess.Popen([sys.executable, "-c", RACE, str(model_dir)], cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    for run in runs:
        out, err = run.communicate(timeout=180)
        assert "ERRORS []" in out, out + err[-2000:]


def test_loads_through_transformers_wait_for_the_lock(model_dir):
    """Deterministic half of the race above: while another thread holds TRANSFORMERS_LOCK, loading the codec or
    the tokenizer waits for it."""
    import threading

    from bark_core.models.hub import HubOptions
    from bark_core.models.loading import TRANSFORMERS_LOCK, load_codec, load_tokenizer

    def load_then_set(load, folder: str, done: threading.Event) -> None:
        load(folder, HubOptions())
        done.set()

    for load, sub in ((load_codec, "codec"), (load_tokenizer, "tokenizer")):
        done = threading.Event()
        with TRANSFORMERS_LOCK:
            worker = threading.Thread(target=load_then_set, args=(load, str(model_dir / sub), done))
            worker.start()
            assert not done.wait(2.0), f"{load.__name__} ran without the lock"
        worker.join(60)
        assert done.is_set()
