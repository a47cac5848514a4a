"""The speed harness runs end to end (tiny weights, one run): the code path the README's numbers come from."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bark_core.testing.random_weights import write_codec, write_suno_files, write_tokenizer

from .conftest import ROOT

pytestmark = pytest.mark.slow


def test_speed_harness_runs_and_checks_token_identity(tmp_path, tiny_models):
    write_suno_files(tmp_path, tiny_models)
    write_tokenizer(tmp_path / "tokenizer")
    write_codec(tmp_path / "codec")
    out = subprocess.run([sys.executable, "-m", "benchmarks.speed", "--weights", str(tmp_path), "--runs", "1",
                          "--seconds", "0.6", "--impl", "reference", "bark_core", "bark_core_4_takes",
                          "bark_core_stream", "bark_core_fast_offload"], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    assert "| reference |" in text and "| bark_core |" in text
    assert "bark_core speed-up over the reference (same run)" in text
    assert text.count("identical to the reference's") == 3  # exact, take 0 of the batch, and the streamed take
    assert "bark_core_4_takes: 4 takes in" in text and "bark_core_stream: first audio after" in text
    assert "| bark_core_fast_offload |" in text


def test_speed_harness_streams_with_a_voice(tmp_path, tiny_models):
    from .conftest import need_prompts

    voice = need_prompts() / "v2" / "en_speaker_6.npz"
    write_suno_files(tmp_path, tiny_models)
    write_tokenizer(tmp_path / "tokenizer")
    write_codec(tmp_path / "codec")
    out = subprocess.run([sys.executable, "-m", "benchmarks.speed", "--weights", str(tmp_path), "--runs", "1",
                          "--seconds", "1.5", "--impl", "bark_core_fast_stream", "--voice", str(voice)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("bark_core_fast_stream: first audio after"))
    assert line.endswith(", voice en_speaker_6"), line  # the streamed take was made with that voice


def test_speed_harness_prints_each_runs_total_and_compares_with_barkmodel_in_fp16(tmp_path, tiny_models):
    write_suno_files(tmp_path, tiny_models)
    write_tokenizer(tmp_path / "tokenizer")
    write_codec(tmp_path / "codec")
    out = subprocess.run([sys.executable, "-m", "benchmarks.speed", "--weights", str(tmp_path), "--runs", "2",
                          "--seconds", "0.6", "--impl", "transformers_fp16", "bark_core_no_graphs"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [x for x in out.stdout.splitlines() if ", 0.6 s: total" in x]
    assert [x.split(",")[0] for x in rows] == ["transformers_fp16", "bark_core_no_graphs"], rows
    for row in rows:  # "(runs: a, b)": both runs' totals, the median of which is the row's total
        runs = [float(v) for v in re.search(r"\(runs: ([^)]*)\)", row)[1].split(", ")]
        total = float(re.search(r"total ([\d.]+) s", row)[1])
        assert len(runs) == 2 and abs(total - sum(runs) / 2) < 0.011, row
    assert "speed-up over BarkModel in fp16 (same run), end to end: bark_core_no_graphs" in out.stdout


def test_gpu_profile_runs_on_cpu(tmp_path, tiny_models):
    write_suno_files(tmp_path, tiny_models)
    write_tokenizer(tmp_path / "tokenizer")
    write_codec(tmp_path / "codec")
    out = subprocess.run([sys.executable, "-m", "benchmarks.gpu_profile", "--weights", str(tmp_path), "--device",
                          "cpu", "--seconds", "0.5", "--profile-seconds", "0.3", "--anatomy", "static"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "one generation:" in out.stdout and "graph captures: 0" in out.stdout and "Self CPU" in out.stdout
    anatomy = out.stdout.split("coarse decoding step, eager, by kind: ")[1].splitlines()
    kinds = [line.split("  ")[1].strip() for line in anatomy[1:] if line.startswith("  ")]
    assert {"attention", "matrix products", "layer norm", "cache write"} <= set(kinds), anatomy
    assert "one compiled" not in out.stdout  # --anatomy static: the compiled step's (CUDA only) is left out


def test_overhead_benchmark_runs():
    out = subprocess.run([sys.executable, "-m", "benchmarks.overhead", "--layers", "2", "--cached", "16", "--steps",
                          "3", "--repeats", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert [x.split(":")[0] for x in lines] == ["fp32", "int8", "graphed (CUDA graphs' host side, replay stubbed)"]
    assert all("ms per decoding step" in x for x in lines[:2]) and "ms per token" in lines[2]


def test_fidelity_benchmark_runs(tmp_path, tiny_models):
    write_suno_files(tmp_path, tiny_models)
    write_tokenizer(tmp_path / "tokenizer")
    write_codec(tmp_path / "codec")
    out = subprocess.run([sys.executable, "-m", "benchmarks.fidelity", "--weights", str(tmp_path), "--seconds",
                          "0.6"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("exact take:") and len(lines) == 5, lines
    for line in lines[1:]:
        assert line.startswith(("fast (int8):", "fast on CPUs with bf16 units")), line
        kls = [float(v) for v in re.findall(r"KL (-?[\d.]+)", line)]
        assert kls and all(k > -1e-6 for k in kls), line
