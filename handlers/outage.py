"""A database outage in the log: a line when it starts, one WARNING line for each update refused
or sweep failed meanwhile (its update id and chat id, never the phone, and the cause), and a
line when it ends with how many failed. No traceback at any level above DEBUG: every failure of
an outage is the same failure, and a traceback a turn would flood the log exactly while the
operators read it. (At DEBUG each failure's traceback is written too.)"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from domain.chat_turn_log import current_turn
from domain.errors import ChatTurnBusy, DatabaseBusy
from domain.persistence.outage import database_unreachable

log = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "database unavailable"
NO_CONNECTION_FREE = "no database connection free"
CHAT_BUSY = "chat's turn not had in time"


def refusal_cause(error: BaseException) -> str | None:
    """Why an update was refused before it was worked (it is delivered again), in a few words;
    None when `error` is a fault rather than a refusal."""
    if isinstance(error, DatabaseBusy):
        return NO_CONNECTION_FREE
    if isinstance(error, ChatTurnBusy):
        # A turn's bookkeeping talks to nothing but the database.
        if database_unreachable(error, only_the_database=True):
            return DATABASE_UNAVAILABLE
        return CHAT_BUSY
    if database_unreachable(error):
        return DATABASE_UNAVAILABLE
    return None


def detail(error: BaseException) -> str:
    """The error's type and the first line of what it says, whatever it wraps (no SQL, no
    parameters: they may carry a customer's data)."""
    root = error
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    return f"{type(root).__name__}: {_first_line(root)}"


class OutageLog:
    """Tells failures that mean "the database is unreachable" apart from other failures (each
    logged with its traceback, as before), and logs an outage as the module says."""

    def __init__(self, counted: str = "turns", clock: Callable[[], float] = time.monotonic) -> None:
        self._counted = counted  # what failed meanwhile: "turns" (updates), "sweeps"
        self._clock = clock
        self._since: float | None = None
        self.failed_during = 0

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(
        self,
        error: BaseException,
        what: str,
        *,
        only_the_database: bool = False,
        chat_id: int | None = None,
    ) -> None:
        """A turn of `chat_id` (or a sweep) failed with `error` while `what` (a short
        description) was under way; `only_the_database` when nothing but the database was
        being used."""
        if not database_unreachable(error, only_the_database=only_the_database):
            log.error("%s failed", what, exc_info=error)
            return
        self._lost(error)
        facts = current_turn()
        if facts is not None or chat_id is not None:
            log.warning(
                "update %s of chat %s failed: %s (%s, %s)",
                facts.update_id if facts is not None else None,
                facts.chat_id if facts is not None else chat_id,
                DATABASE_UNAVAILABLE,
                what,
                detail(error),
            )
        else:
            log.warning("%s failed: %s (%s)", what, DATABASE_UNAVAILABLE, detail(error))
        log.debug("%s failed", what, exc_info=error)

    def noted(self, error: BaseException) -> None:
        """A failure its caller logs in a line of its own (an update found no connection
        free): counted in the outage it belongs to, if any, without another line."""
        if database_unreachable(error):
            self._lost(error)

    def absorbed(self, error: BaseException, what: str) -> bool:
        """`what` (a sweep) failed with `error`: True when the database was unreachable (one
        line logged), False when it is a fault for the caller to raise. While an outage is
        known (the lease was just refused), a plain network error is the database's too."""
        if not database_unreachable(error, only_the_database=self.ongoing):
            return False
        self.failed(error, what, only_the_database=self.ongoing)
        return True

    def refused(
        self, error: BaseException, update_id: int | None, chat_id: int | None
    ) -> str | None:
        """The update was refused before it was worked (its sender delivers it again): one
        WARNING line; the cause, or None (nothing logged) when `error` is a fault, not a
        refusal."""
        cause = refusal_cause(error)
        if cause is None:
            return None
        if cause == DATABASE_UNAVAILABLE:
            self._lost(error)
        log.warning(
            "update %s of chat %s refused: %s (%s); it is delivered again",
            update_id,
            chat_id,
            cause,
            detail(error),
        )
        log.debug("update %s refused", update_id, exc_info=error)
        return cause

    def _lost(self, error: BaseException) -> None:
        self.failed_during += 1
        if self._since is None:
            self._since = self._clock()
            log.error(
                "the database is unreachable (%s); %s fail until it is back, one line each",
                detail(error),
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


__all__ = ["DATABASE_UNAVAILABLE", "OutageLog", "detail", "refusal_cause"]
