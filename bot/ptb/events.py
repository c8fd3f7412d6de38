"""Telegram updates, as python-telegram-bot parses them, turned into neutral `Incoming` events."""

from __future__ import annotations

from telegram import CallbackQuery, Chat, Message, PreCheckoutQuery, Update, User

from domain.customers import TelegramProfile
from handlers.contract import (
    Incoming,
    button_event,
    contact_event,
    message_event,
    payment_event,
    photo_event,
    pre_checkout_event,
)


def profile_of(user: User) -> TelegramProfile:
    return TelegramProfile(
        telegram_id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language_code=user.language_code,
    )


def event_from_update(update: Update, bot_username: str | None = None) -> Incoming | None:
    """The neutral event of an update; None for updates the conversation does not take.

    Ignored: updates without a person behind them (channel posts), edited messages, messages
    with neither text, a picture, a shared contact nor a payment (stickers, service messages), and
    commands addressed to another bot (`/start@other_bot` in a group).
    """
    user = update.effective_user
    if user is None:
        return None
    if update.callback_query is not None:
        return _button(profile_of(user), update.callback_query)
    if update.pre_checkout_query is not None:
        return _pre_checkout(profile_of(user), update.pre_checkout_query)
    if update.message is not None:
        if for_another_bot(update.message.text or "", bot_username):
            return None
        return _message(profile_of(user), update.message)
    return None


def for_another_bot(text: str, bot_username: str | None) -> bool:
    if not text.startswith("/") or bot_username is None:
        return False
    _command, at, mention = text.split(maxsplit=1)[0].partition("@")
    return bool(at) and mention.lower() != bot_username.lower()


def _button(profile: TelegramProfile, query: CallbackQuery) -> Incoming:
    message = query.message
    # A button under an inline-mode message has no chat: answer in the private chat.
    chat_id = message.chat.id if message is not None else profile.telegram_id
    return button_event(
        profile,
        chat_id,
        query.data or "",
        callback_id=query.id,
        message_id=message.message_id if message is not None else None,
        chat_type=_chat_type(message.chat) if message is not None else str(Chat.PRIVATE),
    )


def _pre_checkout(profile: TelegramProfile, query: PreCheckoutQuery) -> Incoming:
    return pre_checkout_event(
        profile, query.id, query.invoice_payload, query.currency, query.total_amount
    )


def _message(profile: TelegramProfile, message: Message) -> Incoming | None:
    chat_type = _chat_type(message.chat)
    paid = message.successful_payment
    if paid is not None:
        return payment_event(
            profile,
            message.chat.id,
            paid.invoice_payload,
            paid.currency,
            paid.total_amount,
            paid.telegram_payment_charge_id,
            paid.provider_payment_charge_id or None,
        )
    if message.contact is not None:
        return contact_event(
            profile,
            message.chat.id,
            message.contact.phone_number,
            contact_user_id=message.contact.user_id,
            chat_type=chat_type,
            message_id=message.message_id,
        )
    if message.photo:
        largest = max(message.photo, key=lambda size: size.width * size.height)
        return photo_event(
            profile,
            message.chat.id,
            largest.file_id,
            message.caption or "",
            chat_type=chat_type,
            message_id=message.message_id,
        )
    if message.text is None:
        return None
    replied = message.reply_to_message
    return message_event(
        profile,
        message.chat.id,
        message.text,
        chat_type=chat_type,
        message_id=message.message_id,
        reply_to_message_id=replied.message_id if replied is not None else None,
        thread_id=message.message_thread_id if message.is_topic_message else None,
    )


def _chat_type(chat: Chat) -> str:
    return str(chat.type)
