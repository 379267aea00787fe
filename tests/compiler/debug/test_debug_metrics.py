"""compiler.debug.metrics and compiler.debug.render against independent computations.

* The metrics against textbook formulas written differently (norms, explicit loops).
* ErrorStats folded sample by sample against the formulas over the concatenated data.
* The Markdown table parsed back cell by cell (every line one cell per column), the CSV read
  back with the csv module, the SVG parsed as XML.
"""

from __future__ import annotations

import csv
import io
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
import pytest

from compiler.debug import render
from compiler.debug.metrics import (
    ErrorStats,
    EvaluationError,
    sqnr_db,
    top1_agreement,
    top1_matches,
    update_many,
)

RNG = np.random.default_rng(7)


def test_sqnr_is_the_norm_ratio_in_db():
    ref = RNG.normal(size=(4, 10))
    x = ref + RNG.normal(scale=0.01, size=ref.shape)
    expected = 20.0 * math.log10(np.linalg.norm(ref) / np.linalg.norm(ref - x))
    assert sqnr_db(ref, x) == pytest.approx(expected, rel=1e-12)
    assert sqnr_db(ref, ref) == math.inf
    assert sqnr_db(np.zeros(3), np.ones(3)) == -math.inf
    with pytest.raises(EvaluationError, match="shapes"):
        sqnr_db(ref, ref[:2])


def test_top1_counts_rows_whose_argmax_agrees():
    a = RNG.normal(size=(30, 5))
    b = a + RNG.normal(scale=0.5, size=a.shape)
    agree = 0
    for i in range(30):
        agree += int(max(range(5), key=lambda j: a[i, j]) == max(range(5), key=lambda j: b[i, j]))
    assert top1_matches(a, b) == (agree, 30)
    assert top1_agreement(a, b) == pytest.approx(agree / 30)
    # rows are axis 0 whatever the rank: [N, 1, C] compares like [N, C]
    assert top1_matches(a[:, None, :], b[:, None, :]) == (agree, 30)
    with pytest.raises(EvaluationError):
        top1_matches(a, b[:, :4])


def test_error_stats_folded_per_sample_equal_the_whole():
    refs = [RNG.normal(size=(2, 7)) for _ in range(5)]
    gots = [r + RNG.normal(scale=0.05, size=r.shape) for r in refs]
    st = ErrorStats()
    for r, g in zip(refs, gots):
        st.update(r, g)
    f, q = np.concatenate(refs).ravel(), np.concatenate(gots).ravel()
    assert st.sqnr_db == pytest.approx(sqnr_db(f, q), rel=1e-12)
    cos = sum(fi * qi for fi, qi in zip(f, q)) / math.sqrt(sum(f * f) * sum(q * q))
    assert st.cosine == pytest.approx(cos, rel=1e-12)
    assert st.max_abs_err == max(abs(fi - qi) for fi, qi in zip(f, q))
    assert st.count == f.size
    empty = ErrorStats()
    assert empty.sqnr_db == math.inf and empty.cosine == 1.0


@dataclass
class _Row:
    index: int
    layer: str
    op: str
    value: str
    qvalue: str
    sqnr_db: float
    local_sqnr_db: float
    cosine: float
    max_abs_err: float
    scale: float
    zero_point: int = 0
    kind: str = "activation"
    elements: int = 0


ROWS = [
    _Row(0, "conv1|bn", "conv", "c1", "c1.dq", 41.25, 45.5, 0.99, 0.0625, 0.02, -3, elements=8),
    _Row(1, "pool", "max_pool", "p", "p.dq", math.inf, math.nan, 1.0, 0.0, 0.02),
    _Row(0, "fc", "gemm", "out", "out", -2.5, math.nan, 0.5, 3.0, math.nan, kind="output"),
]


def _md_table(text: str) -> list[list[str]]:
    """The cells' text of the first table in ``text``, read by markdown-it-py (CommonMark
    with GFM tables) as a Markdown viewer would render it."""
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(text)
    root = ET.fromstring(f"<root>{html}</root>")
    tables = root.findall("table")
    assert len(tables) == 1, html
    return [["".join(c.itertext()) for c in tr] for tr in tables[0].iter("tr")]


def test_markdown_table_renders_one_cell_per_column():
    rows = ROWS + [_Row(2, "_blocks.0._conv*<x>`y", "conv", "v_1", "v_1.dq", 30.0, 31.0,
                        0.9, 0.1, 0.5)]
    text = render.markdown_table(rows)
    table = _md_table(text)
    assert len(table) == 1 + len(rows)  # the separator row is no table row
    assert {len(r) for r in table} == {len(render.COLUMNS)}
    assert table[0] == list(render.COLUMNS)  # "max |err|" survives escaped
    assert table[1][:5] == ["0", "conv1|bn", "conv", "c1", "41.25"]
    assert table[2][4:6] == ["inf", "-"] and table[3][0] == "out"
    assert table[4][1:4] == ["_blocks.0._conv*<x>`y", "conv", "v_1"]  # literal, no markup
    sep = text.splitlines()[1]
    assert sep.count("|") == len(render.COLUMNS) + 1


def test_csv_reads_back_at_full_precision():
    rows = list(csv.DictReader(io.StringIO(render.csv_text(ROWS))))
    assert len(rows) == 3
    assert rows[0]["layer"] == "conv1|bn" and float(rows[0]["sqnr_db"]) == 41.25
    assert float(rows[1]["sqnr_db"]) == math.inf and math.isnan(float(rows[1]["local_sqnr_db"]))
    assert rows[2]["kind"] == "output" and int(rows[0]["zero_point"]) == -3


def test_svg_chart_is_xml_with_one_bar_per_row():
    svg = render.layer_chart(ROWS, title="t <&>", output_sqnr_db=-2.5)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in root.iter(f"{ns}rect") if r.get("class") == "bar"]
    assert len(bars) == 3
    assert root.find(f"{ns}title").text == "t <&>"
    assert len([c for c in root.iter(f"{ns}circle") if c.get("class") == "local"]) == 1


def test_svg_chart_draws_the_worst_rows_capped_with_a_note():
    rng = np.random.default_rng(0)
    sqnr = rng.uniform(5, 60, 163)
    rows = [_Row(i, f"block{i}.conv", "conv", f"v{i}", f"v{i}.dq", float(sqnr[i]), math.nan,
                 0.99, 0.1, 0.02) for i in range(163)]
    rows.append(_Row(0, "fc", "gemm", "out", "out", 20.0, math.nan, 0.9, 1.0, math.nan,
                     kind="output"))
    root = ET.fromstring(render.layer_chart(rows, title="t", output_sqnr_db=20.0,
                                            limit=40, full_table="layers.csv"))
    ns = "{http://www.w3.org/2000/svg}"
    bars = [e for e in root.iter(ns + "rect") if e.get("class") == "bar"]
    assert len(bars) == 41  # the 40 worst activations and the output
    shown = [float(b.find(ns + "title").text.rsplit(": ", 1)[1].split()[0]) for b in bars[:40]]
    assert shown == pytest.approx(sorted(sqnr)[:40], abs=0.006)  # worst first, 2 decimals
    notes = [e.text for e in root.iter(ns + "text") if e.get("class") == "note"]
    assert notes == ["worst 40 of 163 tensors; full table in layers.csv"]
    worst = int(np.argmin(sqnr))
    assert bars[0].find(ns + "title").text.startswith(f"#{worst} block{worst}.conv:")
    # all rows fit: no note, every row drawn
    root = ET.fromstring(render.layer_chart(rows[:10], title="t", output_sqnr_db=20.0))
    assert not [e for e in root.iter(ns + "text") if e.get("class") == "note"]
    assert len([e for e in root.iter(ns + "rect") if e.get("class") == "bar"]) == 10


def test_update_many_equals_whole_array_numpy_over_chunk_boundaries():
    # 3 samples of 20,001 elements: several 8192-element blocks and a ragged last one
    refs1 = [RNG.standard_normal(20001).astype(np.float32) for _ in range(3)]
    refs2 = [RNG.standard_normal(20001).astype(np.float32) for _ in range(3)]
    gots = [(r + RNG.standard_normal(20001) * 0.01).astype(np.float32) for r in refs1]
    a, b = ErrorStats(), ErrorStats()
    for r1, r2, g in zip(refs1, refs2, gots):
        update_many([(a, r1), (b, r2)], g)
    q = np.concatenate(gots).astype(np.float64)
    for st, refs in ((a, refs1), (b, refs2)):
        f = np.concatenate(refs).astype(np.float64)
        assert st.count == f.size
        assert st.signal == pytest.approx(np.sum(f * f), rel=1e-12)
        assert st.noise == pytest.approx(np.sum((f - q) ** 2), rel=1e-12)
        assert st.dot == pytest.approx(np.sum(f * q), rel=1e-12)
        assert st.quant == pytest.approx(np.sum(q * q), rel=1e-12)
        assert st.max_abs_err == np.max(np.abs(f - q))
