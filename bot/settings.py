"""All settings, from the environment and an optional `.env` file. Built once at start-up."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.log_format import LogFormat
from domain.integrations.sandbox import SandboxMode
from domain.languages import DEFAULT_LANGUAGE, Language
from domain.orders import PaymentMethod
from domain.persistence.database import PoolBudget
from domain.phone import Carrier
from domain.reminders import QuietHours
from domain.risk import RiskAction, RiskRule

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/wallet-bot.sqlite3"
TELEGRAM_DEFAULT_API_URL = "https://api.telegram.org"


# The shortest retention a setting may ask for: a typo must not erase active customers.
MIN_RETENTION_DAYS = 30
# A number setting (a count, an amount in fen, seconds) fits the database's INTEGER columns; a
# Telegram id (of a chat or a person) fits in 53 bits.
MAX_SETTING_INT = 2_147_483_647
MAX_TELEGRAM_ID = 2**53
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TELEGRAM_ID_SETTINGS = frozenset({"admin_ids", "staff_chat_id", "console_user_id"})


def settings_problems(error: ValidationError) -> str:
    """What is wrong with the settings, each problem led by its variable's name (never its
    value: it may be a secret)."""
    problems = []
    for found in error.errors():
        message = str(found["msg"]).removeprefix("Value error, ")
        name = str(found["loc"][0]).upper() if found["loc"] else ""
        problems.append(f"{name}: {message}" if name and name not in message else message)
    return "; ".join(problems)


class Frontend(StrEnum):
    AIOGRAM = "aiogram"
    PTB = "ptb"
    CONSOLE = "console"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # "inf" or "nan" seconds is no setting: refused like any other word.
        allow_inf_nan=False,
    )

    bot_token: SecretStr | None = Field(default=None, description="Bot API token")
    bot_frontend: Frontend = Frontend.AIOGRAM
    telegram_api_url: str = TELEGRAM_DEFAULT_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL connections of this process (SQLite keeps its own few): kept open, more at a
    # burst, and how long a unit of work waits for one. The wait is short: an update that finds
    # no connection is answered "busy, try again" (and 503, so Telegram sends it again) rather
    # than keeping its customer waiting. No burst connections by default: one is closed as soon
    # as it is given back to a full pool, so under steady load past the pool size they are
    # opened again and again (a new server process each, its statements prepared again). Units
    # of work waiting for a connection are served in the order they asked (the connection
    # gate), so a burst of more customers than connections queues rather than failing, and
    # three processes at the default fit in PostgreSQL's default 100 connections with a reserve.
    database_pool_size: int = Field(default=PoolBudget.size, ge=1, le=1000)
    database_max_overflow: int = Field(default=PoolBudget.overflow, ge=0, le=1000)
    database_pool_timeout_seconds: float = Field(default=PoolBudget.timeout_seconds, gt=0)

    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0:8080"

    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    staff_chat_id: int | None = None

    # Half-finished conversations untouched this long go back to the menu.
    conversation_idle_seconds: int = Field(default=24 * 3600, ge=1)
    housekeeping_interval_seconds: int = Field(default=600, ge=1)
    log_level: str = "INFO"
    # `json`: one JSON object per line, naming the update, chat and order of a chat turn.
    log_format: LogFormat = LogFormat.TEXT

    # Recharge limits, in fen (分): 100 fen = 1 yuan.
    recharge_min_fen: int = Field(default=100, ge=1)
    recharge_max_fen: int = Field(default=50_000, ge=1)
    recharge_daily_fen: int = Field(default=200_000, ge=1)
    payment_window_minutes: int = Field(default=15, ge=1)
    # Demo mode: the sandbox payment provider and the sandbox carrier gateway (free top-ups, for
    # demos and tests only). Off unless turned on; `make run` turns it on.
    demo_mode: bool = False
    # Payment methods offered, in order (empty: the wallet, and the sandbox in demo mode);
    # `telegram` is added when a provider token is set.
    payment_methods: Annotated[tuple[PaymentMethod, ...], NoDecode] = ()
    payment_provider_token: SecretStr | None = None
    sandbox_payment_mode: SandboxMode = SandboxMode.APPROVE
    sandbox_topup_delay_seconds: float = Field(default=3.0, ge=0)
    served_carriers: Annotated[frozenset[Carrier], NoDecode] = frozenset(Carrier)
    # The carrier top-up gateway; the sandbox gateway when GATEWAY_URL is unset.
    gateway_url: str | None = None
    gateway_api_key: SecretStr | None = None
    gateway_timeout_seconds: float = Field(default=5.0, gt=0)
    # Where the carrier gateway posts how each top-up ended (bot/carrier_callback.py), signed
    # with GATEWAY_CALLBACK_SECRET; unset: the bot only asks it.
    gateway_callback_listen: str | None = None
    gateway_callback_secret: SecretStr | None = None
    # Ask the gateway again about a pending top-up after this long; sweep orders this often.
    order_recheck_seconds: float = Field(default=30.0, gt=0)
    order_sweep_seconds: float = Field(default=1.0, gt=0)

    # Points: earned per yuan recharged; warn this many days before points lapse.
    points_per_yuan: int = Field(default=1, ge=0)
    points_warn_days: int = Field(default=14, ge=1)
    # What 100 bonus points cost a campaign, in fen (the dashboard's cost of an offer).
    points_value_fen_per_100: int = Field(default=100, ge=0, le=1_000_000)

    # Referrals: the bot's @username for invite links (else asked with getMe); sweep interval.
    bot_username: str | None = None
    referral_sweep_seconds: float = Field(default=10.0, gt=0)
    # Support: the staff chat is a forum (one topic per ticket); a ticket unanswered this long
    # is raised to supervisors; a resolved one closes after this long; flooding is limited to
    # this many support messages per customer per window; tickets are relayed this often.
    staff_chat_is_forum: bool = False
    support_first_response_minutes: int = Field(default=30, ge=1)
    support_auto_close_hours: int = Field(default=48, ge=1)
    support_flood_messages: int = Field(default=10, ge=1)
    support_flood_window_minutes: int = Field(default=10, ge=1)
    support_relay_seconds: float = Field(default=3.0, gt=0)
    support_sla_sweep_seconds: float = Field(default=60.0, gt=0)
    # The language of what the bot says in the shared staff chat (zh-CN or en); a staff
    # member's private messages are in their own language.
    staff_chat_language: Language = DEFAULT_LANGUAGE

    # Who the console front end speaks as.
    console_user_id: int = 1
    console_language: str = "zh-hans"

    # Countdown reminders: none in quiet hours (local time of REMINDER_TIMEZONE, the customers'
    # time zone); planned and sent every REMINDER_SWEEP_SECONDS.
    quiet_hours: str = "22:00-08:00"
    reminder_timezone: str = "Asia/Shanghai"
    # The staff chat gets yesterday's figures at this local time (REMINDER_TIMEZONE) each day,
    # "HH:MM" (empty: never).
    digest_local_time: str = "09:00"
    reminder_sweep_seconds: float = Field(default=30.0, gt=0)
    # Every message nobody just asked for leaves through one limiter: at most this many a second
    # overall, a second per private chat and a minute per group; a 429 is waited out; a 5xx or
    # a timeout tried again after DELIVERY_RETRY_SECONDS, doubling, DELIVERY_MAX_ATTEMPTS times.
    delivery_global_per_second: int = Field(default=30, ge=1)
    delivery_chat_per_second: int = Field(default=1, ge=1)
    delivery_group_per_minute: int = Field(default=20, ge=1)
    delivery_max_attempts: int = Field(default=5, ge=1)
    delivery_retry_seconds: float = Field(default=1.0, gt=0)
    # A sender killed midway leaves its claimed reminders to be sent after this long.
    delivery_claim_seconds: float = Field(default=300.0, gt=0)
    # Several bot processes: the one holding this lease (renewed by it) runs the sweeps.
    scheduler_lease_seconds: float = Field(default=60.0, gt=0)

    # One chat holds at most this many updates (one handled, the rest waiting); more are dropped
    # and the chat is asked, once per flood, to slow down. Other chats are served as usual.
    chat_queue_limit: int = Field(default=20, ge=1)
    # aiogram polling: updates fetched and not yet handled, at most; Telegram keeps the rest.
    updates_in_flight: int = Field(default=100, ge=1)
    # A reply Telegram refuses with a 429 is sent after its retry_after, again until this long
    # after the first try; then it is given up (logged).
    reply_deadline_seconds: float = Field(default=30.0, gt=0)
    # Webhook requests: bodies larger than this are refused before they are read.
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Webhook workers on PostgreSQL: an update that cannot take its chat's turn (shared by every
    # process) within this long is answered 503, and Telegram delivers it again.
    chat_turn_wait_seconds: float = Field(default=10.0, gt=0)

    # The campaign dashboard, /metrics, /healthz and /readyz: served at this address by the bot
    # process (empty: not served) and by `python -m bot dashboard`. DASHBOARD_URL is where staff
    # reach it (its public base URL, for sign-in links); unset: http://DASHBOARD_LISTEN.
    dashboard_listen: str = "127.0.0.1:8081"
    dashboard_url: str | None = None
    # An open dashboard page reads its figures again this often and redraws when they changed.
    dashboard_refresh_seconds: float = Field(default=5.0, gt=0, le=3600)

    # Campaign pushes (broadcasts): at most this many a customer a day (China time) across all
    # broadcasts; planned and sent every BROADCAST_SWEEP_SECONDS (never in QUIET_HOURS).
    broadcast_daily_cap: int = Field(default=1, ge=1)
    broadcast_sweep_seconds: float = Field(default=5.0, gt=0)
    # Paid broadcasts: a broadcast staff mark urgent is sent with allow_paid_broadcast, at up to
    # BROADCAST_PAID_PER_SECOND messages a second (Telegram allows up to 1000), each message
    # beyond the free DELIVERY_GLOBAL_PER_SECOND costing BROADCAST_PAID_STARS Telegram Stars
    # (0.1 today), shown to staff before sending. Off: "urgent" cannot be chosen.
    broadcast_paid_allowed: bool = False
    broadcast_paid_per_second: int = Field(default=1000, ge=1, le=1000)
    broadcast_paid_stars: Decimal = Field(default=Decimal("0.1"), ge=0, max_digits=6)
    # Risk rules (0 turns one off): an order over a limit is held for staff, or the account
    # frozen, as RISK_ACTIONS says (rule=hold|freeze, comma-separated; the rest as by default).
    risk_rules_enabled: bool = True
    risk_orders_per_hour: int = Field(default=10, ge=0)
    risk_orders_per_day: int = Field(default=30, ge=0)
    risk_amount_per_hour_fen: int = Field(default=200_000, ge=0)
    risk_numbers_per_day: int = Field(default=5, ge=0)
    risk_declines_in_a_row: int = Field(default=5, ge=0)
    risk_new_account_large_fen: int = Field(default=30_000, ge=0)
    risk_new_account_minutes: int = Field(default=60, ge=1)
    risk_accounts_per_number: int = Field(default=3, ge=0)
    # Wrong coupon codes in a window of RISK_COUPON_WINDOW_MINUTES: the last one closes coupon
    # entry until the window ends (and fires the rule); 0: never closed.
    risk_coupon_guesses: int = Field(default=5, ge=0)
    risk_coupon_window_minutes: int = Field(default=10, ge=1)
    risk_actions: Annotated[dict[RiskRule, RiskAction], NoDecode] = Field(default_factory=dict)
    risk_sweep_seconds: float = Field(default=5.0, gt=0)
    # Two-person rule: releasing a held order of at least this much (fen) needs two different
    # staff members (0: one is enough).
    risk_two_person_fen: int = Field(default=20_000, ge=0)
    # The payment PIN (/pin), once a customer set one, is asked: paying from the wallet from
    # PIN_WALLET_THRESHOLD_FEN, recharging a typed (unverified) number from
    # PIN_UNVERIFIED_THRESHOLD_FEN, redeeming from PIN_REDEEM_THRESHOLD_POINTS; PIN_MAX_WRONG
    # wrong tries in a row lock those for PIN_LOCK_MINUTES.
    pin_wallet_threshold_fen: int = Field(default=10_000, ge=0)
    pin_unverified_threshold_fen: int = Field(default=5_000, ge=0)
    pin_redeem_threshold_points: int = Field(default=1_000, ge=0)
    pin_max_wrong: int = Field(default=5, ge=1)
    pin_lock_minutes: int = Field(default=30, ge=1)
    # A forgotten PIN reset (by sharing a verified contact) takes effect this long after (0: at
    # once); until then the operations that need the PIN wait.
    pin_reset_delay_minutes: int = Field(default=1440, ge=0, le=10_080)
    # PIPL: the first /start asks the customer to agree to the privacy notice before any phone
    # number of theirs is kept (marketing pushes: a separate, optional consent).
    privacy_consent_required: bool = True
    # /export_my_data: a customer receives their data at most once per this many minutes.
    privacy_export_every_minutes: int = Field(default=5, ge=1, le=1440)
    # The retention sweep erases the personal data of customers not seen for this many days,
    # as /delete_my_data does (0: never; otherwise at least 30), every
    # PRIVACY_RETENTION_SWEEP_SECONDS.
    privacy_retention_days: int = Field(default=730, ge=0, le=36_500)
    privacy_retention_sweep_seconds: float = Field(default=3600.0, gt=0)

    @field_validator("privacy_retention_days")
    @classmethod
    def _retention_days(cls, value: int) -> int:
        if 0 < value < MIN_RETENTION_DAYS:
            raise ValueError(f"must be 0 (never) or at least {MIN_RETENTION_DAYS} days")
        return value

    @field_validator("risk_actions", mode="before")
    @classmethod
    def _risk_actions(cls, value: object) -> object:
        """ "orders_per_hour=freeze,new_account_large=hold": each rule and action by name."""
        if not isinstance(value, str):
            return value
        actions: dict[str, str] = {}
        for part in value.split(","):
            if not part.strip():
                continue
            rule, sep, action = part.partition("=")
            if not sep:
                raise ValueError(f"RISK_ACTIONS: {part.strip()!r} is not rule=hold|freeze")
            actions[rule.strip()] = action.strip()
        return actions

    @field_validator("*")
    @classmethod
    def _number_in_range(cls, value: object, info: ValidationInfo) -> object:
        """Numbers within what the database and Telegram hold (a typo of many digits is
        refused rather than overflow later)."""
        ids = info.field_name in TELEGRAM_ID_SETTINGS
        most = MAX_TELEGRAM_ID if ids else MAX_SETTING_INT
        numbers = value if isinstance(value, frozenset) else (value,)
        for number in numbers:
            if type(number) is int and abs(number) > most:
                raise ValueError(f"a number from {-most:,} to {most:,}")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(
                int(part) for part in value.replace(";", ",").split(",") if part.strip()
            )
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("payment_methods", "served_carriers", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator(
        "bot_token",
        "webhook_secret",
        "webhook_url",
        "payment_provider_token",
        "gateway_url",
        "gateway_api_key",
        "gateway_callback_listen",
        "gateway_callback_secret",
        "staff_chat_id",
        "bot_username",
        "dashboard_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("webhook_listen")
    @classmethod
    def _listen_address(cls, value: str) -> str:
        port = value.rpartition(":")[2]
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("WEBHOOK_LISTEN is host:port, e.g. 0.0.0.0:8080")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"LOG_LEVEL is one of {', '.join(LOG_LEVELS)}")
        return value.strip()

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        QuietHours.parse(value)
        return value

    @field_validator("digest_local_time")
    @classmethod
    def _digest_local_time(cls, value: str) -> str:
        value = value.strip()
        if value:
            try:
                time.fromisoformat(value)
            except ValueError as error:
                raise ValueError(f"not a time of day HH:MM: {value!r}") from error
        return value

    @property
    def digest_time(self) -> time | None:
        """When the daily digest goes to the staff chat (local time); None: never."""
        return time.fromisoformat(self.digest_local_time) if self.digest_local_time else None

    @field_validator("reminder_timezone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (KeyError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @field_validator("staff_chat_language", mode="before")
    @classmethod
    def _language_tag(cls, value: object) -> object:
        """ "zh-CN", "zh_CN", "zh" or "en" (any case); anything else is refused."""
        if isinstance(value, str):
            tags = {"zh": Language.ZH_CN, "zh-cn": Language.ZH_CN, "zh_cn": Language.ZH_CN}
            tags["en"] = Language.EN
            return tags.get(value.strip().lower(), value.strip())
        return value

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> Settings:
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError("WEBHOOK_URL needs WEBHOOK_SECRET: every request must carry it")
        return self

    @model_validator(mode="after")
    def _callbacks_are_signed(self) -> Settings:
        if self.gateway_callback_listen is None:
            return self
        secret = self.gateway_callback_secret
        if secret is None or len(secret.get_secret_value()) < 16:
            raise ValueError(
                "GATEWAY_CALLBACK_LISTEN needs GATEWAY_CALLBACK_SECRET (16 characters or more): "
                "every callback must be signed with it"
            )
        port = self.gateway_callback_listen.rpartition(":")[2]
        if not port.isdigit():
            raise ValueError("GATEWAY_CALLBACK_LISTEN is host:port, e.g. 0.0.0.0:8090")
        return self

    @model_validator(mode="after")
    def _dashboard_address(self) -> Settings:
        if self.dashboard_listen.strip():
            port = self.dashboard_listen.rpartition(":")[2]
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("DASHBOARD_LISTEN is host:port, e.g. 127.0.0.1:8081 (empty: off)")
        if self.dashboard_url and not self.dashboard_url.startswith(("http://", "https://")):
            raise ValueError("DASHBOARD_URL is an http:// or https:// address")
        return self

    @model_validator(mode="after")
    def _sandbox_only_in_demo_mode(self) -> Settings:
        """Sandbox payment approves without taking money: it is offered only in demo mode, and
        never beside a real carrier gateway or a real payment provider."""
        if PaymentMethod.SANDBOX not in self.payment_methods:
            return self
        if not self.demo_mode:
            raise ValueError(
                "PAYMENT_METHODS lists sandbox, which takes no money: it is offered only in demo "
                "mode (DEMO_MODE=true); remove sandbox from PAYMENT_METHODS for real customers"
            )
        if self.gateway_url:
            raise ValueError(
                "sandbox payment with GATEWAY_URL would top up real numbers for free: "
                "remove sandbox from PAYMENT_METHODS (and set DEMO_MODE=false), "
                "or unset GATEWAY_URL for a demo"
            )
        if self.payment_provider_token is not None:
            raise ValueError(
                "sandbox payment beside PAYMENT_PROVIDER_TOKEN mixes free and real payments: "
                "remove sandbox from PAYMENT_METHODS (and set DEMO_MODE=false), "
                "or unset PAYMENT_PROVIDER_TOKEN for a demo"
            )
        return self

    @model_validator(mode="after")
    def _default_payment_methods(self) -> Settings:
        """Unset PAYMENT_METHODS: the wallet, and in demo mode sandbox payment too, unless a
        real gateway or payment provider is configured."""
        if PaymentMethod.POINTS in self.payment_methods:
            raise ValueError(
                "PAYMENT_METHODS: points pay only for rewards redeemed in /points; "
                "list wallet, sandbox or telegram"
            )
        if not self.payment_methods:
            methods = [PaymentMethod.WALLET]
            if self.demo_mode and not self.gateway_url and self.payment_provider_token is None:
                methods.append(PaymentMethod.SANDBOX)
            self.payment_methods = tuple(methods)
        return self

    @property
    def token(self) -> str | None:
        return self.bot_token.get_secret_value() if self.bot_token else None

    @property
    def offered_payment_methods(self) -> tuple[PaymentMethod, ...]:
        methods: list[PaymentMethod] = [
            m for m in self.payment_methods if m is not PaymentMethod.TELEGRAM
        ]
        if self.payment_provider_token is not None:
            methods.append(PaymentMethod.TELEGRAM)
        return tuple(dict.fromkeys(methods))

    @property
    def sandbox_gateway(self) -> bool:
        """Top-ups go to the sandbox gateway: demo mode without a real GATEWAY_URL."""
        return self.demo_mode and not self.gateway_url

    @property
    def missing_gateway(self) -> str | None:
        """Why the bot cannot run recharges (None: it can): no carrier gateway outside demo."""
        if self.gateway_url or self.demo_mode:
            return None
        return (
            "no carrier gateway: set GATEWAY_URL (and GATEWAY_API_KEY) to recharge for real, "
            "or DEMO_MODE=true for the sandbox gateway and sandbox payment (demos only: "
            "nothing is charged or topped up); the bot does not start without one of them"
        )

    @property
    def chosen_frontend(self) -> Frontend:
        """Without a token only the console can run."""
        return self.bot_frontend if self.token else Frontend.CONSOLE

    @property
    def gateway_callback_host_port(self) -> tuple[str, int] | None:
        if self.gateway_callback_listen is None:
            return None
        host, _, port = self.gateway_callback_listen.rpartition(":")
        return host or "0.0.0.0", int(port)

    @property
    def dashboard_host_port(self) -> tuple[str, int] | None:
        """Where the dashboard listens; None: it is off."""
        if not self.dashboard_listen.strip():
            return None
        host, _, port = self.dashboard_listen.strip().rpartition(":")
        return host or "127.0.0.1", int(port)

    @property
    def dashboard_base_url(self) -> str | None:
        """The dashboard's address in sign-in links; None when it is off and no URL is set."""
        if self.dashboard_url:
            return self.dashboard_url.rstrip("/")
        listen = self.dashboard_host_port
        if listen is None:
            return None
        host, port = listen
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{shown}:{port}"

    @property
    def webhook_host_port(self) -> tuple[str, int]:
        host, _, port = self.webhook_listen.rpartition(":")
        return host or "0.0.0.0", int(port)

    @property
    def webhook_path(self) -> str:
        """The path part of WEBHOOK_URL, where the bot listens for updates."""
        return urlsplit(self.webhook_url or "").path or "/"
