"""Bark Studio: the Gradio app (and Hugging Face Space) over bark_core. It lays out the page, wires its events and
calls the engine; what a request does lives in `bark_core.studio`, free of Gradio.

The page: text, voice, Generate and the result first; then settings, the token panel, the session history and the
Evaluate grid. Each tab has one builder function; handlers return their outputs keyed by component. A refused
request leaves its message next to the button that sent it (the status line) and every earlier output as it was;
API callers get the same message as an error. Endpoints for scripts: `/tts` (text in, WAV and seed out) and
`/generate` (everything the page shows; every input but the text has a default).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import logging
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import anyio
import gradio as gr
import numpy as np
import soundfile as sf

from bark_core import GenerationCancelled, Voice
from bark_core import constants as C
from bark_core.generation.longform import LongFormSettings
from bark_core.generation.settings import SAMPLING, Setting
from bark_core.generation.text import check_text, estimate_seconds
from bark_core.models.graphs import GRAPH_MODES
from bark_core.studio import evaluation
from bark_core.studio import requests as studio
from bark_core.studio.bundle import read_bundle, reproduce
from bark_core.studio.evaluation import AXES, MAX_CELLS, Cell
from bark_core.studio.fields import allowed_in_page, changed_settings, for_people, initial_value, is_slider
from bark_core.studio.plots import mini_strip, token_figure
from bark_core.studio.registry import Pipelines, StopSignals
from bark_core.studio.requests import APP_MAX_TAKES
from bark_core.voices import catalog
from bark_core.voices.audio import prepare_clip, read_recording
from bark_core.voices.language import LanguageDetector, language_advice

try:  # ZeroGPU on Hugging Face Spaces; a no-op everywhere else
    import spaces

    gpu = spaces.GPU(duration=120)
except ImportError:
    def gpu(fn):
        return fn

log = logging.getLogger("bark_studio")
ROOT = Path(__file__).resolve().parent
CUES = ["[laughter]", "[laughs]", "[sighs]", "[music]", "[gasps]", "[clears throat]", "—", "...", "♪", "[MAN]",
        "[WOMAN]"]
DEFAULT_VOICE = "v2/en_speaker_6"
NO_VOICE = "none"  # the picker's value for "no voice prompt"
NO_VOICE_LABEL = "none — let Bark invent a speaker"
VOICE_INFO = "a preset (type to filter), or your own voice below"
CUSTOM = "custom"  # the picker's value for this session's own voice (an upload, a recording, a take)
LANGUAGES = catalog.languages()
LANG_CHOICES = [("any (split as English)", "any")] + [(f"{name} ({code})", code) for code, name in LANGUAGES.items()]
MAX_HISTORY = 50
LONG = LongFormSettings()
TAKE_FILES = ("wav", "voice", "tokens", "bundle")  # each take's downloads, as GENERATE_RETURNS names them
RANDOM_BANNER = "random weights: the audio is noise; the interface is real"
PRECISION_INFO = "exact: the reference's exact tokens, about 2× slower · fast: int8 weights, close to exact"
STATUS_EVERY_S = 0.2  # the status line's progress is sent at most this often (a stage change is sent at once)
run_request = gpu(studio.run_request)  # on a ZeroGPU Space, a GPU is held only while a request runs
# The API's /generate returns these, in this order (gradio_client gives a tuple): take 1 (its audio file, title and
# downloads), what the request shows, then takes 2..4 the same way (None past the takes asked for), then the live
# preview. File outputs are local paths once gradio_client has downloaded them.
GENERATE_RETURNS = ("audio", "title", *TAKE_FILES, "timing", "settings", "plot", "seed", "status",
                    *(f"take{i}{'_' + f if f else ''}" for i in range(2, APP_MAX_TAKES + 1)
                      for f in ("", "title", *TAKE_FILES)),
                    "live")

CSS = """
/* Contrast (WCAG AA, checked by the browser test's axe scan): Gradio's default hint grey (#bbbbc2 on white, 1.9:1)
   and white on its orange and red buttons (2.8:1, 3.8:1) are too faint; these pass 4.5:1. */
gradio-app { --body-text-color-subdued: #62626d; --block-info-text-color: #62626d;
  --button-primary-background-fill: #c2410c;
  --button-primary-background-fill-hover: #9a3412; --button-cancel-background-fill: #b91c1c;
  --button-cancel-background-fill-hover: #991b1b; --bark-error: #b3261e; }
.dark gradio-app, gradio-app .dark { --body-text-color-subdued: #a9a9b4; --block-info-text-color: #a9a9b4;
  --bark-error: #ff8a80; }
[data-testid^="waveform-"] { --neutral-400: #62626d; }  /* a player's times and speed button */
#bark-take-settings .key { color: #0451a5; }  /* the JSON view's colours are a dark theme's, 2.6:1 on white */
#bark-take-settings .value.string { color: #a31515; }
#bark-take-settings .value.number, #bark-take-settings .value.bool, #bark-take-settings .value.null { color: #066e4e; }
.dark #bark-take-settings .key { color: #9cdcfe; }
.dark #bark-take-settings .value.string { color: #ce9178; }
.dark #bark-take-settings .value.number, .dark #bark-take-settings .value.bool { color: #b5cea8; }
.dark [data-testid^="waveform-"] { --neutral-400: #a9a9b4; }
#bark-header h1 { margin: 0; font-size: 1.6rem; }
#bark-header p { margin: 0.2rem 0 0; }
#bark-random-weights { background: #fff4d6; border: 1px solid #e0b030; border-radius: 6px; padding: 2px 10px; }
#bark-random-weights p { margin: 0; color: #5a4200; }
.bark-status { display: flex; align-items: center; gap: 0.6rem; min-height: 1.6rem; }
.bark-status progress { width: 10rem; flex: none; }
.bark-status.error, .bark-status.error span { color: var(--bark-error) !important; font-weight: 600; }
.secondary-wrap input { padding-right: 2.4rem; text-overflow: ellipsis; }  /* a long choice ends before the arrow */
#bark-examples .gallery { gap: 6px; }
.bark-cue { flex: 0 0 auto !important; width: auto !important; white-space: nowrap; padding: 2px 10px !important; }
#bark-examples button { max-width: 100%; white-space: normal; text-align: left; }
#grid-board { display: grid !important; gap: 10px; overflow-x: auto; align-items: start; }
#grid-board > * { min-width: 0 !important; margin: 0; }
.grid-head { font-weight: 600; padding: 4px 6px; border-bottom: 2px solid var(--border-color-primary); }
.grid-row-head { padding: 6px; border-left: 3px solid var(--color-accent); overflow-wrap: anywhere; }
#grid-board .modebar-container { display: none; }  /* a cell's strip is a glance: no toolbar over it */
/* A phone has no room for columns side by side: each row's text, then its cells one under another (a cell names
   its column's value itself). */
@media (max-width: 640px) {
  #grid-board { display: flex !important; flex-direction: column; }
  #grid-board > .grid-head { display: none !important; }
}
/* Stop is quiet until there is something to stop: while a request works, its status line shows a progress bar. */
gradio-app:has(#bark-status progress) #bark-stop, gradio-app:has(#grid-status progress) #grid-stop {
  background: var(--button-cancel-background-fill); color: white; border-color: var(--button-cancel-background-fill); }
/* Gradio keeps an event's (hidden) status tracker in each output; its "Error" word stays out of sight and out of
   screen readers: the status line says what went wrong. */
.block > .wrap.hide { visibility: hidden; }
"""


def app_checked(field: gr.Component):
    """The field's value reaches the app as sent: the app checks its range and its message names the field as the
    page labels it and says what it allows; Gradio's own check would say only "Value -5 is less than minimum value
    0". (An instance attribute, not a subclass: Gradio writes a .pyi file beside any module that subclasses a
    component. `precision=0` still makes the field an integer in the API schema.)"""
    field.preprocess = lambda payload: payload
    return field


def number_field(*args, **kwargs) -> gr.Number:
    """gr.Number, its range checked by the app (`app_checked`)."""
    return app_checked(gr.Number(*args, **kwargs))


def slider_field(*args, **kwargs) -> gr.Slider:
    """gr.Slider, its range checked by the app (`app_checked`)."""
    return app_checked(gr.Slider(*args, **kwargs))


def setting_field(s: Setting, prefix: str = "bark") -> gr.Component:
    """The page field for one sampling setting, all from SAMPLING: label, help, what it allows, initial value."""
    common = dict(label=s.label, info=f"{s.help} · {allowed_in_page(s)}", value=initial_value(s),
                  elem_id=f"{prefix}-{s.name.replace('_', '-')}")
    if is_slider(s):
        return slider_field(s.low, s.high, step=0.01, **common)
    low = s.form_off if s.form_off is not None and s.form_off < s.low else s.low
    return number_field(minimum=low, precision=0 if s.integer else None, step=1 if s.integer else 0.05, **common)


def has_ffmpeg() -> bool:
    """Gradio encodes streamed audio with ffmpeg: without it there is no live preview."""
    return shutil.which("ffmpeg") is not None


def pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] as the 16-bit PCM that Gradio's players take as they are."""
    return (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)


def voice_choices(custom_label: str | None = None, presets: list[str] | None = None) -> list[tuple[str, str]]:
    """The voice picker's (label, value) choices: this session's own voice first when there is one, the presets
    (default: all) with their language and what a source says of them (`catalog.preset_label`), then 'none'."""
    mine = [(f"🎙 {custom_label} (your voice)", CUSTOM)] if custom_label else []
    presets = catalog.presets_for("any") if presets is None else presets
    return mine + [(catalog.preset_label(n), n) for n in presets] + [(NO_VOICE_LABEL, NO_VOICE)]


def status_html(text: str, fraction: float | None = None, kind: str = "info") -> str:
    """The status line next to an action: its message (escaped), with a progress bar while it works. An error
    is an alert, so a screen reader says it."""
    bar = (f'<progress max="1" value="{fraction:.3f}" aria-label="progress"></progress>'
           if fraction is not None else "")
    role = "alert" if kind == "error" else "status"
    return f'<div class="bark-status {kind}" role="{role}">{bar}<span>{html.escape(text)}</span></div>'


def stage_of(label: str) -> str:
    """A progress label without its numbers ("coarse 12/300" -> "coarse "): what changes between stages."""
    return re.sub(r"[\d.,/]+", "", label)


def refusal(e: Exception, what: str) -> str:
    """The page's message for a failed request, logged in one line (a traceback only for what is not the
    caller's input: that is a bug)."""
    if isinstance(e, GenerationCancelled):
        message = "Stopped."
    elif isinstance(e, ValueError):
        message = for_people(str(e))
    else:
        log.exception("%s failed", what)
        return f"{what} failed ({type(e).__name__}: {e}). Try again or change the settings."
    log.info("%s refused: %s", what, message)
    return message


def api_error(message: str) -> gr.Error:
    """The error an API caller receives; the page already shows `message` in its status line (no toast)."""
    return gr.Error(message, visible=False, print_exception=False)


def js_insert(cue: str) -> str:
    """Browser-side: insert `cue` at the cursor of the text box (no server round trip)."""
    return f"""(text) => {{
        const el = document.querySelector('#bark-text textarea'); const cue = {json.dumps(cue)};
        text = text || ''; const s = el ? el.selectionStart : text.length; const e = el ? el.selectionEnd : s;
        const pre = text.slice(0, s); const sep = pre && !pre.endsWith(' ') ? ' ' : '';
        return pre + sep + cue + ' ' + text.slice(e).replace(/^ /, '');
    }}"""


# Gradio marks an empty player or upload box with a bare <div aria-label="Empty value">: an aria-label on an element
# without a role, which screen readers may ignore (axe: aria-prohibited-attr). Giving those a role makes the label
# count; an observer keeps doing it as components appear. The voice picker's text is selected when it gets the
# focus, so that what is typed replaces the shown voice and filters the list (rather than landing inside it).
JS_ON_LOAD = """const name = () => document.querySelectorAll('.empty[aria-label]:not([role])')
    .forEach(e => e.setAttribute('role', 'img'));
name(); new MutationObserver(name).observe(document.body, {childList: true, subtree: true});
document.addEventListener('focusin', e => { if (e.target.matches('#bark-voice input')) e.target.select(); });"""

# A new action clears the error lines left by earlier ones elsewhere on the page (each error stays until then).
JS_CLEAR_ERRORS = "(...lines) => lines.map(v => typeof v === 'string' && v.includes('bark-status error') ? '' : v)"

# Generate, on a page whose result sits below the screen (a phone: the columns stack): scroll so that Generate is
# at the top, with its status line, the live preview and the result under it.
JS_SHOW_RESULT = """() => {
    const go = document.querySelector('#bark-generate'), take = document.querySelector('#bark-take-1');
    if (go && take && take.getBoundingClientRect().top + 120 > window.innerHeight)
        go.scrollIntoView({block: 'start'}); }"""

# Downloads a file output in the browser, on the click that made it (a DownloadButton would hand over its
# previous file: it downloads what it holds before its click handler runs).
JS_DOWNLOAD = """(f) => { if (!f || !f.url) return; const a = document.createElement('a'); a.href = f.url;
    a.download = f.orig_name || 'download'; document.body.appendChild(a); a.click(); a.remove(); }"""


def pick_voice(voice, npz_path, custom) -> tuple[Voice | str | None, dict | None]:
    """What a request is conditioned on: an .npz passed by an API caller, this session's own voice ("custom"),
    no voice, or a preset. Returns (voice, custom voice entry or None). A name that is no preset is refused here:
    the engine would take it for a path, and a page's caller names no file on the server."""
    if npz_path:
        loaded = Voice.load(npz_path, name=Path(npz_path).name)
        return loaded, {"label": f"uploaded {Path(npz_path).name}", "voice": loaded}
    if voice == CUSTOM:
        if not custom:
            raise ValueError("there is no voice of your own yet: upload an .npz prompt, make one from a recording, "
                             "or use a take as the voice")
        return custom["voice"], custom
    if voice in (None, "", NO_VOICE):
        return None, None
    return catalog.check_preset_name(voice), None


def check_precision(precision) -> str:
    """The precision field's value, checked: "fast" or "exact"."""
    if precision not in ("fast", "exact"):
        raise ValueError(f"precision must be 'fast' or 'exact'; got {precision!r}")
    return precision


def read_txt(path) -> str:
    """An uploaded .txt file -> the text box's new text (UTF-8, size-checked)."""
    data = Path(path).read_bytes()
    if len(data) > 4 * LONG.max_chars:
        raise ValueError(f"the text file is {len(data) / 1e3:.0f} kB; at most {LONG.max_chars:,} characters are "
                         f"accepted")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("the text file is not valid UTF-8: save it as UTF-8 text and upload it again") from None


def on_reference(path) -> str:
    """The status line of the uploaded or recorded reference clip: what it is, checked at once as "Make a voice"
    will check it (decoding and trimming are cheap; only HuBERT is not), so a clip too short, silent or unreadable
    is refused here and not after a click."""
    if not path:
        return status_html("No recording yet.")
    try:
        info = sf.info(path)
        clip = prepare_clip(read_recording(path))
    except ValueError as e:
        return status_html(f"This recording cannot make a voice: {for_people(str(e))}.", kind="error")
    except Exception:  # noqa: BLE001 - any unreadable upload gets the same answer
        return status_html("This file could not be read as audio (wav, flac, ogg or mp3).", kind="error")
    return status_html(f"Recording received: {info.duration:.1f} s, {info.samplerate} Hz, {info.channels} "
                       f"channel(s); {clip.duration_s:.1f} s of sound will be used. Click “Make a voice from this "
                       f"recording” to use it.")


def history_rows(history) -> list[list]:
    """The session history table: one row per take."""
    return [[h["n"], h["settings"]["text"][:60], h["settings"]["voice"], h["settings"]["language"],
             h["settings"]["seed"], round(h["duration"], 2), round(h["rtf"], 2)] for h in history]


def history_choices(history) -> list[tuple[str, str]]:
    """(label, take id) of each take, for the history's take picker."""
    return [(f"{take_label(h)}: {h['settings']['text'][:40]}", h["id"]) for h in history]


def take_label(take: dict) -> str:
    """How the page names a take: "take 3 · seed 7"."""
    return f"take {take['n']} · seed {take['settings']['seed']}"


def custom_from_take(take: dict | None) -> dict:
    """A take as this session's own voice (its tokens as the prompt), or ValueError saying why it cannot be."""
    if not take:
        raise ValueError("Generate a take first (or pick one in the history).")
    if take["voice"] is None:
        raise ValueError(f"{take_label(take)} is too short to be a voice prompt; use a take of a second or more.")
    return {"label": take_label(take), "voice": take["voice"]}


@dataclass
class TakeSlot:
    """One take on the page: its title ("take 3 · seed 7 · 2.1 s"), player, own downloads and own "use as the
    voice". A request shows up to APP_MAX_TAKES of them; the first is the Result. What the API returns of it is
    plain values (the title, the audio file, the four files); what only the page needs goes by containers and
    buttons, which the API does not see."""

    index: int
    box: gr.Column
    title: gr.Markdown
    audio: gr.Audio
    files_row: gr.Row
    files: dict[str, gr.DownloadButton]
    use: gr.Button
    take: gr.State

    @classmethod
    def build(cls, index: int) -> TakeSlot:
        n = index + 1
        with gr.Column(visible=index == 0, elem_id=f"bark-take-{n}", elem_classes="bark-take") as box:
            title = gr.Markdown("", elem_id=f"bark-take-{n}-title")
            audio = gr.Audio(label="Result" if index == 0 else f"Result {n}", show_label=index == 0,
                             interactive=False, autoplay=False, elem_id=f"bark-take-{n}-audio")
            with gr.Row(visible=False, elem_id=f"bark-take-{n}-files") as files_row:
                files = {key: gr.DownloadButton(label, size="sm", elem_id=f"bark-take-{n}-{key}", min_width=90)
                         for key, label in (("wav", "⬇ WAV"), ("voice", "⬇ voice (.npz)"),
                                            ("tokens", "⬇ tokens (.npz)"), ("bundle", "⬇ bundle (.zip)"))}
                use = gr.Button("Use this take as the voice", size="sm", elem_id=f"bark-take-{n}-use", min_width=90)
        return cls(index, box, title, audio, files_row, files, use, gr.State(None))

    def api_outputs(self) -> list:
        return [self.audio, self.title, *self.files.values()]

    def page_outputs(self) -> list:
        return [self.box, self.files_row, self.use, self.take]

    def show(self, take: dict | None) -> dict:
        """What shows `take` here (None: this slot is not used by the request)."""
        if take is None:
            return {self.box: gr.update(visible=self.index == 0), self.title: "", self.audio: None,
                    **dict.fromkeys(self.files.values()), self.files_row: gr.update(visible=False),
                    self.take: None}
        paths = dict(wav=take["wav"], voice=take["npz"], tokens=take["tokens"], bundle=take["bundle"])
        use = gr.update(value=f"Use take {take['n']} as the voice", interactive=take["voice"] is not None)
        return {**{self.files[k]: p for k, p in paths.items()}, self.box: gr.update(visible=True),
                self.title: f"**{take_label(take)}** · {take['duration']:.1f} s",
                self.audio: take["wav"] or take["samples"], self.files_row: gr.update(visible=True), self.use: use,
                self.take: take}


# -- the page ----------------------------------------------------------------------------------------------------

def build_header(pipelines: Pipelines) -> gr.Markdown:
    """Title, one line on what the studio does, and the banner shown when the model's weights are random."""
    gr.Markdown("# 🐶 Bark Studio\nType text, pick a voice, press **Generate**: Suno's Bark speaks it, and the token "
                "panel shows what each stage made.", elem_id="bark-header")
    return gr.Markdown(f"⚠️ **{RANDOM_BANNER}**", elem_id="bark-random-weights",
                       visible=pipelines.random_weights(pipelines.models[0]))


def build_studio(pipelines: Pipelines, live_ok: bool) -> SimpleNamespace:
    """The Studio: text, voice and Generate on the left, the takes and the examples on the right (on a phone: in
    that order); settings and the voice tools below them."""
    ui = SimpleNamespace(custom=gr.State(None), history=gr.State([]))
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            build_text_inputs(ui)
            build_action(ui, pipelines)
        with gr.Column(scale=1, min_width=300):
            build_results(ui, live_ok)
            build_examples(ui)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            build_settings(ui, pipelines, live_ok)
            build_own_voice(ui)
        with gr.Column(scale=1, min_width=300):
            build_take_details(ui)
    return ui


def build_text_inputs(ui: SimpleNamespace) -> None:
    ui.text = gr.Textbox(label="Text", lines=4, elem_id="bark-text",
                         placeholder="Hello! [laughs] I'm Bark. ♪ I can sing too ♪ (any length: long text is split)")
    ui.counter = gr.Markdown("0 BERT tokens", elem_id="bark-count")
    # Created here for the examples (they fill it), shown in the settings.
    ui.language = app_checked(gr.Dropdown(LANG_CHOICES, value="any", label="Text language", elem_id="bark-language",
                                          info="how long text is split into sentences", render=False))
    with gr.Row(equal_height=False):
        ui.voice = gr.Dropdown(voice_choices(), value=DEFAULT_VOICE, label="Voice", filterable=True,
                               allow_custom_value=True, elem_id="bark-voice", info=VOICE_INFO, scale=2, min_width=230)
        # The picker's own filter matches one run of characters; this one matches words in any order.
        ui.voice_search = gr.Textbox(label="Find a voice", placeholder="e.g. German female", max_lines=1,
                                     elem_id="bark-voice-search", scale=1, min_width=150,
                                     info="words, any order")
    ui.language_tip = gr.Markdown("", elem_id="bark-language-tip")


def build_action(ui: SimpleNamespace, pipelines: Pipelines) -> None:
    with gr.Row():
        ui.go = gr.Button("Generate", variant="primary", elem_id="bark-generate", scale=3, min_width=100)
        ui.stop = gr.Button("Stop", variant="secondary", elem_id="bark-stop", scale=1, min_width=70)
    ui.status = gr.HTML("", elem_id="bark-status")
    ui.precision = app_checked(gr.Radio([("fast", "fast"), ("exact", "exact")], value=pipelines.default_precision,
                                        label="Precision", info=PRECISION_INFO, elem_id="bark-precision"))


def build_settings(ui: SimpleNamespace, pipelines: Pipelines, live_ok: bool) -> None:
    with gr.Accordion("Settings", open=False, elem_id="bark-settings"):
        with gr.Row():
            ui.n_takes = slider_field(1, APP_MAX_TAKES, value=1, step=1, precision=0, label="takes",
                                      info=f"variations (seeds s, s+1, …) made together, 1 to {APP_MAX_TAKES}",
                                      elem_id="bark-n-takes")
            ui.live = gr.Checkbox(live_ok, label="play while generating", interactive=live_ok, elem_id="bark-live-on",
                                  info="a live preview of the (first) take as it is made" if live_ok
                                  else "needs ffmpeg on the server (not installed)")
        ui.language.render()
        ui.sampling = {}
        for first in range(0, len(SAMPLING), 2):  # two fields a row: each keeps room for its help line
            with gr.Row():
                ui.sampling |= {s.name: setting_field(s) for s in SAMPLING[first:first + 2]}
        with gr.Row():
            ui.seed = number_field(42, precision=0, minimum=0, label="seed", elem_id="bark-seed",
                                   info="used when 'random seed' is off")
            ui.random_seed = gr.Checkbox(True, label="random seed", elem_id="bark-random-seed")
            ui.model = app_checked(gr.Dropdown(pipelines.models, value=pipelines.models[0], label="model",
                                               elem_id="bark-model", visible=len(pipelines.models) > 1))
    with gr.Accordion("Cues, a .txt file, how long text is split", open=False, elem_id="bark-text-tools"):
        gr.Markdown("CAPITALS add emphasis; `—` or `...` add hesitation; `♪` around lyrics sings them.")
        with gr.Row():
            ui.cue_buttons = [gr.Button(c, size="sm", min_width=40, scale=0, elem_classes="bark-cue") for c in CUES]
        ui.txt_file = gr.UploadButton("Load the text from a .txt file", file_types=[".txt"], type="filepath",
                                      size="sm", variant="secondary", elem_id="bark-txt")
        ui.plan = gr.Dataframe(headers=["chunk", "text", "≈ seconds"], interactive=False, elem_id="bark-plan",
                               label="How the text will be split")


def build_own_voice(ui: SimpleNamespace) -> None:
    with gr.Accordion("Your own voice: an .npz prompt or a recording", open=False, elem_id="bark-own-voice"):
        ui.npz_upload = gr.File(label="Voice prompt (.npz)", file_types=[".npz"], type="filepath",
                                elem_id="bark-npz")
        ui.npz_status = gr.HTML("", elem_id="bark-npz-status")
        ui.reference = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Reference recording",
                                elem_id="bark-reference")
        ui.reference_status = gr.HTML(status_html("No recording yet."), elem_id="bark-reference-status")
        ui.make_voice = gr.Button("Make a voice from this recording", elem_id="bark-make-voice")
        with gr.Column(visible=False) as ui.my_voice_box:
            ui.my_voice_file = gr.DownloadButton("⬇ my voice (.npz)", elem_id="bark-my-voice")
        gr.Markdown("🔒 A voice made from a recording lives only in this browser session: it is never shared, "
                    "listed or kept after you leave — download it to keep it. Only use recordings of people who "
                    "agreed to it.")
    ui.npz_api = gr.File(visible=False, label="npz_path")  # the API's .npz voice (the page uploads above)


def build_results(ui: SimpleNamespace, live_ok: bool) -> None:
    ui.live_audio = gr.Audio(label="Live preview", streaming=True, autoplay=True, interactive=False,
                             elem_id="bark-live", visible=live_ok)
    ui.slots = [TakeSlot.build(i) for i in range(APP_MAX_TAKES)]
    with gr.Column(visible=False, elem_id="bark-take-info") as ui.take_info:
        ui.timing = gr.Markdown(elem_id="bark-timing")
        ui.seed_used = gr.Number(label="seed used", interactive=False, precision=0, elem_id="bark-seed-used")


def build_take_details(ui: SimpleNamespace) -> None:
    with gr.Accordion("Settings of this take", open=False, elem_id="bark-take-settings",
                      visible=False) as ui.take_settings:
        ui.settings_json = gr.JSON(label="Settings of this take")
    with gr.Accordion("Re-create a take from its bundle", open=False, elem_id="bark-reproduce"):
        ui.bundle_in = gr.File(label="Take bundle (.zip)", file_types=[".zip"], type="filepath",
                               elem_id="bark-bundle-in")
        ui.reproduce = gr.Button("Re-create this take", elem_id="bark-reproduce-go")
        ui.reproduce_msg = gr.HTML("", elem_id="bark-reproduce-msg")


def build_examples(ui: SimpleNamespace) -> None:
    """Examples next to the text box: a click fills text, language and voice (nothing is generated)."""
    examples = json.loads((ROOT / "examples" / "examples.json").read_text(encoding="utf-8"))["examples"]
    labels = [f"{e['text'][:34].rstrip()}{'…' if len(e['text']) > 34 else ''} ({LANGUAGES.get(e['language'], '')})"
              for e in examples]
    with gr.Column(elem_id="bark-examples"):
        gr.Examples([[e["text"], e["language"], e["voice"] or NO_VOICE] for e in examples],
                    inputs=[ui.text, ui.language, ui.voice], example_labels=labels, cache_examples=False,
                    label="Examples (a click fills the text and voice)")


def build_token_tab() -> gr.Plot:
    gr.Markdown("What Bark produced at each stage, on one time axis: **semantic tokens** (what is said, 49.9/s), "
                "the **coarse** EnCodec codebooks (the voice and rough sound, 75/s), all 8 **fine** codebooks "
                "(detail), and the resulting **spectrogram**. Hover to read token ids.")
    return gr.Plot(elem_id="bark-plot", label="Tokens of the take", show_label=False)


def build_history_tab(ui: SimpleNamespace) -> None:
    ui.table = gr.Dataframe(headers=["#", "text", "voice", "language", "seed", "seconds", "RTF"], interactive=False,
                            label="Takes of this session", elem_id="bark-history")
    with gr.Row():
        ui.pick = gr.Dropdown([], label="Take", interactive=True, elem_id="bark-pick")
        ui.reuse = gr.Button("Use this take as the voice", elem_id="bark-reuse")
    ui.history_status = gr.HTML("", elem_id="bark-history-status")
    ui.picked_audio = gr.Audio(label="Picked take", interactive=False, autoplay=False)
    ui.picked_bundle = gr.DownloadButton("⬇ this take's bundle (.zip)", visible=False)
    ui.picked = gr.State(None)


def build_api(ui: SimpleNamespace) -> None:
    """The hidden fields of `/tts` (its own, so that the endpoint stays as documented whatever the page does)."""
    with gr.Column(visible=False):
        ui.tts_text = gr.Textbox(label="text")
        ui.tts_voice = gr.Textbox(DEFAULT_VOICE, label="voice")
        ui.tts_seed = number_field(None, precision=0, label="seed")
        ui.tts_sampling = {s.name: setting_field(s, prefix="tts") for s in SAMPLING}
        ui.tts_audio = gr.Audio(type="filepath", format="wav", label="audio")
        ui.tts_seed_used = gr.Number(precision=0, label="seed used")
        ui.tts_go = gr.Button("tts")


# -- the handlers ------------------------------------------------------------------------------------------------

class Studio:
    """The Studio's request handlers over one set of pipelines. Nothing per user is kept here (that lives in each
    session's gr.State); what is shared: the pipelines, the folder of downloads, the Stop signals, and the set of
    worker threads generating right now (tests check that Stop ends them)."""

    def __init__(self, pipelines: Pipelines, ui: SimpleNamespace, live_ok: bool):
        self.pipelines, self.ui, self.live_ok = pipelines, ui, live_ok
        self.out_dir = Path(tempfile.mkdtemp(prefix="bark-studio-"))
        self.active: set[int] = set()
        self.stops = StopSignals()
        self._detector: LanguageDetector | None = None
        self._detector_lock = threading.Lock()

    def count(self, text: str, model: str, language: str):
        """Live token count and the split preview (exact with the model's tokenizer, else estimated); text over
        the cap says so before Generate is pressed."""
        line, rows = studio.text_summary(text, self.pipelines.tokenizer(model), language, LONG)
        try:
            studio.check_length(text, LONG)
        except ValueError as e:
            line += f" · ⚠️ {e}"
        return {self.ui.counter: line, self.ui.plan: rows}

    def advice(self, text: str, voice: str) -> str:
        """A tip when the text's language and the preset's do not match (nothing for your own voice)."""
        if voice in (CUSTOM, NO_VOICE, None, ""):
            return ""
        with self._detector_lock:  # the detector's small model loads on first use, not at start-up
            if self._detector is None:
                self._detector = LanguageDetector()
        found = self._detector.detect(text)
        try:
            tip = language_advice(found[0] if found else None, voice)
        except ValueError:  # a name typed into the picker that is no preset: Generate will say so
            tip = None
        return f"⚠️ {tip}" if tip else ""

    def voice_update(self, custom: dict | None, use_it: bool = True) -> dict:
        """The picker with this session's own voice listed first (and chosen, with `use_it`)."""
        info = "your own voice is in use · pick a preset to go back" if custom and use_it else VOICE_INFO
        return gr.update(choices=voice_choices(custom["label"] if custom else None), info=info,
                         **({"value": CUSTOM} if use_it and custom else {}))

    def find_voice(self, query: str, voice: str, custom: dict | None) -> dict:
        """"Find a voice": the picker lists the presets matching every word typed (`catalog.search_presets`),
        the voice in use kept; its hint says how many match. Nothing typed: every preset again."""
        label = custom["label"] if custom else None
        query = (query or "").strip()
        found = catalog.search_presets(query)
        if not query or not found:
            info = (f"no preset matches “{query}”: try a language (German), a gender (female) or a name "
                    f"(de_speaker_3) · all voices listed" if query else VOICE_INFO)
            return {self.ui.voice: gr.update(choices=voice_choices(label), info=info)}
        kept = [voice] if catalog.is_preset_name(voice) and voice not in found else []
        info = f"{len(found)} preset{'s' * (len(found) != 1)} match “{query}”: open the list to pick"
        return {self.ui.voice: gr.update(choices=voice_choices(label, kept + found), info=info)}

    def on_voice(self, voice: str, custom: dict | None) -> dict:
        """The picker changed: its hint says whether your own voice or a preset is in use."""
        return {self.ui.voice: self.voice_update(custom, use_it=voice == CUSTOM)}

    def use_voice(self, custom: dict) -> dict:
        return {self.ui.custom: custom, self.ui.voice: self.voice_update(custom)}

    def on_npz(self, path):
        """An uploaded .npz prompt becomes your voice; a bad one is cleared from the box, with the reason."""
        if not path:
            return {}
        try:
            voice = Voice.load(path, name=Path(path).name)
        except ValueError as e:
            message = refusal(e, "Voice upload")
            return {self.ui.npz_upload: None, self.ui.npz_status: status_html(message, kind="error")}
        custom = {"label": f"uploaded {Path(path).name}", "voice": voice}
        return {**self.use_voice(custom), self.ui.npz_status: status_html(
            f"Using {custom['label']} ({voice.duration_s:.1f} s prompt) as the voice.")}

    def use_take(self, take, status=None):
        """A take becomes your voice; if it cannot, the status line next to the button (`status`: the Studio's
        by default) says why and the voice stays."""
        status = status or self.ui.status
        try:
            return {**self.use_voice(custom_from_take(take)),
                    status: status_html(f"Using {take_label(take)} as the voice.")}
        except ValueError as e:
            return {status: status_html(refusal(e, "Use as voice"), kind="error")}

    def load_txt(self, path):
        try:
            return {self.ui.text: read_txt(path), self.ui.status: ""}
        except ValueError as e:
            return {self.ui.status: status_html(refusal(e, "Text upload"), kind="error")}

    def make_voice(self, path, model):
        """A voice from a reference recording (HuBERT + quantizer): it becomes your voice, downloadable."""
        ui = self.ui
        try:
            if not path:
                raise ValueError("Upload or record a clip first (at least 1 s of speech; 10–15 s works best).")
            voice = self.pipelines.cloner(model).voice_from_recording(path, name="your recording")
        except Exception as e:  # noqa: BLE001 - the page shows a message and the app keeps serving
            message = refusal(e, "Making the voice")
            yield {ui.reference_status: status_html(message, kind="error")}
            raise api_error(message) from None
        custom = {"label": f"your recording ({voice.duration_s:.1f} s)", "voice": voice}
        # Written only for its owner's download, under a random name; never listed anywhere.
        npz_path = voice.save(self.out_dir / f"my-voice-{uuid.uuid4().hex}.npz")
        status = (f"Voice made from {voice.duration_s:.1f} s of your recording: {len(voice.semantic_prompt)} "
                  f"semantic tokens, {voice.coarse_prompt.shape[1]} codec frames. It is now the voice.")
        yield {**self.use_voice(custom), ui.reference_status: status_html(status), ui.my_voice_file: str(npz_path),
               ui.my_voice_box: gr.update(visible=True)}

    # generation ---------------------------------------------------------------------------------------------

    def keep_take(self, pipe, result, n: int, voice, custom, preset, language, split_language) -> dict:
        """Save a take's downloads and describe it for the page and the history (a failed save keeps it
        playable: its samples stay in the take)."""
        files, error = studio.save_take(self.out_dir, pipe, result, voice, split_language, LONG)
        if error:
            log.warning("%s", error)
        label = custom["label"] if custom else (preset if preset not in (None, "") else NO_VOICE)
        settings = {**result.settings, "voice": label, "language": language, "seed": result.seed,
                    "precision": pipe.precision}
        return {**files, "n": n, "settings": settings, "duration": result.duration_s, "rtf": result.rtf,
                "samples": None if files["wav"] else (result.sample_rate, pcm16(result.audio)), "error": error}

    def shown(self, results, takes: list[dict], history: list[dict], done: str) -> dict:
        """Every output of the Studio for a request's takes (all of them belong to these takes)."""
        ui, result = self.ui, results[0]
        fig = token_figure(result.semantic_tokens, result.coarse_tokens, result.fine_tokens, result.audio,
                           result.semantic_starts, result.frame_starts, result.sample_starts)
        fig.update_layout(margin=dict(t=70))  # room above the first title for plotly's toolbar
        errors = [t["error"] for t in takes if t["error"]]
        out = {ui.timing: studio.timing_summary(results), ui.settings_json: takes[0]["settings"], ui.plot: fig,
               ui.history: history, ui.seed_used: result.seed, ui.take_info: gr.update(visible=True),
               ui.take_settings: gr.update(visible=True),
               ui.status: status_html(errors[0], kind="error") if errors else status_html(done)}
        for i, slot in enumerate(ui.slots):
            out.update(slot.show(takes[i] if i < len(takes) else None))
        return out

    def on_history(self, history: list[dict]) -> dict:
        """The history tab follows the session's history: its table and its take picker (the newest picked)."""
        return {self.ui.table: history_rows(history),
                self.ui.pick: gr.update(choices=history_choices(history), value=history[-1]["id"] if history else None)}

    def generate_sync(self, text, voice, language, npz_path, seed, random_seed, model, precision, n_takes, custom,
                      history, sampling: dict, on_audio, report, cancel) -> dict:
        """One request, checked and run in a worker thread: its takes saved, and every output the page shows."""
        studio.check_length(text, LONG)
        check_text(text)  # empty text is refused before a first request loads the models
        kw = studio.sampling_settings(sampling, seed, random_seed)
        n_takes = studio.check_takes(n_takes)
        check_precision(precision)
        if language != "any" and language not in LANGUAGES:
            raise ValueError(f"text language must be 'any' or one of {', '.join(LANGUAGES)}; got {language!r}")
        chosen, custom = pick_voice(voice, npz_path, custom)
        split_language = language if language != "any" else "en"
        pipe = self.pipelines.get(model, precision, progress=lambda *e: report(*studio.loading_progress(*e)))
        results = run_request(pipe, text, chosen, split_language, kw, n_takes, on_audio, report, cancel, LONG)
        takes = [self.keep_take(pipe, r, len(history) + i + 1, chosen, custom, voice, language, split_language)
                 for i, r in enumerate(results)]
        history = (history + takes)[-MAX_HISTORY:]
        return self.shown(results, takes, history, f"Done: {take_label(takes[0])}"
                          + (f" and {len(takes) - 1} more" if len(takes) > 1 else "") + ".")

    async def generate(self, text, voice=DEFAULT_VOICE, language="any", npz_path=None, seed=42, random_seed=True,
                       model=None, precision="fast", n_takes=1, live=False, custom=None, history=None,
                       progress=gr.Progress(), request: gr.Request = None, **sampling):  # noqa: B008
        """Runs the request in a worker thread, yielding the status line's progress and the live preview as they
        come; Stop cancels this task and the worker ends at its next step."""
        ui = self.ui
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()

        def put(kind: str, item) -> None:  # called from the worker thread
            loop.call_soon_threadsafe(events.put_nowait, (kind, item))

        report = self.reporter(progress, put)
        args = (text, voice, language, npz_path, seed, random_seed, model or self.pipelines.models[0], precision,
                n_takes, custom, list(history or []), sampling,
                (lambda audio: put("audio", audio)) if live and self.live_ok else None, report, cancel)

        def work():
            self.active.add(threading.get_ident())
            try:
                return self.generate_sync(*args)
            finally:
                self.active.discard(threading.get_ident())

        # The live player still holds the previous request's preview: clear it (a value update, not a stream
        # chunk), so that a request which streams nothing (several takes, long text, preview off) shows none.
        yield {ui.live_audio: gr.update(value=None), ui.status: status_html("Starting…", 0.0)}
        with self.stops.register(getattr(request, "session_hash", None), cancel):
            job = asyncio.ensure_future(anyio.to_thread.run_sync(work, abandon_on_cancel=True))
            try:
                async for update in self.updates(job, events):
                    yield update
                outputs = job.result()
            except (asyncio.CancelledError, GeneratorExit):
                cancel.set()
                job.cancel()
                raise
            except Exception as e:  # noqa: BLE001 - the page shows the message and keeps its outputs
                message = refusal(e, "Generation")
                yield {ui.status: status_html(message, kind="error")}
                raise api_error(message) from None
        yield outputs

    def reporter(self, progress, put):
        """progress(fraction, label) for a request: Gradio's progress (for API callers) and the status line, sent
        at most every STATUS_EVERY_S unless the stage changes."""
        last = {"t": 0.0, "stage": None}

        def report(fraction: float, label: str) -> None:
            progress(fraction, desc=label)
            stage, now = stage_of(label), time.monotonic()
            if stage != last["stage"] or now - last["t"] >= STATUS_EVERY_S:
                last.update(t=now, stage=stage)
                put("status", (fraction, label))

        return report

    async def updates(self, job, events: asyncio.Queue):
        """The worker's events as page updates while it runs: preview audio (every chunk, joined when several
        wait) and the status: of statuses that wait together, the latest of each stage, so that every stage
        (each part that loads, too) reaches the page."""
        while not (job.done() and events.empty()):
            getter = asyncio.ensure_future(events.get())
            await asyncio.wait({job, getter}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                continue
            items = [getter.result()]
            while not events.empty():
                items.append(events.get_nowait())
            statuses = [s for kind, s in items if kind == "status"]
            shown = [s for s, after in zip(statuses, [*statuses[1:], None], strict=False)
                     if after is None or stage_of(after[1]) != stage_of(s[1])]
            updates = [{self.ui.status: status_html(label, fraction)} for fraction, label in shown] or [{}]
            audio = [a for kind, a in items if kind == "audio"]
            if audio:
                updates[-1][self.ui.live_audio] = (C.SAMPLE_RATE, pcm16(np.concatenate(audio)))
            for update in updates:
                yield update

    def stop_mine(self, request: gr.Request):
        """Stop, on the server: ends this browser session's generations at their next step; the page says so."""
        self.stops.stop(request.session_hash)
        return status_html("Stopped.")

    def reproduce_take(self, path, model, history, progress=gr.Progress()):  # noqa: B008
        """Re-create a take from its bundle: every output then belongs to it, it joins the history, and the
        message says whether its tokens are the bundle's."""
        ui = self.ui
        try:
            if not path:
                raise ValueError("Upload a take bundle (.zip) first.")
            bundle = read_bundle(path)
            preset = (bundle.settings.get("voice") or {}).get("preset")
            if preset is not None:  # a bundle names a preset, never a file on the server
                catalog.check_preset_name(preset)
            mode = studio.precision_mode(bundle.settings.get("precision"), self.pipelines.device)
            pipe = self.pipelines.get(model, mode)
            result, diffs, same = reproduce(pipe, bundle, progress=lambda *e: progress(*studio.overall_progress(*e)))
        except Exception as e:  # noqa: BLE001
            message = refusal(e, "Re-creating the take")
            yield {ui.reproduce_msg: status_html(message, kind="error")}
            raise api_error(message) from None
        verdict = ("✅ Re-created: the tokens are identical to the bundle's." if same
                   else "⚠️ Re-generated, but the tokens differ from the bundle's.")
        if diffs:
            verdict += " Differences in set-up: " + "; ".join(diffs) + "."
        s = bundle.settings
        voice = bundle.prompt if (s.get("voice") or {}).get("embedded") else (s.get("voice") or {}).get("preset")
        custom = {"label": f"{s['voice'].get('label', 'bundled prompt')}", "voice": voice} if isinstance(
            voice, Voice) else None
        language = s.get("language", "en")
        take = self.keep_take(pipe, result, len(history) + 1, voice, custom, voice, language, language)
        history = (list(history) + [take])[-MAX_HISTORY:]
        yield {**self.shown([result], [take], history, f"Re-created from the bundle as {take_label(take)}."),
               ui.reproduce_msg: status_html(verdict)}

    def tts(self, text, voice=DEFAULT_VOICE, seed=None, **sampling):
        """/tts: text (and optionally a voice preset, a seed and sampling settings) -> (WAV file, seed used).
        A seed of None draws one; every error is one message."""
        try:
            studio.check_length(text, LONG)
            kw = studio.sampling_settings(sampling, seed, random_seed=seed is None)
            chosen, _ = pick_voice(voice, None, None)
            pipe = self.pipelines.get(self.pipelines.models[0], self.pipelines.default_precision)
            result = run_request(pipe, text, chosen, "en", kw, 1, None, lambda *_: None, threading.Event(), LONG)[0]
            path = result.save_wav(self.out_dir / f"bark-tts-{uuid.uuid4().hex[:8]}.wav")
        except Exception as e:  # noqa: BLE001
            raise api_error(refusal(e, "tts")) from None
        return str(path), result.seed

    def pick_take(self, take_id, history):
        """A take picked in the history -> its player, the take, its bundle."""
        take = next((h for h in history if h["id"] == take_id), None)
        if take is None:
            return {self.ui.picked_audio: None, self.ui.picked: None,
                    self.ui.picked_bundle: gr.update(value=None, visible=False)}
        return {self.ui.picked_audio: gr.update(value=take["wav"] or take["samples"], label=take_label(take)),
                self.ui.picked: take, self.ui.picked_bundle: gr.update(value=take["bundle"],
                                                                        visible=take["bundle"] is not None)}


# -- Evaluate ----------------------------------------------------------------------------------------------------

def grid_css(n_rows: int, n_cols: int) -> str:
    """The grid's layout for n_rows texts x n_cols values: a column of row headers (the texts), a row of column
    headers (the values), the cells in row-major order (CSS grid `order` places the fixed elements)."""
    rules = [f"#grid-board {{ grid-template-columns: minmax(110px, 0.6fr) repeat({n_cols}, minmax(210px, 1fr)); }}",
             "#grid-corner { order: 0; }"]
    rules += [f"#grid-col-{c} {{ order: {1 + c}; }}" for c in range(n_cols)]
    for r in range(n_rows):
        base = (r + 1) * (n_cols + 1)
        rules.append(f"#grid-row-{r} {{ order: {base}; }}")
        rules += [f"#grid-cell-{r * n_cols + c} {{ order: {base + 1 + c}; }}" for c in range(n_cols)]
    return "<style>" + "\n".join(rules) + "</style>"


class GridTab:
    """The Evaluate tab: a real grid — one row per line of text (headed by it), one column per value of the
    chosen setting (headed by it) — each cell a take to hear, rate and keep."""

    def __init__(self, pipelines: Pipelines, out_dir: Path):
        self.pipelines, self.out_dir = pipelines, out_dir
        gr.Markdown("Compare takes side by side: each **line** of text is a row, each column a value of the setting "
                    "you compare along; the other settings are the Studio's. Rate the cells, star favourites, and "
                    "download the ratings as CSV for a small listening test.")
        with gr.Row():
            self.lines = gr.Textbox(label="Text (one line per row)", lines=3, elem_id="grid-text")
            with gr.Column():
                # The app checks these (evaluation.parse_values, the preset names, the models): its messages
                # say what is allowed.
                self.axis = app_checked(gr.Radio(list(AXES), value="voice", label="Compare along",
                                                 elem_id="grid-axis"))
                self.voices = app_checked(gr.Dropdown(voice_choices()[:-1], multiselect=True, label="voices",
                                                      value=["v2/en_speaker_6", "v2/en_speaker_9"],
                                                      elem_id="grid-voices"))
                self.k = number_field(3, precision=0, minimum=1, maximum=MAX_CELLS, label="takes (seeds s, s+1, …)",
                                      visible=False, elem_id="grid-k")
                self.temps = gr.Textbox("0.5, 0.7, 0.9", label="temperatures (text and waveform)", visible=False,
                                        elem_id="grid-temps")
                self.models = app_checked(gr.Dropdown(pipelines.models, multiselect=True, value=pipelines.models[:2],
                                                      label="models", visible=False, elem_id="grid-models"))
        with gr.Row():
            self.run = gr.Button("Fill the grid", variant="primary", elem_id="grid-run")
            self.stop = gr.Button("Stop", variant="secondary", elem_id="grid-stop")
            self.csv_button = gr.Button("⬇ ratings (.csv)", elem_id="grid-csv")
        self.csv = gr.File(visible="hidden", label="ratings", elem_id="grid-csv-file")
        self.status = gr.HTML("", elem_id="grid-status")
        self.cells_state = gr.State([])
        self.style = gr.HTML(grid_css(0, 0), elem_id="grid-style", visible="hidden")
        self.build_board()

    def build_board(self) -> None:
        with gr.Row(elem_id="grid-board"):
            self.corner = gr.HTML("", elem_id="grid-corner", elem_classes="grid-head")
            self.col_heads = [gr.HTML("", visible=False, elem_id=f"grid-col-{c}", elem_classes="grid-head")
                              for c in range(MAX_CELLS)]
            self.row_heads = [gr.HTML("", visible=False, elem_id=f"grid-row-{r}", elem_classes="grid-row-head")
                              for r in range(MAX_CELLS)]
            self.slots = []
            for i in range(MAX_CELLS):
                with gr.Column(visible=False, min_width=200, elem_id=f"grid-cell-{i}") as col:
                    slot = dict(col=col, audio=gr.Audio(interactive=False, autoplay=False, label=f"cell {i + 1}"),
                                info=gr.Markdown(), strip=gr.Plot(show_label=False, label=f"cell {i + 1} codes"),
                                bundle=gr.DownloadButton("⬇ bundle", size="sm", elem_id=f"grid-bundle-{i}"),
                                stars=gr.Radio(["1", "2", "3", "4", "5"], label=f"rating of cell {i + 1}",
                                               elem_id=f"grid-stars-{i}"),
                                fav=gr.Checkbox(label="★ favourite", elem_id=f"grid-fav-{i}"),
                                note=gr.Textbox(label=f"note on cell {i + 1}", lines=1, elem_id=f"grid-note-{i}"))
                self.slots.append(slot)

    def on_axis(self, axis: str) -> dict:
        """Only the chosen axis' field is shown."""
        fields = dict(voice=self.voices, seed=self.k, temperature=self.temps, model=self.models)
        return {field: gr.update(visible=name == axis) for name, field in fields.items()}

    def layout(self, cells: list[Cell], axis: str) -> dict:
        """A new grid's headers, layout and empty cells (ratings of an earlier grid cleared)."""
        rows = sorted({c.row: c.text for c in cells}.items())
        cols = sorted({c.column: c.value for c in cells}.items())
        out = {self.style: grid_css(len(rows), len(cols)), self.corner: f"text ↓ · {html.escape(axis)} →",
               self.cells_state: []}
        for r, head in enumerate(self.row_heads):
            out[head] = gr.update(value=html.escape(rows[r][1]) if r < len(rows) else "", visible=r < len(rows))
        for c, head in enumerate(self.col_heads):
            label = f"{axis} {cols[c][1]}" if c < len(cols) else ""
            out[head] = gr.update(value=html.escape(label), visible=c < len(cols))
        for i, slot in enumerate(self.slots):
            out.update({slot["col"]: gr.update(visible=i < len(cells)), slot["audio"]: None, slot["info"]: "…",
                        slot["strip"]: None, slot["bundle"]: None,
                        slot["stars"]: None, slot["fav"]: False, slot["note"]: ""})
        return out

    def fill(self, lines, axis, voices, k, temps, models, voice, custom, seed, random_seed, model, precision,
             **sampling):
        """Generator: the empty grid, then one update per finished cell (only the new cell is sent: players
        already heard stay as they are), then every cell's outputs whole (for API callers)."""
        try:
            values = evaluation.parse_values(axis, voices, k, temps or "", models)
            if axis == "voice":
                values = [catalog.check_preset_name(v) for v in values]
            chosen, _ = pick_voice(voice, None, custom)
            base = dict(voice=chosen, model=model, precision=check_precision(precision),
                        **studio.sampling_settings(sampling, seed, random_seed))
            cells = evaluation.build_cells((lines or "").splitlines(), axis, values, base)
            count = studio.token_counter(self.pipelines.tokenizer(model))
            evaluation.check_audio_budget(cells, lambda t: estimate_seconds(count(t)))
        except ValueError as e:
            message = refusal(e, "Grid")
            yield {self.status: status_html(message, kind="error")}
            raise api_error(message) from None
        done: list[dict] = []
        filled: dict = {}
        # What the cells share comes from the Studio's fields: said, since they are on another tab.
        shared = ", ".join(x for x in (f"{base['precision']} precision" if axis != "model" else "",
                                       changed_settings(base)) if x)
        shared = f" (from the Studio: {shared})" if shared else ""
        yield {**self.layout(cells, axis), self.status: status_html(f"Generating {len(cells)} cells{shared}…", 0.0)}
        for i, cell in enumerate(cells):
            try:
                update = self.cell(i, cell, axis, done)
            except ValueError as e:
                update = {self.slots[i]["info"]: f"⚠️ {refusal(e, 'Grid cell')}"}
            filled.update(update)
            yield {**update, self.cells_state: list(done),
                   self.status: status_html(f"{len(done)} of {len(cells)} cells done", (i + 1) / len(cells))}
        yield {**filled, self.cells_state: list(done),
               self.status: status_html(f"Done: {len(done)} of {len(cells)} cells{shared}. Rate them, then "
                                        f"download the ratings.")}

    def cell(self, i: int, cell: Cell, axis: str, done: list) -> dict:
        s = dict(cell.settings)
        pipe = self.pipelines.get(s.pop("model"), s.pop("precision"))
        voice = s.pop("voice")
        result = pipe.generate_long(cell.text, voice=voice, language="en", settings=LONG, **s)
        files, error = studio.save_take(self.out_dir, pipe, result, voice, "en", LONG, extras=False)
        label = voice if isinstance(voice, str) or voice is None else voice.name
        done.append(evaluation.cell_record(i, cell, axis, label or NO_VOICE, pipe.name, result.seed,
                                           result.duration_s, result.rtf))
        info = (f"**{axis} {cell.value}** · row {cell.row + 1}<br>{result.duration_s:.1f} s · RTF "
                f"{result.rtf:.2f} · seed {result.seed}" + (f"<br>⚠️ {error}" if error else ""))
        # Without its file (a full disk), the cell still plays the take, sent as samples.
        audio = files["wav"] or (result.sample_rate, pcm16(result.audio))
        slot = self.slots[i]
        return {slot["audio"]: audio, slot["info"]: info, slot["strip"]: mini_strip(result.coarse_tokens),
                slot["bundle"]: files["bundle"]}

    def ratings(self, done, *marks):
        """The ratings as they are at the click, as a CSV file (the page downloads it at once)."""
        try:
            rows = evaluation.rate(done, list(marks))
        except ValueError as e:
            message = refusal(e, "Ratings")
            yield {self.status: status_html(message, kind="error")}
            raise api_error(message) from None
        path = self.out_dir / f"bark-ratings-{uuid.uuid4().hex[:8]}.csv"
        path.write_text(evaluation.ratings_to_csv(rows), encoding="utf-8")
        yield {self.csv: str(path), self.status: status_html(f"Ratings of {len(rows)} cells downloaded.")}

    def wire(self, ui: SimpleNamespace) -> None:
        cells = [self.slots[i][k] for i in range(MAX_CELLS) for k in ("audio", "info", "strip", "bundle")]
        marks = [slot[k] for slot in self.slots for k in ("stars", "fav", "note")]
        layout = [self.style, self.corner, *self.col_heads, *self.row_heads]
        hidden = [self.cells_state, *(s["col"] for s in self.slots), *(s[k] for s in self.slots
                                                                         for k in ("stars", "fav", "note"))]
        self.axis.change(self.on_axis, self.axis, [self.voices, self.k, self.temps, self.models],
                         api_visibility="private", concurrency_limit=None)
        event = self.run.click(self.fill, [self.lines, self.axis, self.voices, self.k, self.temps, self.models,
                                           ui.voice, ui.custom, ui.seed, ui.random_seed, ui.model, ui.precision],
                               [self.status, *cells, *layout, *hidden], inputs_kwargs=ui.sampling,
                               api_name="grid", concurrency_limit=1, concurrency_id="bark", show_progress="hidden")
        self.stop.click(None, cancels=[event])
        self.stop.click(lambda done: status_html(f"Stopped: {len(done)} cells done."), self.cells_state, self.status,
                        api_visibility="private", concurrency_limit=None)
        self.csv_button.click(self.ratings, [self.cells_state, *marks], [self.csv, self.status], api_name="ratings",
                              show_progress="hidden", concurrency_limit=None).success(
            None, self.csv, None, js=JS_DOWNLOAD)


# -- wiring ------------------------------------------------------------------------------------------------------

def generate_outputs(ui: SimpleNamespace) -> list:
    """/generate's outputs: the API's returns in GENERATE_RETURNS order, then what only the page uses."""
    first, rest = ui.slots[0], ui.slots[1:]
    api = [*first.api_outputs(), ui.timing, ui.settings_json, ui.plot, ui.seed_used, ui.status,
           *(c for slot in rest for c in slot.api_outputs()), ui.live_audio]
    page = [ui.history, ui.take_info, ui.take_settings, *(c for slot in ui.slots for c in slot.page_outputs())]
    return api + page


def wire_studio(ui: SimpleNamespace, handlers: Studio, banner: gr.Markdown, pipelines: Pipelines) -> None:
    quick = dict(api_visibility="private", concurrency_limit=None)  # UI helpers never wait behind a generation
    # Browser-side steps of an action, registered before its server event so that they run at the click (the
    # page runs one trigger's events in the order they were added).
    ui.go.click(None, js=JS_SHOW_RESULT)
    error_lines = [ui.npz_status, ui.reference_status, ui.reproduce_msg, ui.history_status]
    for action, own in ((ui.go, None), (ui.reproduce, ui.reproduce_msg), (ui.make_voice, ui.reference_status)):
        others = [line for line in error_lines if line is not own]
        action.click(None, others, others, js=JS_CLEAR_ERRORS)
    for b, cue in zip(ui.cue_buttons, CUES, strict=True):
        b.click(None, inputs=[ui.text], outputs=[ui.text], js=js_insert(cue))
    for trigger in (ui.text.change, ui.language.change):
        trigger(handlers.count, [ui.text, ui.model, ui.language], [ui.counter, ui.plan], show_progress="hidden",
                trigger_mode="always_last", **quick)
    for trigger in (ui.text.change, ui.voice.change):
        trigger(handlers.advice, [ui.text, ui.voice], ui.language_tip, show_progress="hidden",
                trigger_mode="always_last", **quick)
    ui.voice.input(handlers.on_voice, [ui.voice, ui.custom], ui.voice, show_progress="hidden", **quick)
    ui.voice_search.change(handlers.find_voice, [ui.voice_search, ui.voice, ui.custom], ui.voice,
                          show_progress="hidden", trigger_mode="always_last", **quick)
    ui.txt_file.upload(handlers.load_txt, ui.txt_file, [ui.text, ui.status], show_progress="hidden", **quick)
    ui.npz_upload.upload(handlers.on_npz, ui.npz_upload, [ui.npz_upload, ui.custom, ui.voice, ui.npz_status],
                         show_progress="hidden", **quick)
    ui.reference.change(on_reference, ui.reference, ui.reference_status, **quick)
    ui.make_voice.click(handlers.make_voice, [ui.reference, ui.model],
                        [ui.reference_status, ui.my_voice_file, ui.voice, ui.custom, ui.my_voice_box],
                        api_name="make_voice",
                        concurrency_limit=1, concurrency_id="bark", show_progress="hidden")
    ui.model.change(lambda m: gr.update(visible=pipelines.random_weights(m)), ui.model, banner, **quick)
    event = ui.go.click(handlers.generate, [ui.text, ui.voice, ui.language, ui.npz_api, ui.seed, ui.random_seed,
                                            ui.model, ui.precision, ui.n_takes, ui.live, ui.custom, ui.history],
                        generate_outputs(ui), inputs_kwargs=ui.sampling, api_name="generate", concurrency_limit=1,
                        concurrency_id="bark", show_progress="hidden")
    ui.stop.click(None, cancels=[event])
    ui.stop.click(handlers.stop_mine, None, ui.status, **quick)
    for slot in ui.slots:
        slot.use.click(handlers.use_take, slot.take, [ui.custom, ui.voice, ui.status], **quick)
    ui.history.change(handlers.on_history, ui.history, [ui.table, ui.pick], **quick)
    ui.pick.change(handlers.pick_take, [ui.pick, ui.history], [ui.picked_audio, ui.picked, ui.picked_bundle],
                   **quick)
    ui.reuse.click(lambda take: handlers.use_take(take, ui.history_status), ui.picked,
                   [ui.custom, ui.voice, ui.history_status], **quick)
    ui.reproduce.click(handlers.reproduce_take, [ui.bundle_in, ui.model, ui.history],
                       [ui.reproduce_msg, *generate_outputs(ui)], api_name="reproduce", concurrency_limit=1,
                       concurrency_id="bark", show_progress="hidden")
    ui.tts_go.click(handlers.tts, [ui.tts_text, ui.tts_voice, ui.tts_seed], [ui.tts_audio, ui.tts_seed_used],
                    inputs_kwargs=ui.tts_sampling, api_name="tts", concurrency_limit=1, concurrency_id="bark",
                    api_description="Text to speech for scripts: text, and optionally a voice preset, a seed (none: "
                                    "random) and sampling settings; returns (WAV file, seed used).")


def build_demo(pipelines: Pipelines) -> gr.Blocks:
    """The whole page over `pipelines` (nothing loads until a request needs it)."""
    live_ok = has_ffmpeg()
    with gr.Blocks(title="Bark Studio") as demo:
        gr.HTML(f"<style>{CSS}</style>", visible="hidden", elem_id="bark-style", js_on_load=JS_ON_LOAD)
        banner = build_header(pipelines)
        ui = build_studio(pipelines, live_ok)
        with gr.Tab("Token panel"):
            ui.plot = build_token_tab()
        with gr.Tab("Session history"):
            build_history_tab(ui)
        with gr.Tab("Evaluate"):
            grid = GridTab(pipelines, Path(tempfile.mkdtemp(prefix="bark-grid-")))
        build_api(ui)
        handlers = Studio(pipelines, ui, live_ok)
        wire_studio(ui, handlers, banner, pipelines)
        grid.wire(ui)
    demo.active_generations = handlers.active
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Bark Studio web app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="public gradio.live link (off by default)")
    parser.add_argument("--model", action="append", help="bark, bark-small, a Hub repo id or a local folder; "
                        "repeat to offer several (the first is the default)")
    parser.add_argument("--voices", default=None, help="folder of Bark .npz presets (default: the Hub's)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--offload", action="store_true", help="keep models on the CPU between stages")
    parser.add_argument("--hubert", default=None, help="HuBERT for voices from recordings (Hub id or folder; "
                        "default: the model folder's hubert/, else the Hub's)")
    parser.add_argument("--quantizer", default=None, help="HuBERT quantizer: a .pth file or owner/repo/file.pth "
                        "(default: the model folder's quantizer.pth, else the Hub's)")
    parser.add_argument("--graphs", default="auto", choices=GRAPH_MODES, help="how decoding steps run: auto (CUDA "
                        "graphs on a GPU), compile (also torch.compile: first generation slow), off, cuda, static")
    parser.add_argument("--queue-size", type=int, default=16)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    models = args.model or (["bark-small", "bark"] if Pipelines([], args.device).default_precision == "exact"
                            else ["bark-small"])
    demo = build_demo(Pipelines(models, args.device, args.offload, args.voices, args.hubert, args.quantizer,
                                args.graphs))
    demo.queue(max_size=args.queue_size, default_concurrency_limit=1)
    # Uploads are capped by the server before anything reads them (recordings, voices, text, bundles).
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size="50mb")


if __name__ == "__main__":
    main()
