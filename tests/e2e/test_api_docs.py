"""/docs renders /openapi.json in a real browser under the app's real CSP (Debian's Chromium)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from tests.e2e.browser import CHROMIUM_ARGS
from tests.e2e.processes import embedded_env, free_port, web

pytestmark = pytest.mark.e2e


def test_docs_page_renders_every_operation_under_the_csp(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = embedded_env(tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        web(stack, env, tmp_path)
        spec = requests.get(f"{base}/openapi.json", timeout=30).json()
        operations = sum(len(item) for item in spec["paths"].values())
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                console: list[str] = []
                page.on("console", lambda message: console.append(message.text))
                page.on("pageerror", lambda error: console.append(str(error)))
                page.goto(f"{base}/docs")
                page.wait_for_selector("body[data-rendered]", timeout=60_000)
                rendered = page.get_attribute("body", "data-rendered")
                upload = page.locator("section.operation#post_upload")
                upload_text = upload.inner_text()
                toc = page.locator("#toc a").count()
            finally:
                browser.close()
    assert rendered == str(operations) and toc == operations
    assert "filename" in upload_text and "bearer token" in upload_text and "413" in upload_text
    # A CSP violation or a script error shows on the console; there must be none.
    assert console == [], console
