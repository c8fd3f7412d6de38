"""The python-telegram-bot front end: an adapter that only translates.

Update in → neutral `Incoming` event → the conversation router → `Outcome` → Bot API calls.
"""

from bot.ptb.frontend import (
    ChatOrderedProcessor,
    PtbFrontend,
    application_builder,
    build_ptb_application,
    run_ptb,
    serve_conversation,
)
from bot.ptb.replies import Sender

__all__ = [
    "ChatOrderedProcessor",
    "PtbFrontend",
    "Sender",
    "application_builder",
    "build_ptb_application",
    "run_ptb",
    "serve_conversation",
]
