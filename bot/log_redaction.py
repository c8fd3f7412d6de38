"""Secrets and phone numbers never reach a log line, whichever library writes it.

One filter on every handler of the root logger rewrites each record before it is written: the
bot token (also as it appears in Bot API URLs, `/bot<token>/`, and URL-encoded), the webhook
secret, the payment provider token and the carrier gateway's key become `[redacted]`; anything
shaped like a bot token becomes `[redacted bot token]`; mainland China mobile numbers are masked
as customers see them in the chat (`186****5678`). What people typed never reaches a line either:
the frameworks at DEBUG dump whole updates and API calls, and a message's `text` or `caption`
there (as JSON, a dict or an object's repr) becomes `[text]`, so a payment PIN typed in the chat
or a complaint's words are not written. Tracebacks are rewritten the same way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote

from bot.settings import Settings
from domain.phone import mask

REDACTED = "[redacted]"
# A secret shorter than this is not looked for (it would match ordinary words and numbers).
SHORTEST_SECRET = 6
TOKEN_SHAPE = re.compile(r"(?<![\w:])\d{5,}:[A-Za-z0-9_-]{20,}")
# A message's words in a dumped update or API call: `"text": "…"`, `'text': '…'`, `text='…'`.
TYPED_TEXT = re.compile(
    r"""(?P<key>\b(?:text|caption)['"]?\s*[:=]\s*)"""
    r"""(?P<quote>['"])(?:\\.|(?!(?P=quote)).)*(?P=quote)""",
    re.DOTALL,
)
MOBILE = re.compile(r"(?<![\d+])(?:\+?86[-\s]?)?(1[3-9]\d)[-\s]?(\d{4})[-\s]?(\d{4})(?!\d)")


def settings_secrets(settings: Settings) -> list[str]:
    """Every secret the settings hold."""
    values = (
        settings.bot_token,
        settings.webhook_secret,
        settings.payment_provider_token,
        settings.gateway_api_key,
        settings.gateway_callback_secret,
    )
    return [value.get_secret_value() for value in values if value is not None]


class Redactor(logging.Filter):
    """A handler filter that redacts secrets and masks phone numbers (see the module)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        forms = {
            form
            for secret in secrets
            if len(secret) >= SHORTEST_SECRET
            for form in (secret, quote(secret, safe=""))
        }
        ordered = sorted(forms, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def redact(self, text: str) -> str:
        if self._secrets is not None:
            text = self._secrets.sub(REDACTED, text)
        text = TOKEN_SHAPE.sub("[redacted bot token]", text)
        text = TYPED_TEXT.sub(r"\g<key>\g<quote>[text]\g<quote>", text)
        return MOBILE.sub(_masked, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its message: leave it be
            message = str(record.msg)
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def _masked(match: re.Match[str]) -> str:
    return mask("".join(match.groups()))


def install_redaction(secrets: Iterable[str], logger: logging.Logger | None = None) -> Redactor:
    """Put one `Redactor` on every handler of `logger` (the root logger by default)."""
    redactor = Redactor(secrets)
    for handler in (logger or logging.getLogger()).handlers:
        for existing in [f for f in handler.filters if isinstance(f, Redactor)]:
            handler.removeFilter(existing)
        handler.addFilter(redactor)
    return redactor


__all__ = ["Redactor", "install_redaction", "settings_secrets"]
