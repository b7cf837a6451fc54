"""The follow-up chart as a person sees it: drawn, labelled, nothing cut off; a screenshot."""

from __future__ import annotations

import shutil
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, expect

from formsvc.forms.follow_up import INDICATORS
from tests.conftest import PASSWORD, World
from tests.follow_up_data import PERIOD, SMALL_DISTRICT, generate

#: A copy for a person to look at after the run.
SCREENSHOT = Path("/tmp/stats-chart.png")


def test_analyst_sees_a_readable_chart_of_the_eight_indicators(
    app: Flask, page: Page, world: World, tmp_path: Path
) -> None:
    generate(app, world)
    page.goto("/login")
    page.get_by_label("Användarnamn").fill("analyst")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    page.get_by_role("link", name="Statistik", exact=True).click()
    page.get_by_label("Från och med").fill(PERIOD[0].isoformat())
    page.get_by_label("Till och med").fill(PERIOD[1].isoformat())
    page.get_by_role("button", name="Visa").click()

    chart = page.get_by_role("img", name="Andel som svarade ja vid inskrivning")
    expect(chart).to_be_visible()
    for question in INDICATORS.values():
        expect(chart.locator("g.indicator > text", has_text=str(question))).to_be_visible()
    expect(chart.locator("rect[width]")).not_to_have_count(0)
    box = chart.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 500
    # every text ends inside the drawing (viewBox units), so no label or percentage is cut off
    right = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('svg.chart text')]"
        ".map(t => t.getBBox().x + t.getBBox().width))"
    )
    assert right <= 800

    shot = tmp_path / "stats-chart.png"
    chart.screenshot(path=str(shot))
    page.screenshot(path=str(tmp_path / "stats-page.png"), full_page=True)
    shutil.copy(shot, SCREENSHOT)
    shutil.copy(tmp_path / "stats-page.png", SCREENSHOT.with_name("stats-page.png"))
    assert shot.stat().st_size > 10_000

    # the chart downloads: SVG and PNG with the numbers as text, and the numbers as CSV
    for name, suffix in (
        ("Ladda ner diagrammet som SVG-bild", ".svg"),
        ("Ladda ner diagrammet som PNG-bild", ".png"),
        ("Ladda ner diagrammets siffror (CSV)", ".csv"),
    ):
        with page.expect_download() as info:
            page.get_by_role("link", name=name).click()
        download = info.value
        assert download.suggested_filename.endswith(suffix), download.suggested_filename
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        assert saved.stat().st_size > 500
        if suffix == ".png":
            assert saved.read_bytes().startswith(b"\x89PNG")
            shutil.copy(saved, SCREENSHOT.with_name("stats-chart-download.png"))
        if suffix == ".svg":
            svg = saved.read_text(encoding="utf-8")
            assert svg.startswith("<?xml")
            # drawn by the browser on its own: every text ends inside the file's viewBox
            alone = page.context.new_page()
            alone.set_content(svg.split("?>", 1)[1])
            inside = alone.evaluate(
                """() => { const s = document.querySelector('svg'), v = s.viewBox.baseVal;
                  return [...s.querySelectorAll('text')].every(t => { const b = t.getBBox();
                    return b.x >= v.x && b.x + b.width <= v.x + v.width; }); }"""
            )
            assert inside
            for question in INDICATORS.values():
                expect(alone.locator("g.data text", has_text=str(question))).to_have_count(1)
            alone.close()

    # a district with three discharged: the same chart, with no bar and no number in it
    page.get_by_label("Stadsdel").select_option(label=SMALL_DISTRICT)
    page.get_by_role("button", name="Visa").click()
    small = page.get_by_role(
        "img", name=f"Andel som svarade ja vid inskrivning och vid utskrivning, {SMALL_DISTRICT}"
    )
    expect(small).to_be_visible()
    expect(small.locator("rect[width]")).to_have_count(2)  # the legend's swatches only
    expect(small.locator("text", has_text="döljs")).to_have_count(16)
    small.screenshot(path=str(tmp_path / "small.png"))
    shutil.copy(tmp_path / "small.png", SCREENSHOT.with_name("stats-chart-small.png"))
