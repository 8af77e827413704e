"""The overview's 30-day chart, drawn here as SVG (no script, no library, presentation attributes only,
so the console's CSP needs no 'unsafe-inline'): money in per EAT day as bars, and each day's closed
orders by outcome as stacked ticks under them."""
from datetime import date, timedelta

from markupsafe import Markup, escape

WIDTH, BARS_HEIGHT, OUTCOME_HEIGHT, LEFT = 900, 160, 60, 70
COLOURS = {"released": "#3c8d50", "refunded": "#c0392b", "settled": "#d68910", "expired": "#95a5a6"}


def thirty_days(days: list[dict], last_day: date) -> Markup:
    by_day = {row["day"]: row for row in days}
    span = [last_day - timedelta(days=offset) for offset in range(29, -1, -1)]
    rows = [by_day.get(f"{day:%Y-%m-%d}", {}) for day in span]
    most_in = max([row.get("paid_in", 0) for row in rows] + [1])
    most_closed = max([sum(row.get(name, 0) for name in COLOURS) for row in rows] + [1])
    step = (WIDTH - LEFT) / len(span)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{BARS_HEIGHT + OUTCOME_HEIGHT + 30}" '
             f'role="img" aria-label="Money in and closed orders, last 30 days (EAT)">',
             f'<text x="0" y="14" font-size="11" fill="#555">KES {most_in:,}</text>',
             f'<text x="0" y="{BARS_HEIGHT}" font-size="11" fill="#555">paid in</text>',
             f'<text x="0" y="{BARS_HEIGHT + OUTCOME_HEIGHT}" font-size="11" fill="#555">closed</text>']
    for index, (day, row) in enumerate(zip(span, rows)):
        x = LEFT + index * step
        height = BARS_HEIGHT * row.get("paid_in", 0) / most_in
        tip = escape(f"{day:%d %b}: KES {row.get('paid_in', 0):,} in, {row.get('orders', 0)} new orders, "
                     + ", ".join(f"{row.get(name, 0)} {name}" for name in COLOURS))
        parts.append(f'<g><title>{tip}</title><rect x="{x:.1f}" y="{BARS_HEIGHT - height:.1f}" width="{step - 2:.1f}" '
                     f'height="{height:.1f}" fill="#12355b"/>')
        y = BARS_HEIGHT + OUTCOME_HEIGHT
        for name, colour in COLOURS.items():
            tall = (OUTCOME_HEIGHT - 8) * row.get(name, 0) / most_closed
            y -= tall
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{step - 2:.1f}" height="{tall:.1f}" fill="{colour}"/>')
        parts.append("</g>")
        if index % 5 == 0 or index == len(span) - 1:
            last = index == len(span) - 1
            anchor = ' text-anchor="end"' if last else ""
            parts.append(f'<text x="{x + step - 2 if last else x:.1f}" y="{BARS_HEIGHT + OUTCOME_HEIGHT + 20}" '
                         f'font-size="11" fill="#555"{anchor}>{day:%d %b}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


LEGEND = tuple(COLOURS.items())
