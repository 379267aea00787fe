"""Pass infrastructure: the Pass base, registry, pipeline strings, instruments, manager."""

from .base import Pass, PassContext, PassResult

__all__ = ["Pass", "PassContext", "PassResult"]
