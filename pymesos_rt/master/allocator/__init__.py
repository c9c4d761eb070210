"""Pluggable allocators: pure, synchronous objects with no I/O and no clock of their own.

``make_allocator("drf" | "random" | "module:Class")`` builds one.
"""

from __future__ import annotations

import importlib

from pymesos_rt.master.allocator.base import Allocation, Allocator
from pymesos_rt.master.allocator.drf import DRFAllocator
from pymesos_rt.master.allocator.random import RandomAllocator

__all__ = ["Allocation", "Allocator", "DRFAllocator", "RandomAllocator", "make_allocator"]


def make_allocator(name: str) -> Allocator:
    if name == "drf":
        return DRFAllocator()
    if name == "random":
        return RandomAllocator()
    module_name, sep, class_name = name.partition(":")
    if not sep:
        raise ValueError(f"unknown allocator {name!r}: use drf, random or module:Class")
    cls = getattr(importlib.import_module(module_name), class_name)
    allocator = cls()
    if not isinstance(allocator, Allocator):
        raise TypeError(f"{name} is not a subclass of pymesos_rt.master.allocator.Allocator")
    return allocator
