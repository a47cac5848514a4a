"""A real headless Chromium drives the page as a person would: the first screen at desktop and phone sizes, Generate,
the takes and their downloads, errors that stay, Stop, voices, the Evaluate grid and its ratings, re-creating a take
from its bundle, and an accessibility scan (axe-core). Screenshots go to test-artifacts/ (looked at, not compared)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT
from .test_app import app_url, served  # noqa: F401 - the launched app fixtures

pytestmark = [pytest.mark.app, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
TALL = {"width": 1400, "height": 1800}


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is not installed (tests/browser_deps.sh installs it)")
        pytest.skip("Debian chromium not installed")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def open_page(browser, app_url, viewport=TALL):  # noqa: F811
    page = browser.new_page(viewport=viewport, accept_downloads=True)
    page.goto(app_url)
    page.locator("#bark-text textarea").wait_for(timeout=60_000)
    return page


def open_accordion(page, elem_id: str) -> None:
    page.locator(f"#{elem_id}").get_by_role("button").first.click()


def set_field(page, elem_id: str, value) -> None:
    """Type into a number field (or a slider's number box) and leave it, as a person does."""
    box = page.locator(f"#{elem_id} input[type=number]").first
    box.fill(str(value))
    box.press("Tab")


def type_into(box, text: str) -> None:
    """Replace what a field holds by typing `text` key by key (a searchable dropdown filters as keys are typed)."""
    box.click()
    box.press("Control+a")
    box.press_sequentially(text, delay=10)


def choose(page, elem_id: str, typed: str, label_start: str) -> None:
    """Type into a searchable dropdown and click the first option whose label starts with `label_start`."""
    box = page.locator(f"#{elem_id} input").first
    type_into(box, typed)
    options = page.get_by_role("option")
    options.first.wait_for(timeout=10_000)
    names = options.all_inner_texts()
    options.nth(next(i for i, n in enumerate(names) if n.strip().startswith(label_start))).click()


def generate(page, text: str = "Hello there.", max_duration: float = 0.5, wait_for: str = "real-time factor"):
    """Settings open, a short take asked for; waits for the take."""
    if not page.locator("#bark-max-duration-s").is_visible():
        open_accordion(page, "bark-settings")
    set_field(page, "bark-max-duration-s", max_duration)
    page.locator("#bark-text textarea").fill(text)
    before = page.locator("#bark-take-1-title").inner_text()
    page.locator("#bark-generate").click()
    page.locator("#bark-timing").get_by_text(wait_for).wait_for(timeout=180_000)
    # A take shown before this one has the same timing line: wait for this request's own take.
    page.wait_for_function("([before]) => { const t = document.querySelector('#bark-take-1-title');"
                           " return t && t.innerText !== before && /Done/.test("
                           "document.querySelector('#bark-status').innerText); }", arg=[before], timeout=180_000)


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def status(page) -> str:
    return page.locator("#bark-status").inner_text()


# -- the first screen ----------------------------------------------------------------------------------------------

def test_first_screen_at_desktop_size(browser, app_url):  # noqa: F811
    import app

    page = open_page(browser, app_url, DESKTOP)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "first-screen-desktop.png"))
    for selector in ("#bark-text", "#bark-voice", "#bark-generate", "#bark-take-1-audio"):
        b = box(page, selector)
        assert b["y"] >= 0 and b["y"] + b["height"] <= DESKTOP["height"], (selector, b)  # seen without scrolling
    text, voice, go = box(page, "#bark-text"), box(page, "#bark-voice"), box(page, "#bark-generate")
    assert text["y"] < voice["y"] < go["y"]
    assert page.locator("#bark-random-weights").inner_text().strip().endswith(app.RANDOM_BANNER)
    # Nothing that needs a take is there before one: no downloads, no "use as the voice", no "seed used".
    for selector in ("#bark-take-1-wav", "#bark-take-1-bundle", "#bark-take-1-use", "#bark-seed-used"):
        assert not page.locator(selector).is_visible(), selector
    examples = box(page, "#bark-examples")
    assert examples["y"] < DESKTOP["height"] and examples["x"] > text["x"] + text["width"] - 1  # beside the text
    assert page.locator("#bark-precision input[value=fast]").is_checked()  # no GPU here: fast, exact one click away
    assert "exact tokens, about 2× slower" in page.locator("#bark-precision").inner_text()
    assert not page.locator("#bark-take-settings").is_visible()  # no take, no take's settings
    assert not stop_is_red(page)  # nothing to stop yet


def stop_is_red(page, stop: str = "#bark-stop") -> bool:
    """Whether Stop wears its alarm colour (the cancel button's red) rather than a quiet secondary grey, once its
    colour transition (a fraction of a second) is over."""
    page.wait_for_timeout(600)
    r, g, b = map(int, re.findall(r"\d+", page.evaluate(
        f"getComputedStyle(document.querySelector('{stop}')).backgroundColor"))[:3])
    return r > 150 and g < 80 and b < 80


def no_horizontal_overflow(page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
                           " document.body.scrollWidth]")
    assert widths[0] <= widths[1] and widths[2] <= widths[1], widths


def test_first_screen_at_phone_size(browser, app_url):  # noqa: F811
    page = open_page(browser, app_url, PHONE)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "first-screen-phone.png"))
    no_horizontal_overflow(page)
    go = box(page, "#bark-generate")
    assert go["y"] + go["height"] <= 2 * PHONE["height"]  # within one screen of scrolling (here: on the first)
    # The voice's name ends (with an ellipsis) before the dropdown's arrow.
    end, arrow = page.evaluate("""() => { const i = document.querySelector('#bark-voice input');
        const r = i.getBoundingClientRect(); const pad = parseFloat(getComputedStyle(i).paddingRight);
        return [r.right - pad, document.querySelector('#bark-voice .icon-wrap').getBoundingClientRect().left]; }""")
    assert end <= arrow + 1, (end, arrow)
    # Each example is a whole label (a list, not a table cut at the screen's edge).
    cut = page.evaluate("""() => [...document.querySelectorAll('#bark-examples button')].filter(b => {
        const r = b.getBoundingClientRect(); return r.right > window.innerWidth || b.scrollWidth > b.clientWidth + 1;
        }).map(b => b.innerText)""")
    assert cut == [] and page.locator("#bark-examples button").count() == 10


def test_phone_after_a_take(browser, app_url):  # noqa: F811
    """A take on a phone: Generate, its status line and the result on one screen (the page scrolls to them); still
    no sideways scrolling, and plotly's toolbar does not cover the first plot's title."""
    page = open_page(browser, app_url, PHONE)
    generate(page)
    for selector in ("#bark-generate", "#bark-status", "#bark-take-1-audio"):
        b = box(page, selector)
        assert b["y"] >= 0 and b["y"] + b["height"] <= PHONE["height"], (selector, b)
    page.screenshot(path=str(ARTIFACTS / "phone-after-generate.png"))
    no_horizontal_overflow(page)
    page.get_by_role("tab", name="Token panel").click()
    page.locator("#bark-plot .modebar").first.wait_for(state="attached", timeout=60_000)
    page.locator("#bark-plot").scroll_into_view_if_needed()
    page.locator("#bark-plot").hover()
    bar, title = page.evaluate("""() => { const r = e => { const b = e.getBoundingClientRect();
            return [b.left, b.top, b.right, b.bottom]; };
        const title = [...document.querySelectorAll('#bark-plot .annotation-text')]
            .find(t => t.textContent.startsWith('Semantic tokens'));
        return [r(document.querySelector('#bark-plot .modebar')), r(title)]; }""")
    overlap = bar[0] < title[2] and title[0] < bar[2] and bar[1] < title[3] and title[1] < bar[3]
    assert not overlap, (bar, title)
    no_horizontal_overflow(page)
    page.screenshot(path=str(ARTIFACTS / "phone-token-panel.png"))


# -- a take, its downloads, the voice --------------------------------------------------------------------------------

def test_generate_in_real_browser(browser, app_url, tmp_path):  # noqa: F811
    page = open_page(browser, app_url)
    choose(page, "bark-voice", "de_speaker_3", "v2/de_speaker_3 · German")
    text = page.locator("#bark-text textarea")
    text.fill("Guten Tag")
    page.locator("#bark-count").get_by_text("2 BERT tokens").wait_for(timeout=120_000)
    open_accordion(page, "bark-text-tools")
    text.press("End")
    page.get_by_role("button", name="[laughs]", exact=True).click()
    page.wait_for_function("document.querySelector('#bark-text textarea').value.includes('[laughs]')")
    assert text.input_value().startswith("Guten Tag [laughs]")
    page.locator("#bark-count").get_by_text("5 BERT tokens").wait_for(timeout=120_000)
    generate(page, text.input_value(), max_duration=1.0)
    page.get_by_role("tab", name="Token panel").click()
    page.locator("#bark-plot .js-plotly-plot").first.wait_for(timeout=60_000)
    page.locator("#bark-take-1-audio audio, #bark-take-1-audio .waveform-container").first.wait_for(state="attached")
    assert re.fullmatch(r"take \d+ · seed \d+ · \d+\.\d s", page.locator("#bark-take-1-title").inner_text().strip())
    with page.expect_download(timeout=60_000) as download:
        page.locator("#bark-take-1-wav").click()
    wav = tmp_path / "take.wav"
    download.value.save_as(wav)
    assert wav.read_bytes()[:4] == b"RIFF" and wav.stat().st_size > 1000
    shutil.copy(wav, ARTIFACTS / "browser-take.wav")
    assert page.locator("#bark-seed-used").is_visible() and "Done" in status(page)
    page.screenshot(path=str(ARTIFACTS / "bark-studio.png"), full_page=True)
    # The take becomes the voice: the picker says so, in the one place the voice is shown ...
    page.locator("#bark-take-1-use").click()
    page.wait_for_function("document.querySelector('#bark-voice input').value.startsWith('🎙 take')")
    assert "pick a preset to go back" in page.locator("#bark-voice").inner_text()
    # ... and picking a preset is the way back.
    choose(page, "bark-voice", "announcer", "announcer")
    page.wait_for_function("document.querySelector('#bark-voice input').value.startsWith('announcer')")
    page.get_by_role("tab", name="Session history").click()
    page.wait_for_function("document.querySelector('#bark-history').innerText.includes('Guten Tag [laughs]')",
                           timeout=120_000)


def test_voice_picker_is_searched_by_typing(browser, app_url):  # noqa: F811
    page = open_page(browser, app_url)
    box = page.locator("#bark-voice input")
    type_into(box, "German")
    page.wait_for_timeout(300)
    names = page.get_by_role("option").all_inner_texts()
    assert len(names) == 20 and all("German" in n for n in names)  # v2 and v1 German presets, nothing else
    type_into(box, "female")
    page.wait_for_timeout(300)
    names = page.get_by_role("option").all_inner_texts()
    assert names and all("female" in n for n in names) and any("German" in n for n in names)
    assert "v2/en_speaker_9 · English · female" in [n.strip() for n in names]


def test_typing_into_the_picker_replaces_the_shown_voice(browser, app_url):  # noqa: F811
    page = open_page(browser, app_url)
    page.locator("#bark-voice input").click()  # a click puts the cursor somewhere inside the shown voice's name
    page.keyboard.type("german", delay=10)
    page.wait_for_timeout(300)
    assert page.locator("#bark-voice input").input_value() == "german"
    names = page.get_by_role("option").all_inner_texts()
    assert len(names) == 20 and all("German" in n for n in names)


def test_find_a_voice_by_words_in_any_order(browser, app_url):  # noqa: F811
    page = open_page(browser, app_url)
    search = page.locator("#bark-voice-search input")
    for query in ("German female", "female german"):
        type_into(search, query)
        page.locator("#bark-voice").get_by_text("2 presets match").wait_for(timeout=60_000)
        page.locator("#bark-voice input").click()
        names = [n.strip().lstrip("✓").strip() for n in page.get_by_role("option").all_inner_texts()]
        page.keyboard.press("Escape")
        # the voice in use stays listed (and chosen); then the matches; then "none"
        assert names[1:3] == ["v2/de_speaker_3 · German · female", "v2/de_speaker_8 · German · female"], names
        assert names[0].startswith("v2/en_speaker_6") and len(names) == 4
    type_into(search, "klingon")
    page.locator("#bark-voice").get_by_text("no preset matches").wait_for(timeout=60_000)
    choose(page, "bark-voice", "de_speaker_8", "v2/de_speaker_8")  # every preset is listed again


def test_error_stays_next_to_generate_and_earlier_outputs_stay(browser, app_url):  # noqa: F811
    page = open_page(browser, app_url)
    generate(page)
    before = {s: page.locator(s).inner_text() for s in ("#bark-take-1-title", "#bark-timing")}
    links = "() => [...document.querySelectorAll('#bark-take-1 a[href]')].map(a => a.href)"  # player and downloads
    src = page.evaluate(links)
    assert any(".wav" in h for h in src)
    set_field(page, "bark-top-k", -5)
    page.locator("#bark-generate").click()
    page.locator("#bark-status").get_by_text("top-k must be 0 (off) or more").wait_for(timeout=120_000)
    page.wait_for_timeout(15_000)
    assert "top-k must be 0 (off) or more; got -5" in status(page)  # still there 15 s later
    assert "Value -5" not in page.locator("body").inner_text()
    assert {s: page.locator(s).inner_text() for s in before} == before  # the take is still shown, whole
    assert page.evaluate(links) == src and page.locator("#bark-take-1-wav").is_visible()
    assert page.locator(".toast-body").count() == 0  # no toast that vanishes: the status line says it
    page.locator("#bark-status").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "error-stays.png"))
    go = box(page, "#bark-generate")
    message = box(page, "#bark-status")
    assert 0 <= message["y"] - (go["y"] + go["height"]) < 40  # right under the button that caused it
    set_field(page, "bark-top-k", 0)
    page.locator("#bark-generate").click()  # the next action replaces the message
    page.locator("#bark-status").get_by_text("Done").wait_for(timeout=180_000)


def test_text_over_the_cap_is_refused_not_cut(browser, app_url):  # noqa: F811
    page = open_page(browser, app_url)
    text = "Hello world. " * 2000  # 26,000 characters
    page.locator("#bark-text textarea").fill(text)
    assert len(page.locator("#bark-text textarea").input_value()) == len(text)  # nothing cut in the box
    page.locator("#bark-count").get_by_text("the text is 26,000 characters").wait_for(timeout=120_000)
    page.locator("#bark-generate").click()
    page.locator("#bark-status").get_by_text("the text is 26,000 characters; at most 20,000 fit one take").wait_for(
        timeout=120_000)


def test_one_progress_bar_and_stop_says_stopped(browser, app_url, served):  # noqa: F811
    page = open_page(browser, app_url)
    open_accordion(page, "bark-settings")
    set_field(page, "bark-max-duration-s", 0)
    set_field(page, "bark-min-eos-p", 1)  # random weights end early otherwise: this take runs until stopped
    page.locator("#bark-text textarea").fill("Hello world. " * 10)
    page.locator("#bark-generate").click()
    page.wait_for_function("/(semantic|coarse) \\d+\\/\\d+/.test(document.querySelector('#bark-status').innerText)",
                           timeout=60_000)
    bars = page.evaluate("""() => [...document.querySelectorAll('progress, .progress-bar, .eta-bar, .progress-level')]
        .filter(e => { const s = getComputedStyle(e); const r = e.getBoundingClientRect();
            return s.visibility !== 'hidden' && s.display !== 'none' && r.width > 0 && r.height > 0; })
        .map(e => e.closest('#bark-status') ? 'bark-status' : e.className || e.tagName)""")
    assert bars == ["bark-status"], bars  # one progress bar for the request: the status line's
    assert served["demo"].active_generations  # the worker is generating ...
    assert stop_is_red(page)  # ... and Stop says there is something to stop
    page.locator("#bark-stop").click()
    page.locator("#bark-status").get_by_text("Stopped.").wait_for(timeout=10_000)
    assert not stop_is_red(page)
    for _ in range(100):  # ... and ends at its next step (this take would run for minutes)
        if not served["demo"].active_generations:
            break
        page.wait_for_timeout(100)
    assert not served["demo"].active_generations, "the worker kept generating after Stop"
    page.wait_for_timeout(3_000)
    assert not page.locator("#bark-take-info").is_visible() and "Stopped." in status(page)
    set_field(page, "bark-min-eos-p", 0.2)
    generate(page)  # the app keeps serving


def test_rejected_npz_upload_is_cleared(browser, app_url, tmp_path):  # noqa: F811
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"not an npz at all")
    page = open_page(browser, app_url)
    open_accordion(page, "bark-own-voice")
    page.locator("#bark-npz input[type=file]").set_input_files(str(bad))
    page.locator("#bark-npz-status").get_by_text("not a valid .npz").wait_for(timeout=120_000)
    page.wait_for_timeout(500)
    assert "broken.npz" not in page.locator("#bark-npz").inner_text()  # cleared: nothing looks accepted
    assert page.locator("#bark-voice input").input_value().startswith("v2/en_speaker_6")  # the voice stays
    generate(page)  # the next action: the old error no longer stands beside the upload
    assert page.locator("#bark-npz-status").inner_text().strip() == ""


def test_an_uploaded_npz_becomes_the_voice_in_the_picker(browser, app_url, tmp_path):  # noqa: F811
    from .conftest import PROMPTS

    page = open_page(browser, app_url)
    open_accordion(page, "bark-own-voice")
    shutil.copy(PROMPTS / "v2" / "fr_speaker_2.npz", tmp_path / "mine.npz")
    page.locator("#bark-npz input[type=file]").set_input_files(str(tmp_path / "mine.npz"))
    page.wait_for_function("document.querySelector('#bark-voice input').value.startsWith('🎙 uploaded mine.npz')",
                           timeout=120_000)
    generate(page)
    open_accordion(page, "bark-take-settings")  # the take was made with it
    page.locator("#bark-take-settings").get_by_text("uploaded mine.npz").first.wait_for(timeout=10_000)


def test_example_fills_inputs(browser, app_url):  # noqa: F811
    page = open_page(browser, app_url)
    page.locator("#bark-examples").get_by_text("Guten Tag! Ich heiße Bark").first.click()
    page.wait_for_function("document.querySelector('#bark-text textarea').value.startsWith('Guten Tag! Ich')")
    assert page.locator("#bark-voice input").input_value().startswith("v2/de_speaker_3 · German")
    open_accordion(page, "bark-settings")
    assert "German" in page.locator("#bark-language input").input_value()
    assert not page.locator("#bark-take-info").is_visible()  # examples are not generated
    assert "pronunciation" not in page.locator("#bark-language-tip").inner_text()
    choose(page, "bark-voice", "en_speaker_6", "v2/en_speaker_6 ·")
    page.locator("#bark-language-tip").get_by_text("read it with English pronunciation").wait_for(timeout=120_000)


def test_split_preview_for_long_text(browser, app_url):  # noqa: F811
    page = open_page(browser, app_url)
    page.locator("#bark-text textarea").fill("Hello world. This is a test. The bark is long. " * 4)
    page.locator("#bark-count").get_by_text("chunks of").wait_for(timeout=120_000)
    open_accordion(page, "bark-text-tools")
    page.wait_for_function("(document.querySelector('#bark-plan')?.innerText || '').includes('Hello world.')",
                           timeout=120_000)
    lines = page.locator("#bark-plan").inner_text().split("\n")
    assert "1" in lines and "2" in lines  # the chunk numbers of a two-chunk plan


def upload_txt(page, path) -> None:
    """Click the .txt upload button and pick `path` in the file chooser it opens."""
    with page.expect_file_chooser() as chooser:
        page.locator("#bark-txt").click()
    chooser.value.set_files(str(path))


def test_txt_upload_fills_the_text(browser, app_url, tmp_path):  # noqa: F811
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    page = open_page(browser, app_url)
    page.locator("#bark-text textarea").fill("My draft.")
    open_accordion(page, "bark-text-tools")
    upload_txt(page, tmp_path / "latin1.txt")
    page.locator("#bark-status").get_by_text("not valid UTF-8").wait_for(timeout=120_000)
    assert page.locator("#bark-text textarea").input_value() == "My draft."  # nothing the user typed is lost
    (tmp_path / "story.txt").write_text("Once upon a time. There was a dog. 你好！", encoding="utf-8")
    upload_txt(page, tmp_path / "story.txt")
    page.wait_for_function("document.querySelector('#bark-text textarea').value.startsWith('Once upon a time.')",
                           timeout=120_000)


def test_reference_recording_state_is_shown(browser, app_url, tmp_path):  # noqa: F811
    import numpy as np
    import soundfile as sf

    clip = tmp_path / "me.wav"
    sf.write(clip, np.sin(np.linspace(0, 2000, 44_100)).astype(np.float32), 44_100)
    page = open_page(browser, app_url)
    open_accordion(page, "bark-own-voice")
    page.locator("#bark-reference input[type=file]").set_input_files(str(clip))
    page.locator("#bark-reference-status").get_by_text("Recording received: 1.0 s, 44100 Hz").wait_for(
        timeout=120_000)
    # Too short to make a voice: said at the upload, before "Make a voice" is clicked.
    short = tmp_path / "short.wav"
    sf.write(short, np.sin(np.linspace(0, 1000, 22_050)).astype(np.float32), 44_100)
    page = open_page(browser, app_url)
    open_accordion(page, "bark-own-voice")
    page.locator("#bark-reference input[type=file]").set_input_files(str(short))
    page.locator("#bark-reference-status").get_by_text("at least 1 s of speech is needed").wait_for(timeout=120_000)
    assert page.locator("#bark-reference-status .error").count()
    page.locator("#bark-make-voice").click()  # the click's own refusal replaces the line, it does not wipe it
    page.wait_for_timeout(3_000)
    assert "at least 1 s of speech is needed" in page.locator("#bark-reference-status").inner_text()


def test_live_preview_and_takes(browser, app_url):  # noqa: F811
    import app

    page = open_page(browser, app_url)
    live = page.locator("#bark-live audio")
    if app.has_ffmpeg():  # the live preview is on by default: its player gets the stream while the take is made
        generate(page, "Hello world", max_duration=2, wait_for="first audio after")
        live.first.wait_for(state="attached", timeout=120_000)
    set_field(page, "bark-n-takes", 3)
    if app.has_ffmpeg():  # (without ffmpeg the box is off and disabled)
        page.locator("#bark-live-on input").uncheck()
    generate(page, "Hello world", max_duration=2, wait_for="3 takes in")
    for n in (1, 2, 3):  # each take: its title, its own downloads, its own "use as the voice"
        assert re.search(r"take \d+ · seed \d+", page.locator(f"#bark-take-{n}-title").inner_text())
        for part in ("wav", "voice", "tokens", "bundle", "use"):
            assert page.locator(f"#bark-take-{n}-{part}").is_visible(), (n, part)
    seeds = [int(re.search(r"seed (\d+)", page.locator(f"#bark-take-{n}-title").inner_text())[1]) for n in (1, 2, 3)]
    assert seeds == [seeds[0], seeds[0] + 1, seeds[0] + 2] and not page.locator("#bark-take-4").is_visible()
    assert live.count() == 0, "nothing streamed: the previous request's preview must be gone"
    page.screenshot(path=str(ARTIFACTS / "bark-studio-takes.png"), full_page=True)
    page.locator("#bark-take-3-use").click()
    page.wait_for_function(f"document.querySelector('#bark-voice input').value.includes('seed {seeds[2]}')")
    if app.has_ffmpeg():  # a later stream gets the player again (a new source, not the cleared one): a batch of
        page.locator("#bark-live-on input").check()  # takes streams its first take
        page.locator("#bark-generate").click()
        page.locator("#bark-timing").get_by_text("first audio after").wait_for(timeout=180_000)
        assert page.locator("#bark-timing").get_by_text("3 takes in").is_visible()
        live.first.wait_for(state="attached", timeout=120_000)
        page.wait_for_function("() => { const a = document.querySelector('#bark-live audio');"
                               " return a && (a.currentSrc || a.src); }", timeout=120_000)


def test_recreate_a_take_from_its_bundle(browser, app_url, tmp_path):  # noqa: F811
    """Every output belongs to the re-created take (its player, title, downloads, timing, settings, token plot) and
    it joins the history."""
    page = open_page(browser, app_url)
    generate(page, "Re-create me.")
    original = page.locator("#bark-take-1-title").inner_text()
    seed = re.search(r"seed (\d+)", original)[1]
    downloads = {}
    for part, suffix in (("bundle", "zip"), ("wav", "wav")):
        with page.expect_download(timeout=60_000) as dl:
            page.locator(f"#bark-take-1-{part}").click()
        downloads[part] = tmp_path / f"original.{suffix}"
        dl.value.save_as(downloads[part])
    generate(page, "Another take, to be replaced.")  # the page now shows another take
    open_accordion(page, "bark-reproduce")
    page.locator("#bark-bundle-in input[type=file]").set_input_files(str(downloads["bundle"]))
    page.locator("#bark-bundle-in").get_by_text("original.zip").wait_for(timeout=120_000)
    page.locator("#bark-reproduce-go").click()
    page.locator("#bark-reproduce-msg").get_by_text("the tokens are identical").wait_for(timeout=180_000)
    title = page.locator("#bark-take-1-title").inner_text()
    assert f"seed {seed}" in title and title != original  # a take of its own in the history, same seed
    assert f"seed **{seed}**" in page.locator("#bark-timing").inner_text() or f"seed {seed}" in \
        page.locator("#bark-timing").inner_text()
    assert page.locator("#bark-seed-used input").input_value() == seed
    with page.expect_download(timeout=60_000) as dl:
        page.locator("#bark-take-1-wav").click()
    dl.value.save_as(tmp_path / "again.wav")
    assert (tmp_path / "again.wav").read_bytes() == downloads["wav"].read_bytes()
    with page.expect_download(timeout=60_000) as dl:
        page.locator("#bark-take-1-bundle").click()
    dl.value.save_as(tmp_path / "again.zip")
    with zipfile.ZipFile(tmp_path / "again.zip") as a, zipfile.ZipFile(downloads["bundle"]) as b:
        assert a.read("tokens.npz") == b.read("tokens.npz")
        assert json.loads(a.read("settings.json"))["text"] == "Re-create me."
    open_accordion(page, "bark-take-settings")  # its JSON view renders once open
    page.locator("#bark-take-settings").get_by_text("Re-create me.").first.wait_for(timeout=30_000)
    page.get_by_role("tab", name="Session history").click()
    rows = page.locator("#bark-history").inner_text()
    assert rows.count("Re-create me.") == 2 and "Another take" in rows
    page.get_by_role("tab", name="Token panel").click()
    page.locator("#bark-plot .js-plotly-plot").first.wait_for(timeout=60_000)


# -- Evaluate --------------------------------------------------------------------------------------------------------

def fill_grid(page, lines: str, axis: str, values: str | int) -> None:
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#grid-text textarea").fill(lines)
    page.locator("#grid-axis").get_by_text(axis, exact=True).click()
    if axis == "seed":
        set_field(page, "grid-k", values)
    page.locator("#grid-run").click()
    # "Done: n of n cells" (not "k of n cells done", which a plain get_by_text("Done") also matches)
    page.locator("#grid-status").get_by_text(re.compile(r"^Done:")).wait_for(timeout=180_000)


def shown_ratings(page, n: int) -> list[tuple]:
    out = []
    for i in range(n):
        checked = page.locator(f"#grid-stars-{i} input:checked")
        stars = int(checked.get_attribute("value")) if checked.count() else None
        fav = page.locator(f"#grid-fav-{i} input").is_checked()
        note = page.locator(f"#grid-note-{i} textarea, #grid-note-{i} input").first.input_value() or None
        out.append((stars, fav, note))
    return out


def test_grid_is_a_real_grid_and_its_csv_is_what_is_shown(browser, app_url, tmp_path):  # noqa: F811
    page = open_page(browser, app_url)
    open_accordion(page, "bark-settings")
    set_field(page, "bark-max-duration-s", 0.3)
    page.get_by_role("tab", name="Evaluate").click()
    for axis, field in (("seed", "grid-k"), ("temperature", "grid-temps"), ("model", "grid-models"),
                        ("voice", "grid-voices")):  # only the chosen axis' field is shown
        page.locator("#grid-axis").get_by_text(axis, exact=True).click()
        page.locator(f"#{field}").wait_for(state="visible", timeout=10_000)
        others = {"grid-k", "grid-temps", "grid-models", "grid-voices"} - {field}
        assert not any(page.locator(f"#{o}").is_visible() for o in others), axis
    fill_grid(page, "Hello world.\nSecond line here.", "seed", 2)
    # rows are the lines (each headed by its text), columns the seeds (each headed by its value)
    heads = [page.locator(f"#grid-col-{c}").inner_text() for c in range(2)]
    assert all(re.fullmatch(r"seed \d+", h.strip()) for h in heads) and not page.locator("#grid-col-2").is_visible()
    assert [page.locator(f"#grid-row-{r}").inner_text().strip() for r in range(2)] == ["Hello world.",
                                                                                       "Second line here."]
    for r in range(2):
        row = box(page, f"#grid-row-{r}")
        for c in range(2):
            cell, col = box(page, f"#grid-cell-{2 * r + c}"), box(page, f"#grid-col-{c}")
            assert abs(cell["y"] - row["y"]) < 5 and cell["x"] > row["x"] + row["width"] - 1  # beside its row head
            assert abs(cell["x"] - col["x"]) < 5 and cell["y"] > col["y"]  # under its column head
    page.locator("#grid-stars-0").get_by_text("4", exact=True).click()
    page.locator("#grid-stars-3").get_by_text("2", exact=True).click()
    page.locator("#grid-fav-1 input").check()
    page.locator("#grid-note-2 textarea, #grid-note-2 input").first.fill("crisp")
    page.locator("#grid-note-2 textarea, #grid-note-2 input").first.press("Tab")
    page.wait_for_timeout(500)
    shown = shown_ratings(page, 4)
    with page.expect_download(timeout=60_000) as dl:  # one click
        page.locator("#grid-csv").click()
    dl.value.save_as(tmp_path / "ratings.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "ratings.csv").read_text(encoding="utf-8"))))
    got = [(int(r["rating"]) if r["rating"] else None, r["favourite"] == "True", r["note"] or None) for r in rows]
    assert got == shown == [(4, False, None), (None, True, None), (None, False, "crisp"), (2, False, None)]
    assert [r["text"] for r in rows] == ["Hello world.", "Hello world.", "Second line here.", "Second line here."]
    page.screenshot(path=str(ARTIFACTS / "bark-studio-evaluate.png"), full_page=True)
    with page.expect_download(timeout=60_000) as download:
        page.locator("#grid-bundle-0").click()
    download.value.save_as(tmp_path / "cell.zip")
    with zipfile.ZipFile(tmp_path / "cell.zip") as zf:
        assert {"take.wav", "tokens.npz", "settings.json"} <= set(zf.namelist())
    # A typo in the temperatures: the message stays, the finished and rated grid stays as it was.
    page.locator("#grid-axis").get_by_text("temperature", exact=True).click()
    page.locator("#grid-temps input, #grid-temps textarea").first.fill("0.5, hot")
    page.locator("#grid-run").click()
    page.locator("#grid-status").get_by_text("numbers separated by commas").wait_for(timeout=120_000)
    assert shown_ratings(page, 4) == shown and page.locator("#grid-cell-3 audio, #grid-cell-3 .waveform-container")\
        .count() and page.locator("#grid-row-1").inner_text().strip() == "Second line here."


def test_grid_on_a_phone_is_a_list(browser, app_url):  # noqa: F811
    """At 390 px each row's text comes first, then its cells one under another, nothing beyond the screen's edge."""
    page = open_page(browser, app_url, PHONE)
    open_accordion(page, "bark-settings")
    set_field(page, "bark-max-duration-s", 0.3)
    fill_grid(page, "Hello world.\nSecond line here.", "seed", 2)
    no_horizontal_overflow(page)
    order = [box(page, s) for s in ("#grid-row-0", "#grid-cell-0", "#grid-cell-1", "#grid-row-1", "#grid-cell-2",
                                    "#grid-cell-3")]
    assert all(a["y"] + a["height"] <= b["y"] + 1 for a, b in zip(order, order[1:], strict=False)), order
    assert all(b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"] for b in order), order
    assert "seed" in page.locator("#grid-cell-1").inner_text()  # a cell names its column's value
    page.screenshot(path=str(ARTIFACTS / "phone-evaluate.png"), full_page=True)


def test_stop_cancels_the_remaining_grid_cells(browser, app_url):  # noqa: F811
    page = open_page(browser, app_url)
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#grid-text textarea").fill("Hello world.")
    page.locator("#grid-axis").get_by_text("seed", exact=True).click()
    set_field(page, "grid-k", 8)
    page.locator("#grid-run").click()
    page.locator("#grid-status").get_by_text("1 of 8 cells done").wait_for(timeout=120_000)
    assert stop_is_red(page, "#grid-stop")
    page.locator("#grid-stop").click()
    page.locator("#grid-status").get_by_text("Stopped").wait_for(timeout=10_000)
    text = page.locator("#grid-status").inner_text()
    done = int(re.search(r"Stopped: (\d+) cells done", text)[1])
    assert 1 <= done < 8
    page.wait_for_timeout(8_000)
    assert page.locator("#grid-status").inner_text() == text  # nothing more arrives after Stop


# -- accessibility -------------------------------------------------------------------------------------------------

def axe_problems(page, name: str) -> list[str]:
    """axe-core's serious and critical violations on the page as it is (the report saved as an artifact)."""
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page).response
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(result["violations"], indent=1))
    return [f"{v['id']} ({v['impact']}): {n['target']} {n['html'][:120]}" for v in result["violations"]
            if v["impact"] in ("serious", "critical") for n in v["nodes"]]


def test_accessibility_scan(browser, app_url):  # noqa: F811
    """axe-core, injected into the page, finds nothing serious or critical: every input and button is named, text
    has enough contrast. Scanned with every section open, after takes, on each tab and with a filled grid."""
    try:
        import axe_playwright_python  # noqa: F401 - bundles axe-core's axe.min.js (the `test` extra installs it)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("axe-playwright-python is not installed (pip install -e '.[test]')")
        pytest.skip("axe-playwright-python not installed")
    page = open_page(browser, app_url, DESKTOP)
    for section in ("bark-settings", "bark-text-tools", "bark-own-voice", "bark-reproduce"):
        open_accordion(page, section)
    page.wait_for_timeout(500)
    problems = axe_problems(page, "first-screen")
    set_field(page, "bark-max-duration-s", 0.3)
    set_field(page, "bark-n-takes", 2)
    page.locator("#bark-text textarea").fill("Hello there.")
    page.locator("#bark-generate").click()
    page.locator("#bark-timing").get_by_text("2 takes in").wait_for(timeout=180_000)
    open_accordion(page, "bark-take-settings")  # there once a take exists
    page.wait_for_timeout(500)
    problems += axe_problems(page, "takes")
    for tab in ("Token panel", "Session history"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(500)
        problems += axe_problems(page, tab.split()[-1].lower())
    fill_grid(page, "Hello world.", "seed", 2)
    problems += axe_problems(page, "evaluate")
    assert problems == []
