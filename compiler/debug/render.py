"""Rendering of a per-layer comparison: fixed-width text, Markdown, CSV and an SVG chart.

The functions take rows with the fields of :class:`compiler.quantization.report.LayerRow`
(``index``, ``kind``, ``layer``, ``op``, ``value``, ``qvalue``, ``sqnr_db``,
``local_sqnr_db``, ``cosine``, ``max_abs_err``, ``scale``, ``zero_point``, ``elements``);
they compute nothing but formatting. Contract of the outputs:

* :func:`markdown_table`: a GitHub-flavoured Markdown table whose every line has one cell
  per column, numbers right-aligned; names (layer, op, value) are code spans, so ``_``,
  ``*`` or ``<`` in them stay literal, and ``|`` is escaped as GFM tables require.
* :func:`csv_text`: one header line, then one line per row with full-precision numbers
  (``repr`` of the floats, so they read back exactly).
* :func:`svg_bar_chart`: a standalone SVG document, no plotting library needed;
  :func:`layer_chart` draws at most ``limit`` rows, the worst first, and says how many it
  left out.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

COLUMNS = ("#", "layer", "op", "value", "SQNR dB", "local dB", "cosine", "max |err|", "scale")
_NUMERIC = frozenset({0, 4, 5, 6, 7, 8})  # right-aligned columns


def fmt_db(x: float) -> str:
    """A dB figure for people: two decimals, ``inf``/``-inf``, ``-`` for nan."""
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.2f}"


def cells(r: Any) -> list[str]:
    """The text of one row, one string per :data:`COLUMNS` entry."""
    return [str(r.index) if r.kind != "output" else "out", r.layer, r.op, r.value,
            fmt_db(r.sqnr_db), fmt_db(r.local_sqnr_db), f"{r.cosine:.6f}",
            f"{r.max_abs_err:.4g}", "-" if math.isnan(r.scale) else f"{r.scale:.4g}"]


def text_table(rows: Sequence[Any], outputs: Sequence[Any], head: str) -> str:
    """A fixed-width table under ``head``: ``rows``, a rule, then ``outputs``."""
    body = [cells(r) for r in [*rows, *outputs]]
    widths = [max([len(c)] + [len(b[i]) for b in body]) for i, c in enumerate(COLUMNS)]

    def line(cs: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in _NUMERIC else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cs, widths))).rstrip()

    out = [head, line(list(COLUMNS)), line(["-" * w for w in widths])]
    out += [line(b) for b in body[:len(rows)]]
    if outputs:
        out.append(line(["-" * w for w in widths]))
        out += [line(b) for b in body[len(rows):]]
    return "\n".join(out)


_NAMES = frozenset({1, 2, 3})  # layer, op, value: code spans in Markdown


def _md_text(c: str) -> str:
    """Plain cell text with Markdown's special characters escaped."""
    c = " ".join(c.split())
    return "".join("\\" + ch if ch in "\\`*_[]<>|" else ch for ch in c)


def _md_code(c: str) -> str:
    """``c`` as a code span in a table cell: a backtick fence longer than any run inside,
    and ``|`` escaped (GFM splits cells on it even inside code)."""
    c = " ".join(c.split())
    if not c:
        return ""
    longest, cur = 0, 0
    for ch in c:
        cur = cur + 1 if ch == "`" else 0
        longest = max(longest, cur)
    fence = "`" * (longest + 1)
    pad = " " if c.startswith("`") or c.endswith("`") else ""
    body = c.replace("|", "\\|")
    return f"{fence}{pad}{body}{pad}{fence}"


def markdown_table(rows: Sequence[Any]) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` (see the module doc)."""
    out = ["| " + " | ".join(_md_text(c) for c in COLUMNS) + " |",
           "|" + "|".join("---:" if i in _NUMERIC else "---" for i in range(len(COLUMNS)))
           + "|"]
    out += ["| " + " | ".join(_md_code(c) if i in _NAMES else _md_text(c)
                              for i, c in enumerate(cells(r))) + " |" for r in rows]
    return "\n".join(out) + "\n"


def csv_text(rows: Sequence[Any]) -> str:
    """CSV of ``rows`` with full-precision numbers (see the module doc)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "kind", "layer", "op", "value", "qvalue", "sqnr_db",
                "local_sqnr_db", "cosine", "max_abs_err", "scale", "zero_point", "elements"])
    for r in rows:
        w.writerow([r.index, r.kind, r.layer, r.op, r.value, r.qvalue, repr(r.sqnr_db),
                    repr(r.local_sqnr_db), repr(r.cosine), repr(r.max_abs_err),
                    repr(r.scale), r.zero_point, r.elements])
    return buf.getvalue()


def layer_chart(rows: Sequence[Any], *, title: str, output_sqnr_db: float,
                limit: int | None = 40, full_table: str = "the CSV table") -> str:
    """:func:`svg_bar_chart` of SQNR per row, the local SQNR as the dot and
    ``output_sqnr_db`` as the reference line.

    Activation rows are drawn worst SQNR first (ties in graph order), labelled ``#index
    layer`` as in the tables, at most ``limit`` of them (None: all) with a note naming
    ``full_table`` when some are left out; graph outputs (``output NAME``) always follow.
    """
    acts = sorted((r for r in rows if r.kind != "output"),
                  key=lambda r: (not math.isnan(r.sqnr_db), r.sqnr_db, r.index))
    shown = acts if limit is None else acts[:max(0, limit)]
    note = (f"worst {len(shown)} of {len(acts)} tensors; full table in {full_table}"
            if len(shown) < len(acts) else "")
    outputs = [r for r in rows if r.kind == "output"]
    return svg_bar_chart(
        [(f"#{r.index} {r.layer}" if r.kind != "output" else f"output {r.value}", r.op,
          r.sqnr_db, r.local_sqnr_db, r.kind) for r in [*shown, *outputs]],
        title=title, ref=(output_sqnr_db, "output SQNR"), note=note)


# -- SVG -----------------------------------------------------------------------------------
def _color(db: float) -> str:
    if db < 10:
        return "#d9534f"
    if db < 20:
        return "#f0ad4e"
    return "#5cb85c"


def svg_bar_chart(items: list[tuple[str, str, float, float, str]], *, title: str,
                  ref: tuple[float, str] | None = None, unit: str = "dB",
                  note: str = "") -> str:
    """Render ``(label, op, value, marker, kind)`` rows as a horizontal bar chart.

    Infinite values are drawn at the axis end and labelled ``inf``; ``marker`` (nan: none) is
    drawn as a dot. Output rows (``kind == "output"``) are separated by a gap. ``note`` is
    a line under the title.
    """
    row_h, bar_h, label_w, plot_w = 18, 12, 240, 420
    top = 60 if note else 44
    finite = [v for _, _, a, b, _ in items for v in (a, b) if math.isfinite(v)]
    if ref and math.isfinite(ref[0]):
        finite.append(ref[0])
    hi = max([10.0] + finite)
    hi = 10.0 * math.ceil(hi / 10.0 + 1e-9)
    lo = min([0.0] + finite)
    lo = 10.0 * math.floor(lo / 10.0)

    def x(v: float) -> float:
        v = min(max(v, lo), hi)
        return label_w + (v - lo) / (hi - lo) * plot_w

    gap = any(k == "output" for *_, k in items)
    height = top + row_h * len(items) + (row_h // 2 if gap else 0) + 40
    width = label_w + plot_w + 70
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<title>{escape(title)}</title>',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{width / 2:.0f}" y="16" text-anchor="middle" font-size="13" '
           f'font-weight="bold">{escape(title)}</text>']
    if note:
        out.append(f'<text class="note" x="{width / 2:.0f}" y="32" text-anchor="middle" '
                   f'fill="#555">{escape(note)}</text>')
    axis_y = height - 30
    for k in range(int(lo), int(hi) + 1, 10 if hi - lo <= 80 else 20):
        gx = x(k)
        out.append(f'<line x1="{gx:.1f}" y1="{top - 4}" x2="{gx:.1f}" y2="{axis_y}" '
                   f'stroke="#e4e4e4"/>')
        out.append(f'<text x="{gx:.1f}" y="{axis_y + 13}" text-anchor="middle" '
                   f'fill="#555">{k}</text>')
    out.append(f'<text x="{label_w + plot_w / 2:.0f}" y="{axis_y + 26}" text-anchor="middle" '
               f'fill="#555">SQNR ({unit}); bar: float vs quantized, dot: own rounding only'
               f'</text>')
    y = top
    seen_output = False
    for label, op, v, m, kind in items:
        if kind == "output" and not seen_output:
            seen_output = True
            y += row_h // 2
        short = label if len(label) <= 34 else label[:31] + "..."
        out.append(f'<text x="{label_w - 6}" y="{y + bar_h - 2}" text-anchor="end">'
                   f'<title>{escape(label)} ({escape(op)})</title>{escape(short)}</text>')
        x0 = x(max(lo, 0.0))
        x1 = x(v) if not math.isnan(v) else x0
        left, w = min(x0, x1), abs(x1 - x0)
        out.append(f'<rect class="bar" x="{left:.1f}" y="{y}" width="{w:.1f}" '
                   f'height="{bar_h}" fill="{_color(v)}"><title>{escape(label)}: '
                   f'{fmt_db(v)} {unit}</title></rect>')
        out.append(f'<text x="{max(x0, x1) + 4:.1f}" y="{y + bar_h - 2}" fill="#333">'
                   f'{fmt_db(v)}</text>')
        if not math.isnan(m):
            out.append(f'<circle class="local" cx="{x(m):.1f}" cy="{y + bar_h / 2}" r="3" '
                       f'fill="#333"/>')
        y += row_h
    if ref and math.isfinite(ref[0]):
        rx = x(ref[0])
        out.append(f'<line class="ref" x1="{rx:.1f}" y1="{top - 4}" x2="{rx:.1f}" '
                   f'y2="{axis_y}" stroke="#337ab7" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{rx:.1f}" y="{top - 8}" text-anchor="middle" fill="#337ab7">'
                   f'{escape(ref[1])} {fmt_db(ref[0])}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


__all__ = ["COLUMNS", "cells", "csv_text", "fmt_db", "layer_chart", "markdown_table",
           "svg_bar_chart", "text_table"]
