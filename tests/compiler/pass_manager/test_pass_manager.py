"""Pipeline strings, the registry, the pass manager and its instruments.

The passes here are test-local classes in a closed registry (no builtins, no plugins), so the
tests do not depend on which builtin passes exist yet. Graphs use the always-present ops
const, identity and dropout.
"""

from __future__ import annotations

import enum
import io
import logging
import re
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Optional

import numpy as np
import pytest

from compiler.errors import PassFailure, PipelineError
from compiler.ir import TensorType, parse_graph, print_graph
from compiler.pass_manager import (
    DumpIR,
    InvalidGraphError,
    Pass,
    PassContext,
    PassInstrument,
    PassManager,
    PassRegistry,
    PassResult,
    Pipeline,
    PrintIR,
    Timing,
    parse_pipeline,
    read_reproducer_pipeline,
)
from tests.support.plugin_dists import TINY_IR


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@dataclass
class Opts(Pass):
    name: ClassVar[str] = "opts"
    summary: ClassVar[str] = "A pass with one option of each supported type"
    threshold: float = 1.0
    count: int = 3
    mode: str = "slow"
    flag: bool = False
    sizes: list[int] = field(default_factory=list)
    scales: list[float] = field(default_factory=lambda: [1.0])
    names: list[str] = field(default_factory=list)
    limit: Optional[int] = None
    label: str | None = None
    kind: Literal["a", "b"] = "a"
    speed: Mode = Mode.SLOW
    pair: tuple[int, int] = (0, 0)

    def run(self, graph, ctx):
        return PassResult(modified=False)


@dataclass
class Required(Pass):
    name: ClassVar[str] = "required"
    level: int  # no default: must be given

    def run(self, graph, ctx):
        return PassResult(modified=False)


@dataclass
class Validated(Pass):
    name: ClassVar[str] = "validated"
    ratio: float = 0.5

    def __post_init__(self):
        if not 0 <= self.ratio <= 1:
            raise ValueError(f"ratio must be in [0, 1], got {self.ratio}")

    def run(self, graph, ctx):
        return PassResult(modified=False)


@dataclass
class Nop(Pass):
    name: ClassVar[str] = "nop"
    summary: ClassVar[str] = "Does nothing"

    def run(self, graph, ctx):
        return PassResult(modified=False)


@dataclass
class DropIdentity(Pass):
    name: ClassVar[str] = "drop-identity"

    def run(self, graph, ctx):
        k = 0
        for n in list(graph.nodes):
            if n.op == "identity" and not n.outputs[0].is_graph_output:
                n.outputs[0].replace_all_uses_with(n.inputs[0])
                graph.erase_node(n)
                k += 1
        return PassResult(modified=k > 0, stats={"removed": k})


@dataclass
class DropDead(Pass):
    name: ClassVar[str] = "drop-dead"

    def run(self, graph, ctx):
        k = 0
        for n in reversed(list(graph.nodes)):
            if not any(v.has_uses for v in n.outputs):
                graph.erase_node(n)
                k += 1
        return PassResult(modified=k > 0, stats={"erased": k})


@dataclass
class Crash(Pass):
    name: ClassVar[str] = "crash"
    message: str = "boom"

    def run(self, graph, ctx):
        # half-modify the graph first: the reproducer must hold the IR from before the pass
        for n in graph.nodes:
            n.source = ("mangled",)
        raise RuntimeError(self.message)


@dataclass
class BreakTypes(Pass):
    name: ClassVar[str] = "break-types"

    def run(self, graph, ctx):
        v = graph.find("dropout")[0].outputs[0]
        v.type = TensorType("f32", (7, 7))  # disagrees with inference: the verifier must see it
        return PassResult(modified=True)


@dataclass
class ReturnsNone(Pass):
    name: ClassVar[str] = "returns-none"

    def run(self, graph, ctx):
        return None


ALL = [Opts, Required, Validated, Nop, DropIdentity, DropDead, Crash, BreakTypes, ReturnsNone]


@pytest.fixture
def reg() -> PassRegistry:
    return PassRegistry({}, plugins=False, extra=ALL)


@pytest.fixture
def graph():
    return parse_graph(TINY_IR)


# -- pipeline parsing ------------------------------------------------------------------------


def test_parse_options_of_every_type(reg):
    p = parse_pipeline(
        "nop, opts{threshold=0.25,count=0x10,mode=fast,flag=true,sizes=[1, 2,3],"
        'scales=[0.5,2],names=[a,"b c"],limit=7,label=none,kind=b,speed=FAST,pair=[4,5]}',
        reg,
    )
    assert [type(x) for x in p] == [Nop, Opts]
    o = p[1]
    assert o == Opts(
        threshold=0.25, count=16, mode="fast", flag=True, sizes=[1, 2, 3], scales=[0.5, 2.0],
        names=["a", "b c"], limit=7, label=None, kind="b", speed=Mode.FAST, pair=(4, 5),
    )
    assert isinstance(o.scales[1], float) and isinstance(o.count, int)


def test_kebab_case_keys_bools_and_empty_braces(reg):
    p = parse_pipeline("opts{}, validated{ratio=1}, opts{flag=off}", reg)
    assert p[0] == Opts() and p[1] == Validated(ratio=1.0) and p[2] == Opts(flag=False)
    assert parse_pipeline("opts{flag=1}", reg)[0].flag is True
    assert parse_pipeline("", reg) == Pipeline() and parse_pipeline("  ", reg) == Pipeline()
    assert parse_pipeline("opts{count=010}", reg)[0].count == 10  # decimal with leading zero


@pytest.mark.parametrize(
    "text",
    [
        "nop",
        "nop,nop,drop-identity",
        "opts{threshold=0.1,sizes=[1,2],names=[x,y]}",
        'opts{mode="a,b}",label="none",names=["",x]}',
        "opts{limit=0,label=lbl,kind=b,speed=FAST,pair=[1,2],scales=[]}",
        "opts{threshold=1e-05,count=-3},required{level=2},validated{ratio=0.0}",
    ],
)
def test_round_trip(reg, text):
    p = parse_pipeline(text, reg)
    again = parse_pipeline(str(p), reg)
    assert again == p
    assert str(again) == str(p)


def test_str_omits_defaults(reg):
    p = parse_pipeline("opts{threshold=1.0,count=3,mode=fast}", reg)
    assert str(p) == "opts{mode=fast}"


def _err(text, reg) -> str:
    with pytest.raises(PipelineError) as ei:
        parse_pipeline(text, reg)
    return str(ei.value)


def _caret_col(msg: str) -> int:
    """Column (1-based) of the caret line under the echoed pipeline string."""
    caret = [ln for ln in msg.splitlines() if ln.strip() == "^"][-1]
    return caret.index("^") - 1  # two spaces of indent, so index-1 is 1-based


def test_unknown_pass_suggests_close_names(reg):
    msg = _err("nop,drop-identiti", reg)
    assert "unknown pass 'drop-identiti'" in msg
    assert "did you mean 'drop-identity'" in msg
    assert "position 5" in msg and _caret_col(msg) == 5


def test_unknown_option_lists_valid_ones_with_types(reg):
    msg = _err("nop,opts{threshold=1,thresh=2}", reg)
    assert "pass 'opts'" in msg and "option 'thresh'" in msg
    assert "position 22" in msg and _caret_col(msg) == 22
    assert "threshold: float = 1.0" in msg and "sizes: list[int] = []" in msg
    assert "limit: int | None = none" in msg and "kind: {a|b} = a" in msg
    assert "pass 'nop' takes no options" in _err("nop{x=1}", reg)


@pytest.mark.parametrize(
    "text, option, fragment, col",
    [
        ("opts{threshold=abc}", "threshold", '"abc" is not a float', 16),
        ("opts{count=1.5}", "count", '"1.5" is not an int', 12),
        ("opts{flag=maybe}", "flag", "is not a bool", 11),
        ("opts{sizes=[1,x]}", "sizes", '"x" is not an int', 15),
        ("opts{kind=c}", "kind", "not one of a, b", 11),
        ("opts{speed=medium}", "speed", "not one of FAST, SLOW", 12),
        ("opts{limit=[1]}", "limit", "a list was given", 12),
        ("opts{pair=[1,2,3]}", "pair", "expected 2 values", 11),
        ("opts{threshold=}", "threshold", "missing value", 16),
        ("opts{count=1,count=2}", "count", "given twice", 14),
    ],
)
def test_bad_values(reg, text, option, fragment, col):
    msg = _err(text, reg)
    assert "pass 'opts'" in msg and f"option '{option}'" in msg
    assert fragment in msg
    assert f"position {col}" in msg and _caret_col(msg) == col


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("opts{threshold=1", "unbalanced '{' (opened at position 5)"),
        ("opts{threshold=1,", "unbalanced '{' (opened at position 5)"),
        ("opts{sizes=[1,2}", "unbalanced '[' (opened at position 12)"),
        ("opts{sizes=[1,2", "unbalanced '[' (opened at position 12)"),
        ("opts}", "unbalanced '}'"),
        ("nop]", "unbalanced ']'"),
        ('opts{mode="abc}', "unterminated string"),
        ("nop,", "expected a pass name after ','"),
        (",nop", "expected a pass name"),
        ("nop nop", "expected ',' between passes"),
        ("opts{sizes=[[1]]}", "nested lists"),
        ("opts{=1}", "expected an option name"),
    ],
)
def test_syntax_errors(reg, text, fragment):
    msg = _err(text, reg)
    assert fragment in msg
    assert msg.startswith("bad pipeline (position ")


def test_required_and_validated_options(reg):
    assert parse_pipeline("required{level=2}", reg)[0].level == 2
    msg = _err("required", reg)
    assert "required option(s) level not given" in msg and "pass 'required'" in msg
    msg = _err("validated{ratio=2}", reg)
    assert "options rejected" in msg and "ratio must be in [0, 1]" in msg


# -- registry ---------------------------------------------------------------------------------


def test_registry_duplicate_names_both_sources():
    with pytest.raises(PipelineError) as ei:
        PassRegistry({"nop": "somewhere.passes:Nop"}, plugins=False, extra=[Nop])
    msg = str(ei.value)
    assert "'nop' is defined twice" in msg
    assert "builtin (somewhere.passes:Nop)" in msg and f"{__name__}:Nop" in msg


def test_builtins_are_imported_lazily():
    reg = PassRegistry({"lazy": "no_such_module_anywhere:Lazy"}, plugins=False)
    assert "lazy" in reg  # listing does not import
    with pytest.raises(PipelineError, match="cannot be loaded: ModuleNotFoundError"):
        reg.get("lazy")


def test_builtin_class_name_must_match():
    reg = PassRegistry({"not-nop": f"{__name__}:Nop"}, plugins=False)
    with pytest.raises(PipelineError, match="must be the same"):
        reg.get("not-nop")


def test_a_pass_subclass_without_its_own_dataclass_decorator_is_refused():
    # Without @dataclass its option would be a plain class attribute the pipeline grammar
    # never sees; the registry refuses it instead of ignoring the option silently.
    class Undecorated(Nop):
        name: ClassVar[str] = "undecorated"
        level: int = 3

    with pytest.raises(PipelineError, match="must be a @dataclass"):
        PassRegistry({}, plugins=False, extra=[Undecorated])


# -- the manager ------------------------------------------------------------------------------


def test_runs_passes_in_order_and_reports(reg, graph):
    pm = PassManager("drop-identity,drop-dead,nop", registry=reg)
    report = pm.run(graph)
    assert [n.op for n in graph.nodes] == ["dropout"]
    assert [(r.name, r.nodes_before, r.nodes_after, r.modified) for r in report.records] == [
        ("drop-identity", 3, 2, True),
        ("drop-dead", 2, 1, True),
        ("nop", 1, 1, False),
    ]
    assert report.records[0].stats == {"removed": 1}
    assert report.modified


def test_verification_failure_names_the_pass(reg, graph):
    pm = PassManager("nop,break-types,nop", registry=reg)
    with pytest.raises(PassFailure) as ei:
        pm.run(graph)
    msg = str(ei.value)
    assert "pass 'break-types' (pass 2 of 3) failed" in msg
    assert "left an invalid graph" in msg and "declared f32[7,7]" in msg
    assert ei.value.pass_name == "break-types"
    # without verification the broken graph goes through unnoticed
    PassManager("break-types", registry=reg, verify=False).run(parse_graph(TINY_IR))


def test_invalid_input_graph_is_not_blamed_on_a_pass(reg):
    g = parse_graph(TINY_IR.replace("dropout(%i)", "frobnicate(%i)"))
    with pytest.raises(InvalidGraphError, match="(?s)before any pass ran.*unknown op 'frobnicate'"):
        PassManager("nop", registry=reg).run(g)


def test_pass_returning_none_is_a_failure(reg, graph):
    with pytest.raises(PassFailure, match="returns-none.*not a PassResult"):
        PassManager("returns-none", registry=reg).run(graph)


def test_accepts_instances(graph):
    report = PassManager([DropIdentity(), Nop()]).run(graph, PassContext(target="x"))
    assert [r.name for r in report.records] == ["drop-identity", "nop"]


# -- crash reproducers ---------------------------------------------------------------------


def test_reproducer_holds_ir_before_the_failing_pass(reg, tmp_path):
    g = parse_graph(TINY_IR)
    w = np.arange(64, dtype=np.float32).reshape(8, 8)  # > inline limit: goes to resources
    g.add_const(w, "weights", before=g.nodes[0])
    repro = tmp_path / "repro.ir"
    pm = PassManager("drop-identity,crash{message=kaput},nop", registry=reg, reproducer=repro)
    expected = None

    class Snap(PassInstrument):
        def before_pass(self, p, index, graph):
            nonlocal expected
            if p.name == "crash":
                expected = print_graph(graph, with_data=True)

    pm.add_instrument(Snap())
    with pytest.raises(PassFailure) as ei:
        pm.run(g)
    err = ei.value
    assert err.pass_name == "crash"
    assert isinstance(err.original, RuntimeError) and str(err.original) == "kaput"
    assert err.__cause__ is err.original
    assert err.reproducer == repro
    msg = str(err)
    assert "pass 'crash{message=kaput}' (pass 2 of 3) failed: RuntimeError: kaput" in msg
    assert str(repro) in msg and f"infercc opt {repro}" in msg

    text = repro.read_text()
    first = text.splitlines()[0]
    assert first == "// infercc-reproducer: pipeline=crash{message=kaput},nop"
    assert read_reproducer_pipeline(text) == "crash{message=kaput},nop"
    # the IR before the pass (not the half-mangled one), with data, parses back identically
    assert text.split("\n", 1)[1] == expected
    back = parse_graph(text)
    assert "mangled" not in text
    np.testing.assert_array_equal(back.value("weights").const_value, w)
    assert [n.op for n in back.nodes] == ["const", "const", "dropout"]


def test_no_reproducer_without_a_path(reg, graph):
    with pytest.raises(PassFailure) as ei:
        PassManager("crash", registry=reg).run(graph)
    assert ei.value.reproducer is None and "reproducer" not in str(ei.value)


# -- instruments ------------------------------------------------------------------------------


def test_dump_dir_numbered_files(reg, graph, tmp_path):
    d = tmp_path / "dumps"
    d.mkdir()
    (d / "007_stale.ir").write_text("old")
    (d / "notes.txt").write_text("kept")
    dump = DumpIR(d, with_data=True)
    PassManager("drop-identity,nop,drop-dead", [dump], registry=reg).run(graph)
    names = sorted(p.name for p in d.iterdir())
    assert names == ["000_input.ir", "001_drop-identity.ir", "002_nop.ir", "003_drop-dead.ir",
                     "notes.txt"]
    t0 = (d / "000_input.ir").read_text()
    assert t0.startswith("// infercc dump 000: input IR\n")
    assert print_graph(parse_graph(t0)) == print_graph(parse_graph(TINY_IR))
    t1 = (d / "001_drop-identity.ir").read_text()
    assert re.match(r"// infercc dump 001: IR after drop-identity \(pass 1/3, [0-9.]+ ms, "
                    r"modified\)\n", t1)
    assert [n.op for n in parse_graph(t1).nodes] == ["const", "dropout"]
    assert "unchanged)" in (d / "002_nop.ir").read_text().splitlines()[0]
    assert [n.op for n in parse_graph((d / "003_drop-dead.ir").read_text()).nodes] == ["dropout"]


def test_print_after_change_only_prints_changes(reg, graph):
    out = io.StringIO()
    PassManager("nop,drop-identity,nop,drop-dead", [PrintIR("all", only_on_change=True,
                                                            stream=out)], registry=reg).run(graph)
    text = out.getvalue()
    headers = [ln for ln in text.splitlines() if ln.startswith("// -----")]
    assert len(headers) == 2
    assert re.fullmatch(r"// ----- IR after drop-identity \(pass 2/4, [0-9.e-]+ ms, 3 -> 2 nodes\) -----",
                        headers[0]), headers[0]
    assert re.fullmatch(r"// ----- IR after drop-dead \(pass 4/4, [0-9.e-]+ ms, 2 -> 1 nodes\) -----",
                        headers[1]), headers[1]


def test_print_after_change_ignores_a_pass_claiming_a_change(reg, graph):
    @dataclass
    class Liar(Pass):
        name: ClassVar[str] = "liar"

        def run(self, graph, ctx):
            return PassResult(modified=True)

    out = io.StringIO()
    PassManager([Liar()], [PrintIR("all", only_on_change=True, stream=out)]).run(graph)
    assert out.getvalue() == ""


def test_print_after_named_pass_and_all(reg, graph):
    out = io.StringIO()
    PassManager("nop,drop-identity,nop", [PrintIR(["drop-identity"], stream=out)],
                registry=reg).run(graph)
    headers = [ln for ln in out.getvalue().splitlines() if ln.startswith("// -----")]
    assert len(headers) == 1
    assert re.fullmatch(r"// ----- IR after drop-identity \(pass 2/3, [0-9.e-]+ ms, 3 -> 2 nodes\) -----",
                        headers[0]), headers[0]
    out = io.StringIO()
    PassManager("nop,nop", [PrintIR("all", stream=out)], registry=reg).run(parse_graph(TINY_IR))
    assert out.getvalue().count("graph @tiny") == 2


def test_print_ir_to_logging(reg, graph, caplog):
    logger = logging.getLogger("infercc.test.printir")
    with caplog.at_level(logging.INFO, logger="infercc.test.printir"):
        PassManager("drop-identity", [PrintIR("all", logger=logger)], registry=reg).run(graph)
    assert "IR after drop-identity" in caplog.text and "graph @tiny" in caplog.text


def test_timing_table(reg, graph):
    out = io.StringIO()
    timing = Timing(stream=out)
    PassManager("drop-identity,opts{count=5},drop-dead", [timing], registry=reg).run(graph)
    lines = out.getvalue().splitlines()
    assert lines[0] == "===== pass timing and statistics ====="
    assert lines[1].split() == ["#", "pass", "time", "ms", "verify", "ms", "nodes", "stats"]
    rows = lines[3:]
    assert rows[0].split()[:2] == ["1", "drop-identity"]
    assert "3 -> 2" in rows[0] and rows[0].rstrip().endswith("removed=1")
    assert rows[1].split()[:2] == ["2", "opts{count=5}"] and "2 -> 2" in rows[1]
    assert "2 -> 1" in rows[2] and rows[2].rstrip().endswith("erased=1")
    assert rows[3].split()[0] == "total" and "3 -> 1" in rows[3]
    for r in rows:  # the time columns are numbers
        cells = r.split()
        idx = 1 if cells[0] == "total" else 2
        float(cells[idx]), float(cells[idx + 1])
    assert [r.name for r in timing.records] == ["drop-identity", "opts", "drop-dead"]
