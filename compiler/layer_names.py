"""How users name layers on the command line (``--keep-float NAME``): one rule for every
option that picks layers by name.

A name picks a node when it equals one of the node's source layers (``node.source``, the
names the source model gave it and that IR dumps print as ``// ...`` comments) or its first
output's value name. A name with a shell wildcard (``*``, ``?``, ``[...]``) is a pattern
matched the same way with :func:`fnmatch.fnmatchcase`: ``'model_1/cq_t2010v2_1/*'`` picks every
layer of a Keras sub-model, ``'*/depthwise*'`` every depthwise convolution.
"""

from __future__ import annotations

from collections.abc import Collection
from fnmatch import fnmatchcase

from compiler.ir.graph import Node

_WILDCARDS = frozenset("*?[")


def is_pattern(name: str) -> bool:
    """Whether ``name`` has a wildcard and is matched as a pattern."""
    return any(c in _WILDCARDS for c in name)


def names_of(node: Node) -> set[str]:
    """The names that pick ``node``: its source layers and its first output's value name."""
    names = set(node.source)
    if node.outputs:
        names.add(node.outputs[0].name)
    return names


def matching(node: Node, names: Collection[str]) -> set[str]:
    """The entries of ``names`` (exact names or patterns) that pick ``node``."""
    own = names_of(node)
    return {n for n in names
            if (n in own if not is_pattern(n) else any(fnmatchcase(o, n) for o in own))}
