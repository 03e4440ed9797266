"""The Space in a real headless Chromium: upload a clip, run, read the result; then pick a sample in audio mode.

The app is `spaces/migr-demo/app.py`, configured through its environment variables and served on 127.0.0.1 by a
random free port, with a tiny checkpoint scripted to answer `SCRIPTED_COMPLETION`. The browser is Debian's
``chromium`` (playwright's own browsers are never downloaded); requests that leave the app are aborted.
"""

import runpy
import shutil
import socket
from pathlib import Path

import pytest
from media_fixtures import make_clip, sine

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)

APP = Path(__file__).resolve().parents[1] / "spaces" / "migr-demo" / "app.py"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 60_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def space_url(scripted_checkpoint, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MIGR_MODEL", str(scripted_checkpoint))
    monkeypatch.setenv("MIGR_LABEL_SET", "dfew")
    monkeypatch.setenv("MIGR_MAX_NEW_TOKENS", "80")
    monkeypatch.delenv("MIGR_SAMPLES", raising=False)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    demo = runpy.run_path(str(APP))["demo"]
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture
def page(space_url, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",  # a fresh user-data dir
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
            timeout=TIMEOUT_MS,
        )
        try:
            context.set_default_timeout(TIMEOUT_MS)
            context.route(
                "**/*",
                lambda route: route.continue_() if route.request.url.startswith(space_url) else route.abort(),
            )
            page = context.new_page()
            page.goto(space_url)
            page.wait_for_selector("#migr-run")
            yield page
        finally:
            context.close()


def read_result(page) -> dict:
    return {
        "emotion": page.locator("#migr-emotion textarea, #migr-emotion input").first.input_value(),
        "first": page.locator("#migr-first-modality textarea, #migr-first-modality input").first.input_value(),
        "segments": page.locator("#migr-reasoning .migr-segment").evaluate_all(
            "blocks => blocks.map(b => [b.dataset.segment, b.querySelector('.migr-segment-text').textContent,"
            " getComputedStyle(b).backgroundColor])"
        ),
        "summary": page.locator("#migr-reasoning .migr-summary").inner_text(),
    }


def test_upload_run_and_read_the_result(page, tmp_path):
    clip = make_clip(tmp_path / "upload.mp4", num_frames=16, width=96, height=64, audio=sine(1.0))
    page.locator("#migr-clip input[type=file]").set_input_files(clip)
    page.wait_for_selector("#migr-clip video")
    page.click("#migr-run")
    page.wait_for_selector("#migr-reasoning .migr-segment[data-segment=answer]")
    result = read_result(page)
    page.screenshot(path=str(tmp_path / "space.png"), full_page=True)

    assert result["emotion"] == "happy"
    assert result["first"] == "visual"
    assert [name for name, _, _ in result["segments"]] == ["vis_desc", "aud_desc", "think", "answer"]
    texts = {name: text for name, text, _ in result["segments"]}
    assert texts["vis_desc"] == "In the video, the woman smiles broadly."
    assert texts["aud_desc"] == "In the audio, the laughter is bright and the tone is cheerful."
    colours = {name: colour for name, _, colour in result["segments"]}
    assert colours["aud_desc"] == "rgb(255, 244, 230)" and colours["vis_desc"] == "rgb(231, 245, 255)"
    assert "input: audio+video" in result["summary"]
    assert (tmp_path / "space.png").stat().st_size > 10_000

    page.click("[data-testid=dataset-cell-0-0]")  # the first sample: the happy face
    page.wait_for_function("() => document.querySelector('#migr-clip video')?.src.includes('sample_happy')")
    page.check("#migr-mode input[value=audio]")
    page.click("#migr-run")
    page.wait_for_function(
        "() => document.querySelector('#migr-reasoning .migr-summary')?.textContent.includes('input: audio')"
        " && !document.querySelector('#migr-reasoning .migr-summary').textContent.includes('audio+video')"
    )
    assert read_result(page)["emotion"] == "happy"
    page.screenshot(path=str(tmp_path / "space_sample.png"), full_page=True)
