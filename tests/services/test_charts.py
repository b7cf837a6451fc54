"""The chart's PNG drawing: a PNG of the asked width, and refusals instead of a hang or junk."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from formsvc.services import charts

SMALL = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100" viewBox="0 0 200 100">'
    '<rect width="200" height="100" fill="#ffffff"/><rect x="10" y="10" width="80" height="20"'
    ' fill="#0a5a8c"/><text x="10" y="60" font-size="14">Åsa 57 %</text></svg>'
).encode()


def test_an_svg_is_drawn_as_a_png_of_the_asked_width() -> None:
    image = Image.open(io.BytesIO(charts.png(SMALL, width=400)))
    assert image.format == "PNG" and image.size == (400, 200)
    assert image.convert("RGB").getpixel((100, 40)) == (0x0A, 0x5A, 0x8C)


@pytest.mark.parametrize(
    "svg",
    [
        b"not an svg",
        b"<svg xmlns='http://www.w3.org/2000/svg'><unclosed></svg>",
        b"",
    ],
)
def test_what_is_not_an_svg_is_refused(svg: bytes) -> None:
    with pytest.raises(charts.RenderError):
        charts.png(svg)


def test_a_file_larger_than_any_chart_is_not_drawn() -> None:
    huge = SMALL.replace(b"</svg>", b"<!--" + b"x" * charts.MAX_SVG_BYTES + b"--></svg>")
    with pytest.raises(charts.RenderError, match="larger than"):
        charts.png(huge)


def test_a_file_that_names_another_file_does_not_draw_it(tmp_path: Path) -> None:
    # the SVG comes on stdin without a base location: a local file it names is not loaded
    red = tmp_path / "red.png"
    Image.new("RGB", (50, 50), (255, 0, 0)).save(red)
    image_tag = f'<image href="{red.as_uri()}" x="100" y="0" width="100" height="100"/></svg>'
    svg = SMALL.replace(b"</svg>", image_tag.encode())
    image = Image.open(io.BytesIO(charts.png(svg, width=200))).convert("RGB")
    assert image.getpixel((150, 80)) == (255, 255, 255)
