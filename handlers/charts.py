"""Charts drawn as pictures on the server (Pillow): no browser, no network, no font to install.

Labels are digits, dates and signs only, drawn with Pillow's own font (which has no Chinese):
the words go in the message's caption. The bars' data also travels in the PNG itself (a text
chunk "bars": JSON of [label, value] pairs), so what a picture shows can be read back.
"""

from __future__ import annotations

import io
import json
import string
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

WIDTH, HEIGHT = 800, 420
LEFT, RIGHT, TOP, BOTTOM = 80, 20, 40, 50
BACKGROUND = (255, 255, 255)
AXIS = (110, 112, 121)
GRID = (224, 230, 241)
BAR = (84, 112, 198)  # ECharts' first colour, as on the dashboard
HIGHLIGHT = (238, 102, 102)
TEXT = (51, 51, 51)
# What a label may hold: Pillow's own font draws these (and no Chinese).
LABEL_CHARACTERS = frozenset(string.digits + string.ascii_letters + " .,:-+/%()#")


@dataclass(frozen=True)
class Bar:
    label: str  # drawn under the bar: digits, a date
    value: int  # the bar's height, in the chart's unit (fen for money)
    shown: str  # drawn above the bar (the value as people read it: "1234.50")


def _check(text: str) -> str:
    if not set(text) <= LABEL_CHARACTERS:
        raise ValueError(f"a chart label needs a font this chart does not have: {text!r}")
    return text


def bar_height(value: int, top: int, plot_height: int) -> int:
    """How many pixels tall a bar of `value` is, the highest bar `top` filling the plot."""
    return 0 if top <= 0 else round(plot_height * max(value, 0) / top)


def bar_chart(
    bars: list[Bar], *, highlight_last: bool = False, tick: Callable[[float], str] = str
) -> bytes:
    """A PNG of the bars, side by side (the last one in another colour when asked), with the
    value axis marked at quarters of the highest bar (`tick` writes a value)."""
    for bar in bars:
        _check(bar.label)
        _check(bar.shown)
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    plot_height = HEIGHT - TOP - BOTTOM
    base = HEIGHT - BOTTOM
    top = max((bar.value for bar in bars), default=0)
    for step in range(1, 5):  # four grid lines, at quarters of the highest bar
        y = base - plot_height * step // 4
        draw.line([(LEFT, y), (WIDTH - RIGHT, y)], fill=GRID)
        if top > 0:
            label = _check(tick(top * step / 4))
            draw.text((LEFT - 6, y), label, fill=AXIS, font=font, anchor="rm")
    draw.line([(LEFT, TOP), (LEFT, base)], fill=AXIS)
    draw.line([(LEFT, base), (WIDTH - RIGHT, base)], fill=AXIS)
    slot = (WIDTH - LEFT - RIGHT) / max(len(bars), 1)
    for index, bar in enumerate(bars):
        left = round(LEFT + slot * index + slot * 0.2)
        right = round(LEFT + slot * (index + 1) - slot * 0.2)
        height = bar_height(bar.value, top, plot_height)
        colour = HIGHLIGHT if highlight_last and index == len(bars) - 1 else BAR
        if height > 0:
            draw.rectangle([(left, base - height), (right - 1, base - 1)], fill=colour)
        centre = (left + right) / 2
        draw.text((centre, base - height - 4), bar.shown, fill=TEXT, font=font, anchor="ms")
        draw.text((centre, base + 8), bar.label, fill=TEXT, font=font, anchor="mt")
    info = PngInfo()
    info.add_text("bars", json.dumps([[bar.label, bar.value] for bar in bars]))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()
