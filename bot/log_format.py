"""Log lines as text (the default) or, with `LOG_FORMAT=json`, one JSON object per line.

A JSON line holds the time (UTC, ISO 8601), the level, the logger and the message; a line
written during a chat turn also holds the update id, the chat id and the order number when
the turn works on an order (`domain.chat_turn_log`), never the phone. The redaction filter
(`bot.log_redaction`) has rewritten the message and any traceback before a formatter sees it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from domain.chat_turn_log import current_turn

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class JsonLines(logging.Formatter):
    """One JSON object per record (see the module)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        facts = current_turn()
        if facts is not None:
            line["update_id"] = facts.update_id
            line["chat_id"] = facts.chat_id
            if facts.order_number is not None:
                line["order"] = facts.order_number
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(kind: LogFormat, text_format: str = TEXT_FORMAT) -> logging.Formatter:
    """The formatter for LOG_FORMAT."""
    return JsonLines() if kind is LogFormat.JSON else logging.Formatter(text_format)
