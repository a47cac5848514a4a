"""Bark Studio: the Gradio app (and Hugging Face Space) over bark_core. It builds the UI and calls the pipeline."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

import anyio
import gradio as gr
import soundfile as sf
import torch

from bark_core import GenerationCancelled, Voice
from bark_core import constants as C
from bark_core.generation.longform import LongFormSettings
from bark_core.generation.text import estimate_seconds
from bark_core.models.graphs import GRAPH_MODES
from bark_core.studio import evaluation
from bark_core.studio import requests as studio
from bark_core.studio.bundle import read_bundle, reproduce
from bark_core.studio.evaluation import AXES, MAX_CELLS, Cell
from bark_core.studio.plots import mini_strip, token_figure
from bark_core.studio.registry import Pipelines, StopSignals
from bark_core.studio.requests import APP_MAX_TAKES, overall_progress
from bark_core.voices import catalog
from bark_core.voices.catalog import presets_for
from bark_core.voices.language import LanguageDetector, language_advice

try:  # ZeroGPU on Hugging Face Spaces; a no-op everywhere else
    import spaces

    gpu = spaces.GPU(duration=120)
except ImportError:
    def gpu(fn):
        return fn

ROOT = Path(__file__).resolve().parent
CUES = ["[laughter]", "[laughs]", "[sighs]", "[music]", "[gasps]", "[clears throat]", "—", "...", "♪", "[MAN]",
        "[WOMAN]"]
NO_VOICE = "none — let Bark invent a speaker"
LANGUAGES = catalog.languages()
LANG_CHOICES = [("any language", "any")] + [(f"{name} ({code})", code) for code, name in LANGUAGES.items()]
MAX_HISTORY = 50
N_OUTPUTS = 13 + APP_MAX_TAKES - 1  # generate's outputs before the live preview
LONG = LongFormSettings()
run_request = gpu(studio.run_request)  # on a ZeroGPU Space, a GPU is held only while a request runs


def has_ffmpeg() -> bool:
    """Gradio encodes streamed audio with ffmpeg: without it there is no live preview."""
    return shutil.which("ffmpeg") is not None


def voice_choices(language: str) -> list[str]:
    """The preset picker's choices for a language filter: its presets, then 'none'."""
    return presets_for(language) + [NO_VOICE]


def js_insert(cue: str) -> str:
    """Browser-side: insert `cue` at the cursor of the text box (no server round trip)."""
    return f"""(text) => {{
        const el = document.querySelector('#bark-text textarea'); const cue = {json.dumps(cue)};
        text = text || ''; const s = el ? el.selectionStart : text.length; const e = el ? el.selectionEnd : s;
        const pre = text.slice(0, s); const sep = pre && !pre.endsWith(' ') ? ' ' : '';
        return pre + sep + cue + ' ' + text.slice(e).replace(/^ /, '');
    }}"""


def cells_text(n: int) -> str:
    return f"{n} cell" if n == 1 else f"{n} cells"


class GridTab:
    """The Evaluate tab: one text per row, one setting per column, each cell a take to hear, rate and keep."""

    def __init__(self, pipelines: Pipelines, out_dir: Path):
        self.pipelines, self.out_dir = pipelines, out_dir
        gr.Markdown("Compare takes side by side: each **line** of text is a row, and the columns vary one "
                    "setting. The other settings come from the Studio controls. Rate cells, star favourites, and "
                    "download the ratings as CSV to run a small listening test.")
        with gr.Row():
            self.lines = gr.Textbox(label="Text (one line per row)", lines=3, elem_id="grid-text")
            with gr.Column():
                self.axis = gr.Radio(list(AXES), value="voice", label="Compare along", elem_id="grid-axis")
                self.voices = gr.Dropdown(voice_choices("any")[:-1], multiselect=True, label="voices",
                                          value=["v2/en_speaker_6", "v2/en_speaker_9"], elem_id="grid-voices")
                self.k = gr.Number(3, precision=0, minimum=1, maximum=MAX_CELLS, label="takes (seeds s, s+1, …)")
                self.temps = gr.Textbox("0.5, 0.7, 0.9", label="temperatures (text and waveform)")
                self.models = gr.Dropdown(pipelines.models, multiselect=True, value=pipelines.models[:2],
                                          label="models")
        with gr.Row():
            self.run = gr.Button("Fill the grid", variant="primary", elem_id="grid-run")
            self.stop = gr.Button("Stop", variant="stop")
            self.csv = gr.DownloadButton("⬇ ratings (.csv)", elem_id="grid-csv")
        self.status = gr.Markdown(elem_id="grid-status")
        self.cells_state = gr.State([])
        self.slots = []
        for rows in range(0, MAX_CELLS, 4):
            with gr.Row():
                for i in range(rows, rows + 4):
                    with gr.Column(visible=False, min_width=220) as col:
                        slot = dict(col=col, audio=gr.Audio(interactive=False, autoplay=False, label=f"cell {i + 1}"),
                                    info=gr.Markdown(), strip=gr.Plot(show_label=False),
                                    bundle=gr.DownloadButton("⬇ bundle", size="sm"),
                                    stars=gr.Radio(["1", "2", "3", "4", "5"], label="rating"),
                                    fav=gr.Checkbox(label="★ favourite"), note=gr.Textbox(label="note", lines=1))
                    self.slots.append(slot)

    def fill(self, lines, axis, voices, k, temps, models, preset, custom, text_temp, waveform_temp, fine_temp,
             top_k, top_p, min_eos_p, max_duration, seed, random_seed, model):
        """Generator: one yield per finished cell, so the grid fills as takes finish."""
        empty = [gr.skip()] * (4 * MAX_CELLS)
        try:
            values = evaluation.parse_values(axis, voices, k, temps or "", models)
            voice = custom["voice"] if custom else (None if preset in (None, NO_VOICE) else preset)
            base = dict(voice=voice, model=model, **studio.sampling_settings(
                text_temp, waveform_temp, fine_temp, top_k, top_p, min_eos_p, max_duration, seed, random_seed))
            cells = evaluation.build_cells((lines or "").splitlines(), axis, values, base)
            count = studio.token_counter(self.pipelines.tokenizer(model))
            evaluation.check_audio_budget(cells, lambda t: estimate_seconds(count(t)))
        except ValueError as e:
            raise gr.Error(str(e)) from None
        visible = [gr.update(visible=i < len(cells)) for i in range(MAX_CELLS)]
        done: list[dict] = []
        filled = [None] * (4 * MAX_CELLS)  # every cell's outputs, sent whole at the end (for API callers)
        yield [f"Generating {cells_text(len(cells))}…", done, *empty, *visible]
        for i, cell in enumerate(cells):
            updates = list(empty)  # while filling, only the new cell is sent: players already heard stay as they are
            try:
                filled[4 * i : 4 * i + 4] = updates[4 * i : 4 * i + 4] = self._cell(i, cell, axis, done)
            except ValueError as e:
                filled[4 * i + 1] = updates[4 * i + 1] = f"⚠️ {e}"
            yield [f"{len(done)} of {len(cells)} cells done", done, *updates, *[gr.skip()] * MAX_CELLS]
        yield [f"Done: {cells_text(len(done))}. Rate them, then download the ratings.", done, *filled,
               *[gr.skip()] * MAX_CELLS]

    def _cell(self, i: int, cell: Cell, axis: str, done: list) -> list:
        s = dict(cell.settings)
        pipe = self.pipelines.get(s.pop("model"))
        voice = s.pop("voice")
        result = pipe.generate_long(cell.text, voice=voice, language="en", settings=LONG, **s)
        files, error = studio.save_take(self.out_dir, pipe, result, voice, "en", LONG, extras=False)
        label = voice if isinstance(voice, str) or voice is None else voice.name
        done.append(evaluation.cell_record(i, cell, axis, label or NO_VOICE, pipe.name, result.seed,
                                           result.duration_s, result.rtf))
        info = (f"**{axis} {cell.value}** · row {cell.row + 1}<br>{result.duration_s:.1f} s · RTF "
                f"{result.rtf:.2f} · seed {result.seed}" + (f"<br>⚠️ {error}" if error else ""))
        # Without its file (a full disk), the cell still plays the take, sent as samples.
        audio = files["wav"] or (result.sample_rate, result.audio)
        return [audio, info, mini_strip(result.coarse_tokens), files["bundle"]]

    def ratings(self, done, *marks):
        try:
            rows = evaluation.rate(done, list(marks))
        except ValueError as e:
            raise gr.Error(str(e)) from None
        path = self.out_dir / f"bark-ratings-{uuid.uuid4().hex[:8]}.csv"
        path.write_text(evaluation.ratings_to_csv(rows), encoding="utf-8")
        return str(path)

    def wire(self, studio_inputs: list) -> None:
        outputs = [self.status, self.cells_state]
        outputs += [slot[k] for slot in self.slots for k in ("audio", "info", "strip", "bundle")]
        outputs += [slot["col"] for slot in self.slots]
        event = self.run.click(self.fill, [self.lines, self.axis, self.voices, self.k, self.temps, self.models,
                                           *studio_inputs], outputs, api_name="grid", concurrency_limit=1,
                               concurrency_id="bark")
        self.stop.click(None, cancels=[event])
        marks = [slot[k] for slot in self.slots for k in ("stars", "fav", "note")]
        self.csv.click(self.ratings, [self.cells_state, *marks], self.csv, api_name="ratings")

def read_txt(path) -> str:
    """An uploaded .txt file -> the text box's new text (UTF-8, size-checked)."""
    if not path:
        return gr.update()
    data = Path(path).read_bytes()
    if len(data) > 4 * LONG.max_chars:
        raise gr.Error(f"the text file is {len(data) / 1e3:.0f} kB; at most {LONG.max_chars:,} characters "
                       f"are accepted")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise gr.Error("the text file is not valid UTF-8: save it as UTF-8 text and upload it again") from None


def on_language(language: str, voice: str):
    """The language filter changed: that language's presets, keeping the chosen one if it is among them."""
    choices = voice_choices(language)
    return gr.update(choices=choices, value=voice if voice in choices else choices[0])


def on_npz(path, current):
    """An uploaded .npz prompt becomes the custom voice (a bad file warns and keeps the current one)."""
    if not path:
        return current, voice_status(current)
    try:
        voice = Voice.load(path, name=Path(path).name)
    except ValueError as e:
        gr.Warning(str(e))
        return current, voice_status(current)
    new = {"label": f"uploaded {Path(path).name}", "voice": voice}
    return new, voice_status(new)


def voice_status(custom) -> str:
    """The line under the voice controls: which voice the next take uses."""
    if custom:
        return f"Using **{custom['label']}** ({custom['voice'].duration_s:.1f} s prompt). Clear it to use presets."
    return "Using the preset selected above."


def on_reference(path) -> str:
    """What the uploaded or recorded reference clip is (before a voice is made from it)."""
    if not path:
        return "No recording yet."
    try:
        info = sf.info(path)
    except Exception:  # noqa: BLE001 - any unreadable upload gets the same answer
        return "This file could not be read as audio (wav, flac, ogg or mp3)."
    return (f"Recording received: {info.duration:.1f} s, {info.samplerate} Hz, {info.channels} channel(s). "
            "Click **Make a voice from this recording** to use it.")


def history_rows(history) -> list[list]:
    """The session history table: one row per take."""
    return [[h["n"], h["settings"]["text"][:60], h["settings"]["voice"], h["settings"]["language"],
             h["settings"]["seed"], round(h["duration"], 2), round(h["rtf"], 2)] for h in history]


def history_choices(history) -> list[tuple[str, str]]:
    """(label, take id) of each take, for the history's take picker."""
    return [(f"#{h['n']}: {h['settings']['text'][:40]}", h["id"]) for h in history]


def pick_take(take_id, history):
    """A take picked in the history -> its audio, the take, its bundle."""
    take = next((h for h in history if h["id"] == take_id), None)
    return (take["wav"] if take else None), take, (take["bundle"] if take else None)


def use_take(take, current):
    """A take becomes the custom voice (its semantic, coarse and fine tokens as the prompt); if it cannot, a
    warning says why and the current voice stays."""
    if not take:
        gr.Warning("Generate a take first (or pick one from the history).")
        return current, voice_status(current)
    if take["voice"] is None:
        gr.Warning(f"Take #{take['n']} is too short to be a voice prompt; use a take of a second or more.")
        return current, voice_status(current)
    custom = {"label": f"take #{take['n']} (seed {take['settings']['seed']})", "voice": take["voice"]}
    return custom, voice_status(custom)


class Studio:
    """The app's request handlers over one set of pipelines. Nothing per user is kept here (that lives in each
    session's gr.State); what is shared: the pipelines, the folder of downloads, the Stop signals, and the set of
    worker threads generating right now (tests check that Stop ends them)."""

    def __init__(self, pipelines: Pipelines):
        self.pipelines = pipelines
        self.out_dir = Path(tempfile.mkdtemp(prefix="bark-studio-"))
        self.live_ok = has_ffmpeg()
        self.active: set[int] = set()
        self.stops = StopSignals()
        self._detector: LanguageDetector | None = None
        self._detector_lock = threading.Lock()

    def count(self, text: str, model: str, language: str):
        """Live token count and the split preview (exact with the model's tokenizer, else estimated)."""
        return studio.text_summary(text, self.pipelines.tokenizer(model), language, LONG)

    def make_voice(self, path, model, current):
        """A voice from a reference recording (HuBERT + quantizer): it becomes the custom voice, downloadable."""
        if not path:
            raise gr.Error("Upload or record a clip first (at least 1 s of speech; 10–15 s works best).")
        try:
            voice = self.pipelines.cloner(model).voice_from_recording(path, name="your recording")
        except ValueError as e:
            raise gr.Error(str(e)) from None
        except Exception as e:  # noqa: BLE001
            raise gr.Error(f"Making the voice failed ({type(e).__name__}: {e})") from None
        custom = {"label": f"your recording ({voice.duration_s:.1f} s)", "voice": voice}
        # Written only for its owner's download, under a random name; never listed anywhere.
        npz_path = voice.save(self.out_dir / f"my-voice-{uuid.uuid4().hex}.npz")
        status = (f"Voice made from {voice.duration_s:.1f} s of your recording: {len(voice.semantic_prompt)} "
                  f"semantic tokens, {voice.coarse_prompt.shape[1]} codec frames. It is now the voice.")
        return custom, voice_status(custom), status, str(npz_path)

    def advice(self, text: str, preset: str, custom) -> str:
        """A tip when the text's language and the preset's do not match (nothing for a custom voice)."""
        with self._detector_lock:  # the detector's small model loads on first use, not at start-up
            if self._detector is None:
                self._detector = LanguageDetector()
        found = self._detector.detect(text)
        tip = None if custom else language_advice(found[0] if found else None, preset)
        return f"⚠️ {tip}" if tip else ""

    def keep_take(self, pipe, result, history: list, voice, custom, preset, language, split_language) -> dict:
        """Save a take's downloads and describe it for the history (a failed save keeps the take playable)."""
        files, error = studio.save_take(self.out_dir, pipe, result, voice, split_language, LONG)
        if error:
            gr.Warning(error)
        settings = {**result.settings, "voice": custom["label"] if custom else (preset or NO_VOICE),
                    "language": language, "seed": result.seed, "precision": pipe.precision}
        return {**files, "n": len(history) + 1, "settings": settings, "duration": result.duration_s,
                "rtf": result.rtf}

    def generate_sync(self, text, language, preset, custom, npz_path, text_temp, waveform_temp, fine_temp, top_k,
                      top_p, min_eos_p, max_duration, seed, random_seed, model, history, speed, n_takes, on_audio,
                      progress, cancel):
        """One request, checked and run in a worker thread: its takes saved, and every output the page shows."""
        try:
            kw = studio.sampling_settings(text_temp, waveform_temp, fine_temp, top_k, top_p, min_eos_p, max_duration,
                                          seed, random_seed)
            n_takes = studio.check_takes(n_takes)
            if custom:
                voice = custom["voice"]
            elif npz_path:  # API callers pass the .npz directly
                voice = Voice.load(npz_path, name=Path(npz_path).name)
                custom = {"label": f"uploaded {Path(npz_path).name}", "voice": voice}
            else:
                voice = None if preset in (None, NO_VOICE) else preset
            split_language = language if language != "any" else "en"
            pipe = self.pipelines.get(model, "fast" if speed == "fast" else "exact")
            results = run_request(pipe, text, voice, split_language, kw, n_takes, on_audio,
                                  lambda f, label: progress(f, desc=label), cancel, LONG)
        except GenerationCancelled:
            raise gr.Error("Generation stopped.") from None
        except ValueError as e:
            raise gr.Error(str(e)) from None
        except Exception as e:  # noqa: BLE001 - the page shows a message and the app keeps serving
            raise gr.Error(f"Generation failed ({type(e).__name__}: {e}). Try again or change the settings.") from None
        takes = []
        for result in results:
            takes.append(self.keep_take(pipe, result, history + takes, voice, custom, preset, language, split_language))
        result, take = results[0], takes[0]
        history = (history + takes)[-MAX_HISTORY:]
        timing = studio.timing_summary(results)
        fig = token_figure(result.semantic_tokens, result.coarse_tokens, result.fine_tokens, result.audio,
                           result.semantic_starts, result.frame_starts, result.sample_starts)
        others = [gr.update(value=o["wav"], visible=True, label=f"take {i + 2} · seed {o['settings']['seed']} · "
                            f"{o['duration']:.1f} s") for i, o in enumerate(takes[1:])]
        others += [gr.update(value=None, visible=False) for _ in range(APP_MAX_TAKES - 1 - len(others))]  # not [x] * n:
        # Gradio takes each update's value out as it sends it, so one shared dict would lose it
        return ((result.sample_rate, result.audio), take["wav"], take["npz"], take["tokens"], timing,
                take["settings"], fig, history, history_rows(history),
                gr.update(choices=history_choices(history), value=take["id"]), result.seed, take, take["bundle"],
                *others)

    async def generate(self, text, language, preset, custom, npz_path, text_temp, waveform_temp, fine_temp, top_k,
                       top_p, min_eos_p, max_duration, seed, random_seed, model, history, speed="exact", n_takes=1,
                       live=False, progress=gr.Progress(), request: gr.Request = None):  # noqa: B008 - Gradio's idiom
        """Runs the generation in a worker thread, yielding live audio as it comes; Stop cancels this task and the
        worker ends at its next step."""
        cancel = threading.Event()
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue = asyncio.Queue()

        def on_audio(audio) -> None:  # called from the worker thread
            loop.call_soon_threadsafe(chunks.put_nowait, audio)

        args = (text, language, preset, custom, npz_path, text_temp, waveform_temp, fine_temp, top_k, top_p,
                min_eos_p, max_duration, seed, random_seed, model, history, speed, n_takes,
                on_audio if live and self.live_ok else None, progress, cancel)

        def work():
            self.active.add(threading.get_ident())
            try:
                return self.generate_sync(*args)
            finally:
                self.active.discard(threading.get_ident())

        skip = [gr.skip()] * N_OUTPUTS
        # The live player still holds the previous request's preview: clear it (a value update, not a stream
        # chunk), so that a request which streams nothing (several takes, long text, preview off) shows none.
        yield [*skip, gr.update(value=None)]
        with self.stops.register(getattr(request, "session_hash", None), cancel):
            job = asyncio.ensure_future(anyio.to_thread.run_sync(work, abandon_on_cancel=True))
            try:
                while not (job.done() and chunks.empty()):
                    getter = asyncio.ensure_future(chunks.get())
                    await asyncio.wait({job, getter}, return_when=asyncio.FIRST_COMPLETED)
                    if getter.done():
                        yield [*skip, (C.SAMPLE_RATE, getter.result())]
                    else:
                        getter.cancel()
                yield [*job.result(), gr.skip()]
            except (asyncio.CancelledError, GeneratorExit):
                cancel.set()
                job.cancel()
                raise

    def stop_mine(self, request: gr.Request) -> None:
        """Stop, on the server: ends this browser session's generations at their next step."""
        self.stops.stop(request.session_hash)

    def reproduce_take(self, path, model, progress=gr.Progress()):  # noqa: B008
        """Re-create a take from its bundle and say whether its tokens are the bundle's."""
        if not path:
            raise gr.Error("Upload a take bundle (.zip) first.")
        try:
            pipe = self.pipelines.get(model)
            result, diffs, same = reproduce(pipe, read_bundle(path), progress=lambda *e: progress(
                overall_progress(*e)[0], desc=overall_progress(*e)[1]))
        except ValueError as e:
            raise gr.Error(str(e)) from None
        if same:
            verdict = "✅ Re-created: the tokens are identical to the bundle's."
        else:
            verdict = "⚠️ Re-generated, but the tokens differ from the bundle's."
        if diffs:
            verdict += " Differences in set-up: " + "; ".join(diffs) + "."
        fig = token_figure(result.semantic_tokens, result.coarse_tokens, result.fine_tokens, result.audio,
                           result.semantic_starts, result.frame_starts, result.sample_starts)
        return (result.sample_rate, result.audio), verdict, fig


def build_demo(pipelines: Pipelines) -> gr.Blocks:
    handlers = Studio(pipelines)
    live_ok = handlers.live_ok
    with gr.Blocks(title="Bark Studio") as demo:
        gr.Markdown("# 🐶 Bark Studio\nType text, pick a voice, and hear what Suno's **Bark** makes of it — "
                    "then see the tokens each stage produced.")
        custom_voice, history, last_take = gr.State(None), gr.State([]), gr.State(None)
        with gr.Row():
            with gr.Column(scale=5):
                text = gr.Textbox(label="Text (any length: long text is split into chunks)", lines=4,
                                  elem_id="bark-text", max_length=LONG.max_chars,
                                  placeholder="Hello! [laughs] I'm Bark. ♪ I can sing too ♪")
                counter = gr.Markdown("0 BERT tokens", elem_id="bark-count")
                with gr.Accordion("How the text will be split", open=False):
                    plan = gr.Dataframe(headers=["chunk", "text", "≈ seconds"], interactive=False,
                                        elem_id="bark-plan")
                txt_file = gr.UploadButton("…or load the text from a .txt file", file_types=[".txt"], type="filepath",
                                           size="sm", variant="secondary", elem_id="bark-txt")
                with gr.Row():
                    cue_buttons = [gr.Button(c, size="sm", min_width=40) for c in CUES]
                gr.Markdown("Tip: CAPITALS add emphasis; `—` or `...` add hesitation; `♪` around lyrics sings them.")
                with gr.Row():
                    language = gr.Dropdown(LANG_CHOICES, value="any", label="Language", elem_id="bark-language")
                    preset = gr.Dropdown(voice_choices("any"), value="v2/en_speaker_6", label="Voice preset",
                                         elem_id="bark-voice", allow_custom_value=True)
                with gr.Accordion("Your own voice (.npz prompt or a recording)", open=False):
                    npz = gr.File(label="Voice prompt (.npz)", file_types=[".npz"], type="filepath")
                    reference = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                         label="Reference recording", elem_id="bark-reference")
                    reference_status = gr.Markdown("No recording yet.", elem_id="bark-reference-status")
                    make_voice_btn = gr.Button("Make a voice from this recording", elem_id="bark-make-voice")
                    my_voice_file = gr.DownloadButton("⬇ my voice (.npz)", elem_id="bark-my-voice")
                    gr.Markdown("🔒 A voice made from a recording lives only in this browser session: it is never "
                                "shared, listed or kept after you leave — download it to keep it. Only use "
                                "recordings of people who agreed to it.")
                voice_info = gr.Markdown("Using the preset selected above.")
                language_tip = gr.Markdown("", elem_id="bark-language-tip")
                clear_voice = gr.Button("Clear custom voice", size="sm")
                with gr.Row():
                    text_temp = gr.Slider(0.05, 1.5, value=0.7, step=0.05, label="Text (semantic) temperature")
                    waveform_temp = gr.Slider(0.05, 1.5, value=0.7, step=0.05, label="Waveform (coarse) temperature")
                    fine_temp = gr.Slider(0.05, 1.5, value=0.5, step=0.05, label="Fine temperature")
                with gr.Accordion("Advanced", open=False):
                    with gr.Row():
                        top_k = gr.Number(0, precision=0, minimum=0, label="top-k (0 = off)")
                        top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.01, label="top-p (1 = off)")
                        min_eos_p = gr.Slider(0.01, 1.0, value=0.2, step=0.01, label="min_eos_p (end sooner ↓)")
                        max_duration = gr.Number(0, minimum=0, label="max duration, s (0 = no limit)")
                    with gr.Row():
                        seed = gr.Number(42, precision=0, minimum=0, label="seed")
                        random_seed = gr.Checkbox(True, label="random seed")
                        model = gr.Dropdown(pipelines.models, value=pipelines.models[0], label="model",
                                            visible=len(pipelines.models) > 1)
                        speed = gr.Radio(["exact", "fast"], value="exact", label="precision",
                                         info="exact: fp32, identical to Bark's reference; fast: int8 weights "
                                              "on CPU (bf16 on a GPU), over 2x faster than exact on a CPU, close to "
                                              "it, and the live preview starts sooner")
                with gr.Row():
                    n_takes = gr.Slider(1, APP_MAX_TAKES, value=1, step=1, label="takes",
                                        info="variations (seeds s, s+1, …) made together in one batch")
                    live = gr.Checkbox(live_ok, label="play while generating", interactive=live_ok,
                                       info="a live preview of the (first) take as it is made, long text "
                                            "chunk by chunk; the Result is the full-quality take"
                                       if live_ok else "needs ffmpeg on the server (not installed)")
                with gr.Row():
                    go = gr.Button("Generate", variant="primary", elem_id="bark-generate")
                    stop = gr.Button("Stop", variant="stop")
            with gr.Column(scale=5):
                live_audio = gr.Audio(label="Live preview", streaming=True, autoplay=True, interactive=False,
                                      elem_id="bark-live", visible=live_ok)
                audio = gr.Audio(label="Result", autoplay=False, interactive=False, elem_id="bark-audio")
                with gr.Row():
                    other_takes = [gr.Audio(interactive=False, autoplay=False, visible=False,
                                            elem_id=f"bark-take-{i + 2}") for i in range(APP_MAX_TAKES - 1)]
                timing = gr.Markdown(elem_id="bark-timing")
                with gr.Row():
                    wav_file = gr.DownloadButton("⬇ WAV", elem_id="bark-wav")
                    voice_file = gr.DownloadButton("⬇ voice (.npz)")
                    tokens_file = gr.DownloadButton("⬇ tokens (.npz)")
                use_voice = gr.Button("Use this take as the voice")
                bundle_file = gr.DownloadButton("⬇ reproducibility bundle (.zip)", elem_id="bark-bundle")
                used_seed = gr.Number(label="seed used", interactive=False, precision=0)
                with gr.Accordion("Reproduce a take from its bundle", open=False):
                    bundle_in = gr.File(label="Take bundle (.zip)", file_types=[".zip"], type="filepath",
                                        elem_id="bark-bundle-in")
                    reproduce_btn = gr.Button("Re-create this take")
                    reproduce_msg = gr.Markdown(elem_id="bark-reproduce-msg")
                settings_json = gr.JSON(label="Settings of this take")
        with gr.Tab("Token panel"):
            gr.Markdown("What Bark produced at each stage, on one time axis: **semantic tokens** (what is said, "
                        "49.9/s), the **coarse** EnCodec codebooks (the voice and rough sound, 75/s), all 8 "
                        "**fine** codebooks (detail), and the resulting **spectrogram**. Hover to read token ids.")
            plot = gr.Plot(elem_id="bark-plot")
        with gr.Tab("Session history"):
            table = gr.Dataframe(headers=["#", "text", "voice", "language", "seed", "seconds", "RTF"],
                                 interactive=False)
            with gr.Row():
                pick = gr.Dropdown([], label="Take", interactive=True)
                reuse = gr.Button("Use this take as the voice")
            picked_audio = gr.Audio(label="Take", interactive=False, autoplay=False)
            picked_bundle = gr.DownloadButton("⬇ this take's bundle (.zip)")
            picked = gr.State(None)
        with gr.Tab("Evaluate"):
            grid = GridTab(pipelines, handlers.out_dir)
        examples = json.loads((ROOT / "examples" / "examples.json").read_text(encoding="utf-8"))["examples"]
        gr.Examples([[e["text"], e["language"], e["voice"] or NO_VOICE] for e in examples],
                    inputs=[text, language, preset], cache_examples=False)

        for b, cue in zip(cue_buttons, CUES, strict=True):
            b.click(None, inputs=[text], outputs=[text], js=js_insert(cue))
        # UI helpers never wait behind a running generation (they are cheap and need no model).
        quick = dict(api_visibility="private", concurrency_limit=None)
        for trigger in (text.change, language.change):
            trigger(handlers.count, [text, model, language], [counter, plan], show_progress="hidden",
                    trigger_mode="always_last", **quick)
        txt_file.upload(read_txt, txt_file, text, **quick)
        language.change(on_language, [language, preset], preset, **quick)
        npz.upload(on_npz, [npz, custom_voice], [custom_voice, voice_info], **quick)
        reference.change(on_reference, reference, reference_status, **quick)
        make_voice_btn.click(handlers.make_voice, [reference, model, custom_voice],
                             [custom_voice, voice_info, reference_status, my_voice_file], api_name="make_voice",
                             concurrency_limit=1, concurrency_id="bark")
        for trigger in (text.change, preset.change, custom_voice.change):
            trigger(handlers.advice, [text, preset, custom_voice], language_tip, show_progress="hidden",
                    trigger_mode="always_last", **quick)
        clear_voice.click(lambda: (None, voice_status(None)), None, [custom_voice, voice_info], **quick)
        inputs = [text, language, preset, custom_voice, npz, text_temp, waveform_temp, fine_temp, top_k, top_p,
                  min_eos_p, max_duration, seed, random_seed, model, history, speed, n_takes, live]
        event = go.click(handlers.generate, inputs,
                         [audio, wav_file, voice_file, tokens_file, timing, settings_json, plot, history, table, pick,
                          used_seed, last_take, bundle_file, *other_takes, live_audio], api_name="generate",
                         concurrency_limit=1, concurrency_id="bark")
        stop.click(None, cancels=[event])
        stop.click(handlers.stop_mine, None, None, **quick)
        use_voice.click(use_take, [last_take, custom_voice], [custom_voice, voice_info], **quick)
        pick.change(pick_take, [pick, history], [picked_audio, picked, picked_bundle], **quick)
        reproduce_btn.click(handlers.reproduce_take, [bundle_in, model], [audio, reproduce_msg, plot],
                            api_name="reproduce", concurrency_limit=1, concurrency_id="bark")
        grid.wire([preset, custom_voice, text_temp, waveform_temp, fine_temp, top_k, top_p, min_eos_p, max_duration,
                   seed, random_seed, model])
        reuse.click(use_take, [picked, custom_voice], [custom_voice, voice_info], **quick)
    demo.active_generations = handlers.active
    return demo


def default_models() -> list[str]:
    return ["bark-small", "bark"] if torch.cuda.is_available() else ["bark-small"]


demo = build_demo(Pipelines(default_models()))

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Bark Studio web app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="public gradio.live link (off by default)")
    parser.add_argument("--model", action="append", help="bark, bark-small, a Hub repo id or a local folder; "
                        "repeat to offer several (the first is the default)")
    parser.add_argument("--voices", default=None, help="folder of Bark .npz presets (default: the Hub's)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--offload", action="store_true", help="keep models on the CPU between stages")
    parser.add_argument("--hubert", default=None, help="HuBERT for voices from recordings (Hub id or folder)")
    parser.add_argument("--quantizer", default=None, help="HuBERT quantizer: a .pth file or owner/repo/file.pth")
    parser.add_argument("--graphs", default="auto", choices=GRAPH_MODES, help="how decoding steps run: auto (CUDA "
                        "graphs on a GPU), compile (also torch.compile: first generation slow), off, cuda, static")
    parser.add_argument("--queue-size", type=int, default=16)
    args = parser.parse_args()
    demo = build_demo(Pipelines(args.model or default_models(), args.device, args.offload, args.voices, args.hubert,
                                args.quantizer, args.graphs))
    demo.queue(max_size=args.queue_size, default_concurrency_limit=1)
    # Uploads are capped by the server before anything reads them (recordings, voices, text, bundles).
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size="50mb")
