"""The one Bot API call a webhook's 200 may carry (`bot/webhook.py`): left there by the update's
turn at most once, and never once the request was answered (the turn then makes it itself)."""

from __future__ import annotations

from bot.webhook import WebhookAnswer, leave_for_webhook_answer

PRESSED = {"callback_query_id": "4711"}


def test_one_call_is_left_for_the_answer_and_a_second_is_made_by_the_turn() -> None:
    answer = WebhookAnswer()
    assert answer.leave("answerCallbackQuery", PRESSED)
    assert not answer.leave("answerCallbackQuery", {"callback_query_id": "4712"})
    assert answer.body() == {"method": "answerCallbackQuery", "callback_query_id": "4711"}


def test_a_call_left_after_the_request_was_answered_is_made_by_the_turn() -> None:
    answer = WebhookAnswer()
    assert answer.body() is None  # answered with an empty 200: the turn was still going
    assert not answer.leave("answerCallbackQuery", PRESSED)


def test_an_update_that_did_not_come_by_webhook_makes_its_calls_itself() -> None:
    assert not leave_for_webhook_answer("answerCallbackQuery", PRESSED)
