"""The drawn-signature pad in a real browser at tablet size, under the app's CSP.

The app has no page with the pad yet, so a loopback http.server serves formsvc/static and a
signing page shaped like the one the templates will use; it records what the form posts.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect

import formsvc

pytestmark = pytest.mark.browser

STATIC = Path(formsvc.__file__).parent / "static"
#: The CSP formsvc sends (formsvc/views/__init__.py): no inline script, no inline style.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
TABLET = {"width": 768, "height": 1024}
DPR = 2
PEN = (0x1A, 0x23, 0x7E)
PNG_PREFIX = "data:image/png;base64,"
CANVAS_NAME = "Yta för att rita signatur"
HELP = (
    "Du kan också rita din signatur med finger, penna eller mus. Det är frivilligt: "
    "namnet du skriver ovan är din underskrift, även för dig som använder tangentbord "
    "eller skärmläsare."
)
PAGE = """<!doctype html>
<html lang="sv">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Signera</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/app.css">
<link rel="stylesheet" href="/static/sign.css">
<script src="/static/vendor/signature_pad/signature_pad.umd.min.js" defer></script>
<script src="/static/sign.js" defer></script>
</head>
<body><main>
<form method="post" action="/submit">
  <div class="field">
    <label for="typed_name">Skriv ditt namn</label>
    <input id="typed_name" name="typed_name" autocomplete="name">
  </div>
  <div class="field" data-signature-pad hidden>
    <p class="hint" id="signature-help">{help}</p>
    <canvas role="img" aria-label="{canvas_name}" aria-describedby="signature-help"></canvas>
    <input type="hidden" name="signature_png" value="{value}">
    <button type="button" data-clear>Rensa</button>
  </div>
  <button type="submit">Signera</button>
</form>
</main></body>
</html>
"""


class SigningSite:
    """The loopback site: its address, and every form it has received (decoded)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.posts: list[dict[str, list[str]]] = []
        self.url = ""

    def page(self, name: str, value: str = "") -> str:
        """Write a signing page whose hidden input starts as *value*; its URL."""
        text = PAGE.format(
            help=html.escape(HELP), canvas_name=html.escape(CANVAS_NAME), value=html.escape(value)
        )
        (self.root / name).write_text(text, encoding="utf-8")
        return f"{self.url}/{name}"


class _Handler(SimpleHTTPRequestHandler):
    site: SigningSite

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode("ascii")
        self.site.posts.append(urllib.parse.parse_qs(body, keep_blank_values=True))
        reply = (
            b'<!doctype html><html lang="sv"><title>Klart</title><link rel="icon" href="data:,">'
            b"<p>Mottaget</p></html>"
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output to what matters


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SigningSite]:
    root = tmp_path / "site"
    root.mkdir()
    (root / "static").symlink_to(STATIC, target_is_directory=True)
    signing = SigningSite(root)
    handler = type("Handler", (_Handler,), {"site": signing})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    signing.url = f"http://127.0.0.1:{server.server_port}"
    yield signing
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def tablet(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport=TABLET, device_scale_factor=DPR, has_touch=True, locale="sv-SE"
    )
    yield context
    context.close()


@pytest.fixture
def page(tablet: BrowserContext) -> Iterator[Page]:
    """A tablet page that fails the test on any script error or CSP violation."""
    page = tablet.new_page()
    page.set_default_timeout(30_000)
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.on(
        "console",
        lambda msg: problems.append(f"{msg.text} {msg.location}") if msg.type == "error" else None,
    )
    yield page
    assert problems == []


def _png(data_url: str) -> Image.Image:
    assert data_url.startswith(PNG_PREFIX)
    image = Image.open(io.BytesIO(base64.b64decode(data_url.removeprefix(PNG_PREFIX))))
    assert image.format == "PNG"
    return image.convert("RGBA")


def _ink(image: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box of the pixels that are not fully transparent, in image pixels."""
    return image.getchannel("A").getbbox()


#: CSS pixels: signature_pad draws a curve up to the second-to-last point of a stroke, so the
#: ink stops about one mouse step short of the end; plus the pen's width.
STROKE_MARGIN = 12


def _draw(page: Page, start: tuple[int, int], end: tuple[int, int]) -> None:
    """A stroke from *start* to *end* (CSS pixels from the canvas' top left corner), 40 moves."""
    box = page.get_by_role("img", name=CANVAS_NAME).bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0], box["y"] + end[1], steps=40)
    page.mouse.up()


def _signature(page: Page) -> str:
    return page.locator("input[name='signature_png']").input_value()


def test_a_drawn_stroke_becomes_a_sharp_png_where_it_was_drawn(
    page: Page, site: SigningSite
) -> None:
    page.goto(site.page("sign.html"))
    canvas = page.get_by_role("img", name=CANVAS_NAME)
    expect(canvas).to_be_visible()
    expect(page.get_by_text(HELP)).to_be_visible()
    expect(page.get_by_role("button", name="Rensa")).to_be_visible()
    assert _signature(page) == ""

    _draw(page, (100, 50), (500, 130))

    image = _png(_signature(page))
    css_size = canvas.evaluate("c => [c.clientWidth, c.clientHeight]")
    assert css_size[1] >= 170  # about 180 px tall
    # drawn at the tablet's device pixel ratio, so the PNG is not blurred
    assert image.size == (css_size[0] * DPR, css_size[1] * DPR)
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 24)}
    assert (*PEN, 255) in colours  # the dark blue pen
    assert any(alpha == 0 for *_, alpha in colours)  # and no background painted in
    # the ink lies where the mouse went (a few pixels of pen width around the line)
    left, top, right, bottom = _ink(image) or (0, 0, 0, 0)
    margin = STROKE_MARGIN * DPR
    assert abs(left - 100 * DPR) <= margin and abs(right - 500 * DPR) <= margin
    assert abs(top - 50 * DPR) <= margin and abs(bottom - 130 * DPR) <= margin


def test_the_posted_form_carries_the_drawing_and_the_typed_name(
    page: Page, site: SigningSite
) -> None:
    page.goto(site.page("sign.html"))
    page.get_by_label("Skriv ditt namn").fill("Åsa Öberg")
    _draw(page, (60, 40), (300, 140))
    _draw(page, (320, 140), (600, 60))  # a second stroke: the value is the whole drawing
    drawn = _signature(page)
    page.get_by_role("button", name="Signera").click()
    expect(page.get_by_text("Mottaget")).to_be_visible()

    (posted,) = site.posts
    assert posted["typed_name"] == ["Åsa Öberg"]
    assert posted["signature_png"] == [drawn]
    left, _, right, _ = _ink(_png(drawn)) or (0, 0, 0, 0)
    assert left <= 70 * DPR and right >= 590 * DPR  # both strokes are in it


def test_rensa_empties_the_pad_and_nothing_drawn_is_posted(page: Page, site: SigningSite) -> None:
    page.goto(site.page("sign.html"))
    _draw(page, (100, 50), (500, 130))
    assert _signature(page).startswith(PNG_PREFIX)

    page.get_by_role("button", name="Rensa").click()

    assert _signature(page) == ""
    shown = page.get_by_role("img", name=CANVAS_NAME).evaluate("c => c.toDataURL('image/png')")
    assert _ink(_png(shown)) is None  # the canvas is blank too
    page.get_by_label("Skriv ditt namn").fill("Åsa Öberg")
    page.get_by_role("button", name="Signera").click()
    expect(page.get_by_text("Mottaget")).to_be_visible()
    assert site.posts[0]["signature_png"] == [""]


def test_turning_the_tablet_keeps_the_drawing_at_the_new_size(
    page: Page, site: SigningSite
) -> None:
    page.goto(site.page("sign.html"))
    canvas = page.get_by_role("img", name=CANVAS_NAME)
    _draw(page, (100, 50), (500, 130))
    narrow = _png(_signature(page)).size

    page.set_viewport_size({"width": TABLET["height"], "height": TABLET["width"]})

    wide, high = (n * DPR for n in canvas.evaluate("c => [c.clientWidth, c.clientHeight]"))
    assert wide > narrow[0]
    expect(canvas).to_have_js_property("width", wide)
    # the hidden input follows the redraw: same drawing, new size
    page.wait_for_function(
        "w => document.querySelector('input[name=signature_png]').value.length > 0 && "
        "new Promise(r => { const i = new Image(); i.onload = () => r(i.naturalWidth === w); "
        "i.src = document.querySelector('input[name=signature_png]').value; })",
        arg=wide,
    )
    image = _png(_signature(page))
    assert image.size == (wide, high)
    left, top, right, bottom = _ink(image) or (0, 0, 0, 0)
    margin = STROKE_MARGIN * DPR
    assert abs(left - 100 * DPR) <= margin and abs(right - 500 * DPR) <= margin
    assert abs(top - 50 * DPR) <= margin and abs(bottom - 130 * DPR) <= margin


def test_a_signature_sent_back_by_the_server_is_shown_and_kept(
    page: Page, site: SigningSite
) -> None:
    page.goto(site.page("sign.html"))
    _draw(page, (100, 50), (500, 130))
    earlier = _signature(page)

    page.goto(site.page("again.html", value=earlier))  # e.g. the form came back with an error

    canvas = page.get_by_role("img", name=CANVAS_NAME)
    # the pad shows it (drawn asynchronously from the data URL), so what is sent is what is seen
    page.wait_for_function(
        "() => { const c = document.querySelector('canvas');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " for (let i = 3; i < d.length; i += 4) { if (d[i]) return true; } return false; }"
    )
    shown = _ink(_png(canvas.evaluate("c => c.toDataURL('image/png')")))
    assert shown == _ink(_png(earlier))
    page.get_by_label("Skriv ditt namn").fill("Åsa Öberg")
    page.get_by_role("button", name="Signera").click()
    expect(page.get_by_text("Mottaget")).to_be_visible()
    assert site.posts[0]["signature_png"] == [earlier]


def test_without_javascript_the_pad_stays_hidden_and_the_typed_name_signs(
    browser: Browser, site: SigningSite
) -> None:
    context = browser.new_context(viewport=TABLET, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(site.page("sign.html"))
        expect(page.locator("[data-signature-pad]")).to_be_hidden()
        expect(page.get_by_role("button", name="Rensa")).to_be_hidden()
        page.get_by_label("Skriv ditt namn").fill("Åsa Öberg")
        page.get_by_role("button", name="Signera").click()
        expect(page.get_by_text("Mottaget")).to_be_visible()
    finally:
        context.close()
    assert site.posts == [{"typed_name": ["Åsa Öberg"], "signature_png": [""]}]
