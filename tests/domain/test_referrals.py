"""Referral rules without a database: codes, payloads, screening, the campaign file section."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.campaign_file import CampaignFileError, parse_campaign_file
from domain.money import Money
from domain.referrals import (
    AlertReason,
    ReferralRules,
    RewardKind,
    RewardSpec,
    code_from_payload,
    masked_name,
    new_invite_code,
    screen,
    start_payload,
)

RULES = ReferralRules(
    minimum=Money.yuan(30),
    inviter=RewardSpec(RewardKind.POINTS, points=200),
    friend=RewardSpec(RewardKind.RED_PACKET, amount=Money.yuan(5)),
    claim_window=timedelta(days=7),
    cap_per_inviter=3,
    cap_period_days=30,
    burst_count=4,
    burst_window=timedelta(hours=1),
)


def test_codes_are_random_and_round_trip_through_the_start_payload() -> None:
    codes = {new_invite_code() for _ in range(200)}
    assert len(codes) == 200
    for code in list(codes)[:20]:
        payload = start_payload(code)
        assert len(payload) <= 64 and code_from_payload(payload) == code


@pytest.mark.parametrize(
    "payload",
    ["", "ref_", "ref_short", "ref_" + "A" * 17, "REF_" + "A" * 16, "ref_" + "A" * 15 + "!", "x"],
)
def test_malformed_payloads_have_no_code(payload: str) -> None:
    assert code_from_payload(payload) is None


def test_screening_names_every_reason_and_passes_a_clean_friend() -> None:
    clean = screen(
        inviter_phones={"18612345678"},
        friend_phones={"13100001111"},
        phones_bound_elsewhere=False,
        within_cap=True,
        recent_qualifications=3,
        rules=RULES,
    )
    assert clean == []
    dirty = screen(
        inviter_phones={"18612345678"},
        friend_phones={"18612345678"},
        phones_bound_elsewhere=True,
        within_cap=False,
        recent_qualifications=4,
        rules=RULES,
    )
    assert dirty == [
        AlertReason.SELF_REFERRAL,
        AlertReason.PHONE_SHARED,
        AlertReason.CAP,
        AlertReason.BURST,
    ]


def test_rules_survive_their_json_and_periods_are_beijing_day_blocks() -> None:
    assert ReferralRules.from_json(RULES.to_json()) == RULES
    one = datetime(2026, 11, 10, 15, 59, tzinfo=UTC)  # 23:59 in Beijing
    assert RULES.period_of(one) == RULES.period_of(one - timedelta(days=1))
    assert RULES.period_of(one) != RULES.period_of(one + timedelta(days=30))


def test_names_are_masked_for_the_leaderboard() -> None:
    assert masked_name("张三") == "张**"
    assert masked_name("Alexander") == "A****"
    assert masked_name(None) == "***"


BASE = """
[[campaigns]]
code = "c"
name_zh = "活动"
name_en = "Campaign"
terms_zh = "条款"
terms_en = "Terms"
starts_at = 2026-11-01T00:00:00+08:00
ends_at = 2026-11-11T00:00:00+08:00

[[campaigns.offers]]
code = "o"
kind = "points_multiplier"
multiplier = 2

[[campaigns.offers]]
code = "wallet5"
kind = "coupon"
coupon_code = "WALLET5"
discount_yuan = 5

[campaigns.referral]
min_recharge_yuan = 30
inviter = {inviter}
friend = {{ kind = "coupon", coupon_code = "wallet5" }}
"""


def test_the_referral_section_gives_the_rules() -> None:
    file = parse_campaign_file(BASE.format(inviter='{ kind = "red_packet", yuan = 8.5 }'))
    referral = file.campaigns[0].referral
    assert referral is not None
    rules = referral.to_rules()
    assert rules.inviter == RewardSpec(RewardKind.RED_PACKET, amount=Money(850))
    assert rules.friend.coupon_code == "WALLET5"
    assert rules.claim_window == timedelta(days=7)


@pytest.mark.parametrize(
    "inviter",
    [
        '{ kind = "points" }',
        '{ kind = "points", points = 10, yuan = 5 }',
        '{ kind = "red_packet", yuan = 0.001 }',
        '{ kind = "cash", yuan = 5 }',
    ],
)
def test_a_bad_referral_reward_is_refused(inviter: str) -> None:
    with pytest.raises(CampaignFileError, match="referral"):
        parse_campaign_file(BASE.format(inviter=inviter))


def _line(text: str, starts: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(starts))


def test_a_bad_referral_reward_is_refused_naming_its_line() -> None:
    text = BASE.format(inviter='{ kind = "points" }')
    with pytest.raises(CampaignFileError) as refused:
        parse_campaign_file(text)
    assert refused.value.line == _line(text, "inviter =")


def test_a_coupon_reward_must_be_a_coupon_offer_of_its_campaign() -> None:
    text = BASE.format(inviter='{ kind = "coupon", coupon_code = "wallet6" }')
    with pytest.raises(CampaignFileError, match="coupon WALLET6 is not the coupon_code") as refused:
        parse_campaign_file(text)
    assert refused.value.line == _line(text, "inviter =")
    assert "offered: WALLET5" in str(refused.value)


def test_a_coupon_reward_of_a_coupon_offer_loads() -> None:
    file = parse_campaign_file(BASE.format(inviter='{ kind = "coupon", coupon_code = "Wallet5" }'))
    referral = file.campaigns[0].referral
    assert referral is not None and referral.to_rules().inviter.coupon_code == "WALLET5"
