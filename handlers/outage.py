"""A database outage is written to the log twice: when it starts and when it ends, with how many
turns failed meanwhile. Not a traceback for every update that arrived while it lasted."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from domain.persistence.outage import database_unreachable

log = logging.getLogger(__name__)


class OutageLog:
    """Tells failures that mean "the database is unreachable" apart from other failures (each
    logged with its traceback, as before), and logs an outage once at each end."""

    def __init__(self, counted: str = "turns", clock: Callable[[], float] = time.monotonic) -> None:
        self._counted = counted  # what failed meanwhile: "turns" (updates), "sweeps"
        self._clock = clock
        self._since: float | None = None
        self.failed_during = 0

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException, what: str, *, only_the_database: bool = False) -> None:
        """A turn failed with `error` while `what` (a short description) was under way;
        `only_the_database` when nothing but the database was being used."""
        if not database_unreachable(error, only_the_database=only_the_database):
            log.error("%s failed", what, exc_info=error)
            return
        self.failed_during += 1
        if self._since is None:
            self._since = self._clock()
            log.error(
                "the database is unreachable (%s: %s); %s fail until it is back, counted "
                "rather than logged one by one",
                type(error).__name__,
                _first_line(error),
                self._counted,
            )

    def succeeded(self) -> None:
        """The database answered again."""
        if self._since is None:
            return
        log.warning(
            "the database is back after %.1f s; %s %s failed while it was unreachable",
            self._clock() - self._since,
            self.failed_during,
            self._counted,
        )
        self._since = None
        self.failed_during = 0


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else ""


__all__ = ["OutageLog"]
