"""Screenshot of the `tfcmgen serve` web page for the README, in headless Debian chromium.

Serves the given export (ONNX backend) on a free loopback port, types captions into the page,
asks for a grid, and saves a phone-width screenshot.

Usage:
    tfcmgen export --model tfcmgen/pretrained/shapes64 --format all --out /tmp/shapes64
    python bench/serve_screenshot.py --model /tmp/shapes64 --out saved_models/serve_page.png
"""

from __future__ import annotations

import argparse
import socket
import threading
import time

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--model-name", default="shapes64")
    parser.add_argument("--out", default="saved_models/serve_page.png")
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--width", type=int, default=412)
    parser.add_argument("--captions", nargs="+", default=[
        "a small red circle in the top left", "a large crimson square", "a green triangle"])
    args = parser.parse_args()

    import uvicorn
    from playwright.sync_api import sync_playwright

    from tfcmgen.serve import ServeConfig, build_app

    serving, source = build_app(ServeConfig(model=args.model, model_name=args.model_name,
                                            backend="onnx"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(serving.app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": 900},
                                    device_scale_factor=1)
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#text2image:not([hidden])")
            page.fill("#captions", "\n".join(args.captions))
            page.fill("#count", str(args.count))
            page.fill("#seed", str(args.seed))
            page.wait_for_timeout(600)  # the vocabulary coverage line
            page.click("#generate")
            page.wait_for_function(
                "document.querySelectorAll('#grid canvas').length === "
                f"{len(args.captions) * args.count}")
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(30)
        source.cleanup()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
