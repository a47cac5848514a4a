"""Planted slips: one-token mutations of a copy of bark_core, each of which the logits parity check must catch.

Each mutation is data (file under bark_core/, the exact old text, which must occur once, and the new text), so the
table is easy to retarget when code moves. One subprocess (one torch import) runs a short cascade through the
reference once, then through the unmutated copy and each mutant in turn, each first on sys.path, comparing every
sampling step with tests/logits_parity.py; the unmutated copy must pass, so the harness itself is proven.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .logits_parity import core_steps, import_reference, load_reference_models, mismatches, reference_steps

pytestmark = [pytest.mark.parity, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent

MUTATIONS = [  # (the slip, the stage whose logits must show it, file under bark_core/, old text, new text)
    ("semantic history window off by one", "semantic", "generation/semantic.py",
     "hist = history.astype(np.int64)[-C.SEMANTIC_HISTORY_WINDOW :]",
     "hist = history.astype(np.int64)[-C.SEMANTIC_HISTORY_WINDOW + 1 :]"),
    ("text pad token", "semantic", "constants.py", "TEXT_PAD_TOKEN = 129_595", "TEXT_PAD_TOKEN = 129_594"),
    ("text encoding offset", "semantic", "constants.py", "TEXT_ENCODING_OFFSET = 10_048",
     "TEXT_ENCODING_OFFSET = 10_047"),
    ("EOS probability read at the wrong index", "semantic", "generation/semantic.py",
     "probs[-1] >= settings.min_eos_p", "probs[-2] >= settings.min_eos_p"),
    ("coarse semantic window slice start", "coarse", "generation/coarse.py",
     "sem = x_semantic[max(0, semantic_idx - max_semantic_history) :]",
     "sem = x_semantic[max(0, semantic_idx - max_semantic_history + 1) :]"),
    ("coarse history alignment drop", "coarse", "constants.py", "COARSE_HISTORY_ALIGN_DROP = 2",
     "COARSE_HISTORY_ALIGN_DROP = 1"),
    ("fine history length", "fine", "constants.py", "FINE_MAX_HISTORY = 512", "FINE_MAX_HISTORY = 511"),
    ("fine pad token", "fine", "constants.py", "FINE_PAD_TOKEN = CODEBOOK_SIZE", "FINE_PAD_TOKEN = CODEBOOK_SIZE + 1"),
]

# The short cascade every copy runs: announcer's prompts are longer than each stage's history window (semantic
# 499 > 256, coarse 750 frames > 630 tokens, fine 750 > 512), and with this seed and min_eos_p the semantic stage
# ends on the EOS probability after 39 tokens (the reference's step 40; its 2 s cap would be 100): then 116 coarse
# steps (2 windows), one fine window (6 codebooks).
TEXT, VOICE, SEED, MIN_EOS_P, MAX_DURATION_S = "Hello! [laughs] I'm Bark.", "announcer", 7, 0.01, 2.0


def test_every_planted_slip_fails_the_logits_parity(tmp_path, listening_model_dir):
    pytest.importorskip("funcy")
    from .conftest import need_prompts

    prompts = need_prompts()
    roots = {"unmutated": _copy(tmp_path / "unmutated")}
    for i, (_what, _stage, file, old, new) in enumerate(MUTATIONS):
        root = _copy(tmp_path / f"slip{i}")
        path = root / "bark_core" / file
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{file}: expected {old!r} exactly once (retarget MUTATIONS)"
        path.write_text(text.replace(old, new), encoding="utf-8")
        roots[str(i)] = root
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    args = [str(listening_model_dir), str(prompts), json.dumps({k: str(v) for k, v in roots.items()})]
    proc = subprocess.run([sys.executable, "-m", "tests.test_planted_slips", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])

    baseline = results["unmutated"]
    assert baseline["error"] is None and baseline["mismatches"] == [], baseline
    assert baseline["steps"] == {"semantic": 40, "coarse": 116, "fine": 6}, baseline["steps"]
    missed = []
    for i, (what, stage, *_) in enumerate(MUTATIONS):
        r = results[str(i)]
        if r["error"] is not None or not r["mismatches"] or not r["mismatches"][0].startswith(stage):
            missed.append(f"{what}: {r}")
    assert not missed, "slips the logits parity did not catch (or that crashed instead):\n" + "\n".join(missed)


def _copy(root: Path) -> Path:
    shutil.copytree(ROOT / "bark_core", root / "bark_core", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _reference_cascade(gen, hist: str) -> None:
    import torch

    torch.manual_seed(SEED)
    semantic = gen.generate_text_semantic(TEXT, history_prompt=hist, silent=True, min_eos_p=MIN_EOS_P,
                                          max_gen_duration_s=MAX_DURATION_S, use_kv_caching=True)
    coarse = gen.generate_coarse(semantic, history_prompt=hist, silent=True, use_kv_caching=True)
    gen.generate_fine(coarse, history_prompt=hist, silent=True)


def _core_cascade(pipe, ref) -> tuple[list[str], dict[str, int]]:
    """The same stages on one generator (as `generate` in exact mode), stopping at the first stage that differs
    from the reference's steps `ref` (the slip is caught; what follows would only cost time) -> mismatches."""
    g = pipe.make_generator(SEED)
    with core_steps() as core:
        semantic = pipe.text_to_semantic(TEXT, voice=VOICE, min_eos_p=MIN_EOS_P, max_duration_s=MAX_DURATION_S,
                                         generator=g)
        if not mismatches(core, ref, stages=("semantic",)):
            coarse = pipe.semantic_to_coarse(semantic, voice=VOICE, generator=g)
            if not mismatches(core, ref, stages=("coarse",)):
                pipe.coarse_to_fine(coarse, voice=VOICE, generator=g)
    return mismatches(core, ref), {stage: len(steps) for stage, steps in core.items()}


def _use_copy(root: str) -> None:
    """Forget every bark_core module and import the package from `root` next (its submodules then come from the
    package's own folder)."""
    for name in [n for n in sys.modules if n == "bark_core" or n.startswith("bark_core.")]:
        del sys.modules[name]
    sys.path.insert(0, root)
    importlib.invalidate_caches()


def _worker(model_dir: str, prompts: str, roots: dict[str, str]) -> dict:
    """Run in the subprocess: the reference once, then each copy of bark_core; mismatches per copy."""
    import torch

    torch.set_num_threads(2)
    hist = str(Path(prompts) / f"{VOICE}.npz")
    _use_copy(roots["unmutated"])
    gen = import_reference()
    gen.models.update(load_reference_models(gen, Path(model_dir)))
    with reference_steps(gen) as ref:
        _reference_cascade(gen, hist)
    sys.path.remove(roots["unmutated"])
    results = {}
    for key, root in roots.items():
        _use_copy(root)
        bark_core = importlib.import_module("bark_core")
        assert Path(bark_core.__file__).resolve().is_relative_to(Path(root).resolve()), bark_core.__file__
        try:
            pipe = bark_core.BarkPipeline.from_pretrained(model_dir, voices=prompts, device="cpu")
            found, steps = _core_cascade(pipe, ref)
            results[key] = dict(error=None, mismatches=found, steps=steps)
        except Exception as e:  # noqa: BLE001 - reported: a slip must show as a mismatch, not a crash
            results[key] = dict(error=f"{type(e).__name__}: {e}", mismatches=[], steps={})
        sys.path.remove(root)
    return results


if __name__ == "__main__":
    print(json.dumps(_worker(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))))
