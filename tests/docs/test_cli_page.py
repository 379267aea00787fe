"""docs/cli.md: its commands parse, and its JSON tables name the keys the commands print."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from compiler.cli import main
from compiler.cli.app import build_parser
from tests.conftest import REPO

PAGE = REPO / "docs" / "cli.md"
TINY = REPO / "examples" / "models" / "tiny_cnn.onnx"


def _commands() -> list[str]:
    blocks = re.findall(r"```\w*\n(.*?)```", PAGE.read_text(), flags=re.S)
    return [line for b in blocks for line in b.splitlines() if line.startswith("infercc ")]


@pytest.mark.parametrize("line", _commands())
def test_documented_command_parses(line):
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert callable(args.func)


def test_inspect_json_keys_are_the_documented_ones(capsys):
    text = PAGE.read_text()
    table = text[text.index("`inspect --json` prints"):text.index("## compile")]
    documented = {k for row in re.findall(r"^\| (.*?) \|", table, flags=re.M)
                  for k in re.findall(r"`(\w+)`", row)}
    assert main(["inspect", str(TINY), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == documented


def _paragraph(start: str) -> str:
    text = PAGE.read_text()
    i = text.index(start)
    end = text.find("\n\n", i)
    return text[i:] if end < 0 else text[i:end]


def test_run_json_keys_are_documented(capsys, tmp_path):
    para = _paragraph("`run --json` prints")
    assert main(["run", str(TINY), "--iterations", "2", "--json", "--save-outputs",
                 str(tmp_path / "o.npz")]) == 0
    rep = json.loads(capsys.readouterr().out)
    keys = set(rep) | set(rep["latency_ms"]) | set(rep["inputs"][0]) | set(rep["outputs"][0])
    assert [k for k in sorted(keys) if f"`{k}`" not in para and f"{k}," not in para] == []


def test_compare_json_keys_are_documented(capsys):
    para = _paragraph("`compare --json` prints")
    assert main(["compare", str(TINY), str(TINY), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    keys = set(rep) | set(rep["a"]) | set(rep["outputs"][0]) | set(rep["layers"][0])
    assert [k for k in sorted(keys) if k not in para] == []


def test_compile_json_keys_are_documented(capsys, tmp_path):
    para = _paragraph("`compile --json` prints")
    assert main(["compile", str(TINY), "--input-shape", "input:1x3x32x32", "--json",
                 "--prune", "min_size=0", "-o", str(tmp_path / "t.onnx")]) == 0
    rep = json.loads(capsys.readouterr().out)
    keys = (set(rep) | set(rep["inputs"][0]) | set(rep["pruning"])
            | set(rep["pruning"]["layers"][0]))
    assert [k for k in sorted(keys) if not re.search(rf"[`{{\s]{k}[`,}}]", para)] == []
