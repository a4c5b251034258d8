"""Small pure helpers for phone-sized Telegram HTML: numbers, escaping, fitting and splitting.

Telegram's HTML mode understands a handful of tags; everything dynamic goes through `esc`.
Lines are kept short (`LINE_WIDTH` visible characters) so tables never wrap on a phone.
"""

from __future__ import annotations

import html
import re
from decimal import ROUND_HALF_EVEN, Decimal

LINE_WIDTH = 40
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024

_TAG = re.compile(r"<(/?)([a-z\-]+)[^>]*>")


def esc(text: object) -> str:
    """HTML-escape any dynamic text for Telegram's HTML parse mode."""
    return html.escape(str(text), quote=False)


def visible(text: str) -> str:
    """What the reader sees: tags removed and entities decoded (for measuring line widths)."""
    return html.unescape(_TAG.sub("", text))


def fit(text: str, width: int) -> str:
    """`text` cut to `width` characters, with an ellipsis when something was cut."""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + "…"


def money(value: Decimal, places: int = 2) -> str:
    """A quote-currency amount with thousands separators: `12,632.00`; huge ones as `12.35M`.

    Never wider than 12 characters, so it fits a table column.
    """
    size = abs(value)
    if size < 10_000_000:
        return f"{_round(value, places):,.{places}f}"
    for scale, suffix in ((Decimal(10) ** 6, "M"), (Decimal(10) ** 9, "B")):
        if size < scale * 10_000:
            return f"{_round(value / scale, 2):,.2f}{suffix}"
    return f"{value:.2e}"


def signed_money(value: Decimal) -> str:
    """`+12.30` / `−4.00`: an amount with its sign."""
    sign = "+" if value >= 0 else "−"
    return sign + money(abs(value))


def pct(fraction: Decimal, places: int = 1) -> str:
    """A fraction as a percentage: `0.2513` → `25.1%`."""
    return f"{_round(fraction * 100, places):.{places}f}%"


def signed_pct(fraction: Decimal) -> str:
    """`+3.2%` / `−10.0%`."""
    sign = "+" if fraction >= 0 else "−"
    return sign + pct(abs(fraction))


def amount(value: Decimal, significant: int = 6) -> str:
    """An asset quantity without noise: `0.03482`, `1,250`, `0.00000123`."""
    if value == 0:
        return "0"
    magnitude = value.copy_abs().adjusted()
    places = max(significant - 1 - magnitude, 0)
    places = min(places, 8)
    text = f"{_round(value, places):,.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def fee(value: Decimal) -> str:
    """A fee: cents when it is a quote-sized amount (`1.90`), significant digits when tiny."""
    return money(value) if abs(value) >= 1 else amount(value, significant=4)


def price(value: Decimal) -> str:
    """A unit price with enough digits for cheap coins: `91,182.00`, `0.3412`, `0.00001234`."""
    if value >= 1000:
        return money(value)
    if value >= 1:
        return f"{_round(value, 4):,.4f}".rstrip("0").rstrip(".")
    return amount(value, significant=4)


def duration(seconds: float) -> str:
    """`45s`, `5m`, `1h 30m`, `2d 4h`."""
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    minutes, _ = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split HTML `text` into messages of at most `limit` characters, at line breaks.

    Tags left open at a split (a `<pre>` table, a `<b>` run) are closed at the end of one part
    and reopened at the start of the next, so each part is valid HTML on its own.
    """
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    open_tags: list[str] = []
    for line in _short_lines(text.split("\n"), limit // 2):
        reopen = "".join(f"<{tag}>" for tag in open_tags)
        closing = "".join(f"</{tag}>" for tag in reversed(_tags_after(open_tags, line)))
        candidate = f"{current}\n{line}" if current else reopen + line
        if current and len(candidate) + len(closing) > limit:
            parts.append(current + "".join(f"</{tag}>" for tag in reversed(open_tags)))
            candidate = reopen + line
        current = candidate
        open_tags = _tags_after(open_tags, line)
    if current:
        parts.append(current)
    return parts


def _tags_after(open_tags: list[str], line: str) -> list[str]:
    tags = list(open_tags)
    for match in _TAG.finditer(line):
        closing, name = match.group(1) == "/", match.group(2)
        if closing:
            if name in tags:
                del tags[len(tags) - 1 - tags[::-1].index(name)]
        else:
            tags.append(name)
    return tags


def _short_lines(lines: list[str], limit: int) -> list[str]:
    """Cut lines longer than `limit` (rare: our views make short lines) outside tags/entities."""
    result: list[str] = []
    for line in lines:
        while len(line) > limit:
            cut = limit
            while cut > 0 and (_inside(line, cut, "<", ">") or _inside(line, cut, "&", ";")):
                cut -= 1
            cut = cut or limit
            result.append(line[:cut])
            line = line[cut:]
        result.append(line)
    return result


def _inside(line: str, index: int, opener: str, closer: str) -> bool:
    start = line.rfind(opener, 0, index)
    return start != -1 and line.find(closer, start) >= index


def _round(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
