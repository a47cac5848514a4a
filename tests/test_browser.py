"""A real headless Chromium drives the page: language, preset, a cue button, Generate, token plots, WAV download."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import ROOT
from .test_app import app_url  # noqa: F401 - the launched app fixture

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is not installed (tests/browser_deps.sh installs it)")
        pytest.skip("Debian chromium not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def choose(page, elem_id: str, option: str) -> None:
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option, exact=True).click()


def test_generate_in_real_browser(browser, app_url, tmp_path):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
    page.goto(app_url)
    page.locator("#bark-text textarea").wait_for(timeout=60_000)
    choose(page, "bark-language", "German (de)")
    choose(page, "bark-voice", "v2/de_speaker_3")
    text = page.locator("#bark-text textarea")
    text.fill("Guten Tag")
    page.locator("#bark-count").get_by_text("2 BERT tokens").wait_for(timeout=30_000)
    text.press("End")
    page.get_by_role("button", name="[laughs]", exact=True).click()
    page.wait_for_function("document.querySelector('#bark-text textarea').value.includes('[laughs]')")
    assert text.input_value().startswith("Guten Tag [laughs]")
    page.locator("#bark-count").get_by_text("5 BERT tokens").wait_for(timeout=30_000)
    page.locator("#bark-generate").click()
    page.locator("#bark-timing").get_by_text("real-time factor").wait_for(timeout=180_000)
    page.locator("#bark-plot .js-plotly-plot").first.wait_for(timeout=60_000)
    page.locator("#bark-audio audio, #bark-audio .waveform-container").first.wait_for(state="attached")
    with page.expect_download(timeout=60_000) as download:
        page.locator("#bark-wav").click()
    wav = tmp_path / "take.wav"
    download.value.save_as(wav)
    assert wav.read_bytes()[:4] == b"RIFF" and wav.stat().st_size > 1000
    shutil.copy(wav, ARTIFACTS / "browser-take.wav")
    page.screenshot(path=str(ARTIFACTS / "bark-studio.png"), full_page=True)
    assert "de_speaker_3" in page.locator("body").inner_text()
    page.get_by_role("button", name="Use this take as the voice").first.click()
    page.get_by_text("Using take #1").wait_for(timeout=30_000)
    page.get_by_role("tab", name="Session history").click()
    page.get_by_text("Guten Tag [laughs]").first.wait_for(timeout=30_000)


def open_page(browser, app_url):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(app_url)
    page.locator("#bark-text textarea").wait_for(timeout=60_000)
    return page


def test_example_fills_inputs(browser, app_url):  # noqa: F811
    page = open_page(browser, app_url)
    page.get_by_text("Guten Tag! Ich heiße Bark").first.click()
    page.wait_for_function("document.querySelector('#bark-text textarea').value.startsWith('Guten Tag! Ich')")
    assert page.locator("#bark-voice input").input_value() == "v2/de_speaker_3"
    assert "German" in page.locator("#bark-language input").input_value()
    assert page.locator("#bark-timing").inner_text().strip() == ""  # examples are not generated
    assert "accent" not in page.locator("#bark-language-tip").inner_text()
    choose(page, "bark-language", "any language")
    choose(page, "bark-voice", "v2/en_speaker_6")
    page.locator("#bark-language-tip").get_by_text("speak with a en accent").wait_for(timeout=30_000)


def test_split_preview_for_long_text(browser, app_url):  # noqa: F811
    page = open_page(browser, app_url)
    page.locator("#bark-text textarea").fill("Hello world. This is a test. The bark is long. " * 4)
    page.locator("#bark-count").get_by_text("chunks of").wait_for(timeout=30_000)
    page.get_by_text("How the text will be split").click()
    page.wait_for_function("(document.querySelector('#bark-plan')?.innerText || '').includes('Hello world.')",
                           timeout=30_000)
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
    upload_txt(page, tmp_path / "latin1.txt")
    page.get_by_text("not valid UTF-8").first.wait_for(timeout=30_000)
    assert page.locator("#bark-text textarea").input_value() == "My draft."  # nothing the user typed is lost
    (tmp_path / "story.txt").write_text("Once upon a time. There was a dog. 你好！", encoding="utf-8")
    page = open_page(browser, app_url)
    upload_txt(page, tmp_path / "story.txt")
    page.wait_for_function("document.querySelector('#bark-text textarea').value.startsWith('Once upon a time.')",
                           timeout=30_000)


def test_reference_recording_state_is_shown(browser, app_url, tmp_path):  # noqa: F811
    import numpy as np
    import soundfile as sf

    clip = tmp_path / "me.wav"
    sf.write(clip, np.sin(np.linspace(0, 2000, 44_100)).astype(np.float32), 44_100)
    page = open_page(browser, app_url)
    page.get_by_text("Your own voice (.npz prompt or a recording)").click()
    page.locator("#bark-reference input[type=file]").set_input_files(str(clip))
    page.locator("#bark-reference-status").get_by_text("Recording received: 1.0 s, 44100 Hz").wait_for(
        timeout=30_000)


def test_progress_names_the_stage_and_stop_cancels(browser, app_url):  # noqa: F811
    import re

    page = open_page(browser, app_url)
    page.locator("#bark-text textarea").fill("Hello world")
    page.locator("#bark-generate").click()
    page.get_by_text(re.compile(r"(semantic|coarse) \d+/\d+")).first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Stop").click()
    page.wait_for_timeout(8_000)  # a full tiny generation takes ~5 s: had it not stopped, it would be done
    assert "real-time factor" not in page.locator("#bark-timing").inner_text()
    page.locator("#bark-generate").click()  # the app keeps serving
    page.locator("#bark-timing").get_by_text("real-time factor").wait_for(timeout=180_000)


def test_live_preview_and_takes(browser, app_url):  # noqa: F811
    import app

    page = open_page(browser, app_url)
    page.locator("#bark-text textarea").fill("Hello world")
    page.get_by_text("Advanced", exact=True).click()
    page.get_by_label("max duration, s (0 = no limit)").fill("2")
    live = page.locator("#bark-live audio")
    if app.has_ffmpeg():  # the live preview is on by default: its player gets the stream while the take is made
        page.locator("#bark-generate").click()
        page.locator("#bark-timing").get_by_text("first audio after").wait_for(timeout=180_000)
        live.first.wait_for(state="attached", timeout=30_000)
    page.get_by_label("takes").first.fill("3")
    if app.has_ffmpeg():  # (without ffmpeg the box is off and disabled)
        page.get_by_label("play while generating").uncheck()
    page.locator("#bark-generate").click()
    page.locator("#bark-timing").get_by_text("3 takes in").wait_for(timeout=180_000)
    assert page.locator("#bark-take-2").is_visible() and page.locator("#bark-take-3").is_visible()
    assert not page.locator("#bark-take-4").is_visible()
    assert live.count() == 0, "nothing streamed: the previous request's preview must be gone"
    page.screenshot(path=str(ARTIFACTS / "bark-studio-takes.png"), full_page=True)
    if app.has_ffmpeg():  # a later stream gets the player again (a new source, not the cleared one): a batch of
        page.get_by_label("play while generating").check()  # takes streams its first take
        page.locator("#bark-generate").click()
        page.locator("#bark-timing").get_by_text("first audio after").wait_for(timeout=180_000)
        assert page.locator("#bark-timing").get_by_text("3 takes in").is_visible()
        live.first.wait_for(state="attached", timeout=30_000)
        page.wait_for_function("() => { const a = document.querySelector('#bark-live audio');"
                               " return a && (a.currentSrc || a.src); }", timeout=30_000)


def test_small_grid_and_bundle_download(browser, app_url, tmp_path):  # noqa: F811
    page = open_page(browser, app_url)
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#grid-text textarea").fill("Hello world.")
    page.locator("#grid-axis").get_by_text("seed", exact=True).click()
    page.locator("#grid-run").click()
    page.locator("#grid-status").get_by_text("Done: 3 cells").wait_for(timeout=180_000)
    assert page.get_by_text("cell 3").first.is_visible() and not page.get_by_text("cell 4").first.is_visible()
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="⬇ bundle").first.click()
    download.value.save_as(tmp_path / "cell.zip")
    import zipfile

    with zipfile.ZipFile(tmp_path / "cell.zip") as zf:
        assert {"take.wav", "tokens.npz", "settings.json"} <= set(zf.namelist())
    page.screenshot(path=str(ARTIFACTS / "bark-studio-evaluate.png"), full_page=True)


def test_stop_cancels_the_remaining_grid_cells(browser, app_url):  # noqa: F811
    import re

    page = open_page(browser, app_url)
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#grid-text textarea").fill("Hello world.")
    page.locator("#grid-axis").get_by_text("seed", exact=True).click()
    page.get_by_label("takes (seeds s, s+1, …)").fill("8")
    page.locator("#grid-run").click()
    page.locator("#grid-status").get_by_text("1 of 8 cells done").wait_for(timeout=120_000)
    page.get_by_role("button", name="Stop").nth(1).click()
    page.wait_for_timeout(10_000)  # 7 more full-length cells would take far longer than this to finish anyway
    status = page.locator("#grid-status").inner_text()
    done = int(re.search(r"(\d+) of 8", status)[1])
    assert "Done" not in status and done < 8
    page.wait_for_timeout(8_000)
    assert page.locator("#grid-status").inner_text() == status  # nothing more arrives after Stop
