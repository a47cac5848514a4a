"""Many users at once: N gradio_client clients x M requests against the app on tiny random checkpoints.

Checks that every request is answered, that each answer equals the same request run alone (no crosstalk of seeds,
voices or settings between users), that the queue stays bounded and that a request beyond it gets a clear "busy"
answer. Prints served, failed, max queue wait, peak memory. Not a timed test: run it by hand

    python -m benchmarks.load_test --clients 8 --requests 3
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import resource
import socket
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

VOICES = ["v2/en_speaker_1", "v2/de_speaker_3", "announcer", "v2/fr_speaker_2", "v2/ja_speaker_1", None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(model_dir: Path, voices: Path, queue_size: int):
    import app

    demo = app.build_demo(app.Pipelines([str(model_dir)], device="cpu", voices=str(voices)))
    demo.queue(max_size=queue_size, default_concurrency_limit=1)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    return demo, url


def request(i: int, j: int) -> dict:
    """Request j of client i: its own seed, voice, temperature and text."""
    voice = VOICES[(i + j) % len(VOICES)]
    return dict(text=f"Hello number {i} {j}.", language="any", voice=voice or "none", text_temp=0.6 + 0.05 * (i % 4),
                waveform_temp=0.7, fine_temp=0.5, top_k=0, top_p=1.0, min_eos_p=0.2, max_duration_s=0.4,
                seed=1000 * i + j, random_seed=False, live=False)


def returned(out, name: str):
    """One of /generate's returns, by name (app.GENERATE_RETURNS)."""
    import app

    return out[app.GENERATE_RETURNS.index(name)]


def tokens_of(out) -> np.ndarray:
    return np.load(returned(out, "tokens"))["fine_tokens"]


def run_load(url: str, clients: int, requests: int) -> dict:
    """Each client runs its requests one after another, all clients at once. Returns figures and the tokens."""
    from gradio_client import Client

    def client_run(i: int):
        c = Client(url, verbose=False)
        out, waits, failures = {}, [], []
        for j in range(requests):
            t = time.perf_counter()
            try:
                res = c.predict(**request(i, j), api_name="/generate")
                out[(i, j)] = (tokens_of(res), returned(res, "settings"))
                waits.append(time.perf_counter() - t)
            except Exception as e:  # noqa: BLE001 - counted and reported
                failures.append(f"{i}/{j}: {e}")
        return out, waits, failures

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(clients) as ex:
        parts = list(ex.map(client_run, range(clients)))
    results = {k: v for p in parts for k, v in p[0].items()}
    waits = [w for p in parts for w in p[1]]
    failures = [f for p in parts for f in p[2]]
    return dict(results=results, served=len(results), failed=len(failures), failures=failures,
                max_wait_s=max(waits, default=0.0), wall_s=time.perf_counter() - t0)


def check_alone(url: str, results: dict) -> list[str]:
    """Re-run every request alone; list those whose tokens or settings differ."""
    from gradio_client import Client

    c = Client(url, verbose=False)
    bad = []
    for (i, j), (tokens, settings) in sorted(results.items()):
        alone = c.predict(**request(i, j), api_name="/generate")
        want = request(i, j)
        if not np.array_equal(tokens_of(alone), tokens) or settings["seed"] != want["seed"] or \
                settings["text"] != want["text"]:
            bad.append(f"{i}/{j}")
    return bad


def busy_answer(url: str, queue_size: int) -> list[str]:
    """Submit more long requests at once than the queue holds; return what the overflow was told."""
    from gradio_client import Client

    long = {**request(0, 0), "max_duration_s": 0}
    jobs = [Client(url, verbose=False).submit(**long, api_name="/generate") for _ in range(queue_size + 3)]
    deadline = time.time() + 60
    messages = []
    while time.time() < deadline and not messages:
        messages = [str(j.exception()) for j in jobs if j.done() and j.exception() is not None]
        time.sleep(0.2)
    for j in jobs:
        j.cancel()
    return messages


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3)
    parser.add_argument("--voices", default=str(ROOT.parent / "shared" / "data" / "bark-voice-prompts"))
    args = parser.parse_args()
    from bark_core.testing.random_weights import write_offline_folder

    model_dir = write_offline_folder(Path(tempfile.mkdtemp()) / "tiny")
    queue = args.clients + 2
    demo, url = start_app(model_dir, Path(args.voices), queue)
    try:
        load = run_load(url, args.clients, args.requests)
        crosstalk = check_alone(url, load["results"])
        busy = busy_answer(url, queue)
    finally:
        demo.close()
    print(f"clients {args.clients} x requests {args.requests} (queue max_size {queue}, one generation at a time)")
    print(f"served {load['served']}, failed {load['failed']}, max queue wait + run {load['max_wait_s']:.1f} s, "
          f"wall {load['wall_s']:.1f} s, peak RSS {peak_rss_mb():.0f} MiB")
    print(f"answers differing from the same request run alone: {len(crosstalk)} {crosstalk}")
    print(f"beyond the queue: {busy[:1]}")
    for f in load["failures"]:
        print("FAILED", f)


if __name__ == "__main__":
    main()
