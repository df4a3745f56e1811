"""The web page in a real browser: headless Debian chromium driven by Playwright.

The page loads from a live uvicorn server, a caption is typed, the grid of images appears, and a
screenshot is saved and checked not to be blank. Skipped only when chromium is not installed
(`.ci/run` installs it: `apt-get install chromium`).
"""

import json
import os
import shutil
import socket
import threading
import time

import cv2
import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(
    not os.path.isfile(CHROMIUM),
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does it)",
)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """uvicorn serving an app in a thread, stopped gracefully at the end."""

    def __init__(self, app):
        import uvicorn

        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)


def drive_page(url, screenshot, captions, count=3, viewport=(390, 844)):
    """Opens the page, types `captions`, asks for `count` images each; returns what it saw."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.goto(url + "/")
            page.wait_for_selector("#text2image:not([hidden])")
            page.fill("#captions", "\n".join(captions))
            page.fill("#count", str(count))
            # The coverage line of the typed captions (the default text has its own first).
            page.wait_for_function(
                "document.getElementById('coverage').textContent.includes("
                f"{json.dumps(captions[-1].split()[-1])})")
            page.click("#generate")
            page.wait_for_function(
                f"document.querySelectorAll('#grid canvas').length === {len(captions) * count}")
            page.wait_for_function("!document.getElementById('generate').disabled")
            stats = page.evaluate("""() => Array.from(document.querySelectorAll('#grid canvas'))
                .map((canvas) => {
                    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width,
                                                                   canvas.height).data;
                    let min = 255, max = 0;
                    for (let i = 0; i < d.length; i += 4) {
                        min = Math.min(min, d[i], d[i + 1], d[i + 2]);
                        max = Math.max(max, d[i], d[i + 1], d[i + 2]);
                    }
                    return [canvas.width, min, max];
                })""")
            seen = {
                "model": page.text_content("#model"),
                "status": page.text_content("#status"),
                "unknown": page.eval_on_selector_all("#coverage .unknown",
                                                     "els => els.map(e => e.textContent)"),
                "canvases": stats,
                "page_width": page.evaluate("document.documentElement.scrollWidth"),
            }
            page.screenshot(path=str(screenshot), full_page=True)
            return seen
        finally:
            browser.close()


def test_page_draws_a_grid_in_headless_chromium(serve_export, tmp_path):
    from tfcmgen.serve import ServeConfig, build_app

    serving, source = build_app(ServeConfig(model=serve_export, backend="onnx"))
    screenshot = tmp_path / "page.png"
    try:
        with LiveServer(serving.app) as url:
            seen = drive_page(url, screenshot, ["a red circle", "a blue zorblax"], count=3)
    finally:
        source.cleanup()
    assert "tiny" in seen["model"] and "text2image" in seen["model"] and "32×32" in seen["model"]
    assert seen["unknown"] == ["zorblax"]
    assert seen["status"].startswith("6 images in")
    assert len(seen["canvases"]) == 6
    assert all(width == 32 and high > low for width, low, high in seen["canvases"])
    assert seen["page_width"] <= 390  # fits a phone-sized screen without sideways scrolling
    image = cv2.imread(str(screenshot))
    assert image is not None and image.shape[1] == 390
    assert image.std() > 10  # not blank
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50


def test_page_edits_an_uploaded_image(serve_edit_export, tmp_path):
    """Edit models: upload an image, type a caption, see source and edit side by side."""
    from playwright.sync_api import sync_playwright

    from tfcmgen.serve import ServeConfig, build_app

    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(photo), rng.integers(0, 256, (48, 60, 3), dtype=np.uint8))
    serving, source = build_app(ServeConfig(model=serve_edit_export, backend="onnx"))
    try:
        with LiveServer(serving.app) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            try:
                page = browser.new_page(viewport={"width": 390, "height": 844})
                page.goto(url + "/")
                page.wait_for_selector("#edit:not([hidden])")
                assert page.is_hidden("#text2image")
                page.set_input_files("#source", str(photo))
                page.fill("#edit-caption", "a red circle")
                page.click("#run-edit")
                page.wait_for_selector("#grid .pair canvas")
                page.wait_for_function(
                    "document.querySelector('#grid .pair img').naturalWidth > 0")
                shown = page.evaluate("""() => {
                    const img = document.querySelector('#grid .pair img');
                    const canvas = document.querySelector('#grid .pair canvas');
                    return [img.naturalWidth, img.naturalHeight, canvas.width,
                            document.querySelector('#status').textContent];
                }""")
            finally:
                browser.close()
    finally:
        source.cleanup()
    assert shown == [60, 48, 32, "Done."]
