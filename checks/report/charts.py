"""The report's charts, drawn by matplotlib into inline SVG (text kept as text, so the numbers are
in the page and can be read, searched and tested).

matplotlib is the `report` extra: it is imported only when an HTML page is drawn, so the engine,
the CLI's other commands and the Markdown report never load it.
"""

from __future__ import annotations

import io
import math
import re

from checks.report.markdown import fmt
from checks.report.signals import Section, Series

WIDTH, HEIGHT = 7.2, 2.6  # inches; the page scales the SVG to its column
LABEL_ALL_UNTIL = 18  # months: beyond this only the first and last points carry their value
COLOURS = {
    "incidents": "#c2410c",
    "near_misses": "#0f766e",
    "created": "#94a3b8",
    "completed": "#2563eb",
    "completion_rate": "#15803d",
    "guardrail": "#15803d",
    "constraint": "#22c55e",
    "decision-policy": "#86efac",
    "reminder": "#f97316",
    "training": "#fb923c",
    "vague": "#cbd5e1",
}
LINE_COLOURS = ("#2563eb", "#c2410c", "#0f766e", "#7c3aed")


def _figure(rows: int = 1, cols: int = 1, height: float = HEIGHT):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, height), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=7)
        ax.grid(axis="y", color="#e5e7eb", linewidth=0.6)
        ax.set_axisbelow(True)
    return figure, list(axes.flat)


def _labels(months: list[str]) -> list[str]:
    return [m[2:] for m in months]


def _thin_ticks(ax, months: list[str]) -> None:
    step = max(1, len(months) // 12)
    ax.set_xticks(range(0, len(months), step))
    ax.set_xticklabels(_labels(months)[::step], rotation=0)


def _label_points(
    ax, xs: list[int], values: list[float | None], unit: str, colour: str, boxed: bool = False
) -> None:
    points = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
    if len(points) > LABEL_ALL_UNTIL:
        points = [points[0], points[-1]]
    for x, v in points:
        ax.annotate(
            fmt(v, unit),
            (x, v),
            textcoords="offset points",
            xytext=(0, 4),
            ha="center",
            fontsize=6.5,
            color=colour,
        )


def _bars(section: Section, months: list[str], keys: tuple[str, ...], stacked: bool):
    figure, (ax,) = _figure()
    xs = list(range(len(months)))
    series = [s for s in section.series if s.key in keys]
    bottom = [0.0] * len(months)
    width = 0.8 if stacked else 0.8 / len(series)
    for index, s in enumerate(series):
        values = [v or 0 for v in s.values]
        offset = 0 if stacked else (index - (len(series) - 1) / 2) * width
        bars = ax.bar(
            [x + offset for x in xs],
            values,
            width,
            bottom=bottom if stacked else None,
            label=s.title,
            color=COLOURS.get(s.key),
        )
        shown = [
            fmt(v, s.unit) if v and (not stacked or v >= 8 or s.unit != "percent") else "" for v in values
        ]
        if len(months) <= LABEL_ALL_UNTIL:
            ax.bar_label(bars, labels=shown, label_type="center" if stacked else "edge", fontsize=6.5)
        if stacked:
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    _thin_ticks(ax, months)
    ax.legend(
        fontsize=7, frameon=False, ncols=min(len(series), 6), loc="upper left", bbox_to_anchor=(0, 1.18)
    )
    return figure, ax


def _small_multiples(section: Section, months: list[str], series: list[Series]):
    cols = 2 if len(series) > 1 else 1
    rows = (len(series) + cols - 1) // cols
    figure, axes = _figure(rows, cols, height=1.9 * rows + 0.2)
    xs = list(range(len(months)))
    for index, (ax, s) in enumerate(zip(axes, series, strict=False)):
        colour = LINE_COLOURS[index % len(LINE_COLOURS)]
        points = [(x, v) for x, v in zip(xs, s.values, strict=True) if v is not None]
        if points:
            # NaN for a month without data breaks the line there instead of bridging the gap
            ys = [math.nan if v is None else v for v in s.values]
            ax.plot(xs, ys, marker="o", markersize=3, color=colour)
            _label_points(ax, xs, s.values, s.unit, colour)
        ax.set_title(s.title, fontsize=8, loc="left")
        ax.set_xlim(-0.5, len(months) - 0.5)
        ax.set_ylim(bottom=0, top=max([p[1] for p in points], default=1) * 1.25 or 1)
        _thin_ticks(ax, months)
    for ax in axes[len(series) :]:
        ax.set_visible(False)
    return figure


def draw(section: Section, months: list[str]):
    """The section's figure: stacked shares, grouped counts, or one small line chart per series."""
    if section.key == "reporting":
        figure, _ = _bars(section, months, ("incidents", "near_misses"), stacked=True)
    elif section.key == "item-kinds":
        figure, ax = _bars(section, months, tuple(s.key for s in section.series), stacked=True)
        ax.set_ylim(0, 102)
    elif section.key == "action-items":
        figure, ax = _bars(section, months, ("created", "completed"), stacked=False)
        rate = next(s for s in section.series if s.key == "completion_rate")
        twin = ax.twinx()
        twin.spines[["top"]].set_visible(False)
        twin.tick_params(labelsize=7)
        xs = list(range(len(months)))
        points = [(x, v) for x, v in zip(xs, rate.values, strict=True) if v is not None]
        twin.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker="o",
            markersize=3,
            color=COLOURS["completion_rate"],
            label=rate.title,
        )
        _label_points(twin, xs, rate.values, rate.unit, COLOURS["completion_rate"], boxed=True)
        twin.set_ylim(0, 115)
        twin.set_ylabel(f"{rate.title} (%)", fontsize=7)
    else:
        figure = _small_multiples(section, months, section.series)
    return figure


def svg(section: Section, months: list[str]) -> str:
    """The section's chart as an <svg> element, ready to inline (no XML prolog, unique ids)."""
    import matplotlib

    with matplotlib.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": section.key, "font.family": "DejaVu Sans"}
    ):
        figure = draw(section, months)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    # Inline SVGs share one id space: prefix matplotlib's ids with the section's key.
    prefix = re.sub(r"\W", "", section.key)
    text = re.sub(r'id="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", text)
    text = re.sub(r'xlink:href="#([^"]+)"', rf'xlink:href="#{prefix}-\1"', text)
    text = re.sub(r"<svg ", f'<svg role="img" aria-label="{section.title}" ', text, count=1)
    return text
