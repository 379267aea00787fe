"""The infercc IR: typed SSA values, nodes with provenance, graphs, text format, verifier."""

from .graph import CONST, Graph, IRError, Node, Value, is_sparse
from .parser import IRParseError, load_ir, parse_graph
from .printer import print_graph, print_node
from .types import DType, QuantParams, TensorType
from .verifier import VerificationError, verify

__all__ = [
    "CONST",
    "DType",
    "Graph",
    "IRError",
    "IRParseError",
    "Node",
    "QuantParams",
    "TensorType",
    "Value",
    "VerificationError",
    "is_sparse",
    "load_ir",
    "parse_graph",
    "print_graph",
    "print_node",
    "verify",
]
