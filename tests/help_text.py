"""The /help a customer gets in a language, as the conversation builds it from its commands."""

from __future__ import annotations

from functools import cache
from typing import cast

from domain.languages import Language
from domain.services.registry import Services
from handlers.commands import help_text
from handlers.conversation import build_conversation
from handlers.i18n import texts


@cache
def customer_help(language: Language) -> str:
    router = build_conversation(cast(Services, None))  # registering needs no services
    return help_text(router, texts(language), staff=False)
