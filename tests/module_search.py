"""Which modules Python searched the import path for while a block ran.

Python remembers the modules it imported (`sys.modules`), not the imports that failed: a library
that tries an optional module on every call searches every entry of the import path every time.
`searched_modules` puts a finder first on `sys.meta_path` that notes each name asked for and
finds nothing (the next finders go on as before); an import already done asks no finder.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType


class _NotingFinder(MetaPathFinder):
    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        self.names.append(fullname)
        return None


@contextmanager
def searched_modules() -> Iterator[list[str]]:
    """The names of the modules searched for while the block runs, in order."""
    finder = _NotingFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield finder.names
    finally:
        sys.meta_path.remove(finder)
