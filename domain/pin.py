"""The payment PIN: six digits, kept only as a slow salted hash (scrypt), asked before what
matters (paying from the wallet above a threshold, recharging an unverified number above one,
redeeming many points); too many wrong tries lock those operations for a while."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

PIN_LENGTH = 6
# scrypt's cost: 16 MiB of memory and some tens of milliseconds per try.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32


def valid_pin(text: str) -> bool:
    return len(text) == PIN_LENGTH and all(ch in "0123456789" for ch in text)


def hash_pin(pin: str) -> str:
    """`scrypt$n$r$p$salt$key` (hex); a new random salt each time."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${key.hex()}"


def pin_matches(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        found = _scrypt(pin, bytes.fromhex(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(found, bytes.fromhex(key))


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        pin.encode(), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES, maxmem=64 * 1024 * 1024
    )


@dataclass(frozen=True)
class PinRules:
    """When the PIN is asked (amounts in fen, points), and how wrong tries lock it."""

    wallet_threshold_fen: int = 10_000
    unverified_threshold_fen: int = 5_000
    redeem_threshold_points: int = 1_000
    max_wrong: int = 5
    lock: timedelta = timedelta(minutes=30)
    # A forgotten PIN reset takes effect this long after (none: at once); until then the
    # operations that need the PIN wait, as under a lock.
    reset_delay: timedelta = timedelta(0)


class PinOutcome(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    # Locked: by this try (`just_locked`) or still from before.
    LOCKED = "locked"
    NOT_SET = "not_set"


@dataclass(frozen=True)
class PinCheck:
    outcome: PinOutcome
    tries_left: int = 0
    locked_until: datetime | None = None
    just_locked: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome is PinOutcome.OK
