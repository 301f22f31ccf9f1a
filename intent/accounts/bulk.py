"""Bulk work that makes many objects and no reference cycles (a CRM import: ~10 per row) runs
with Python's cyclic garbage collector paused: it would find nothing to free there, and its
passes over the growing heap cost about a third of a 100,000-row import's CPU (bench/accounts.py).
Reference counting still frees everything as usual; collection resumes after."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
