"""Opaque, signed pagination cursors: clients cannot forge or edit them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from app.errors import InvalidCursorError

MAX_CURSOR_LENGTH = 512


def _sign(payload: bytes, secret: str) -> bytes:
    return hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]


def encode(values: list[Any], *, kind: str, secret: str) -> str:
    """A cursor holding `values` (JSON scalars) for endpoint `kind`."""
    payload = json.dumps([kind, values], separators=(",", ":")).encode()
    token = payload + _sign(payload, secret)
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


def decode(cursor: str, *, kind: str, secret: str) -> list[Any]:
    """The values of a cursor made by `encode` for the same `kind`.

    Raises:
        InvalidCursorError: the cursor was not made here, was edited, or is for another endpoint.
    """
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursorError("the cursor is not valid")
    try:
        token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursorError("the cursor is not valid") from exc
    payload, signature = token[:-16], token[-16:]
    if len(token) <= 16 or not hmac.compare_digest(signature, _sign(payload, secret)):
        raise InvalidCursorError("the cursor is not valid")
    try:
        got_kind, values = json.loads(payload)
    except (ValueError, TypeError) as exc:
        raise InvalidCursorError("the cursor is not valid") from exc
    if got_kind != kind or not isinstance(values, list):
        raise InvalidCursorError("the cursor belongs to another listing")
    return values


def decode_key(cursor: str, *, kind: str, secret: str, length: int) -> list[int]:
    """The `length` integers of a keyset cursor made by `encode` for the same `kind`.

    Raises:
        InvalidCursorError: as `decode`, or the cursor does not hold `length` integers.
    """
    values = decode(cursor, kind=kind, secret=secret)
    if len(values) != length or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise InvalidCursorError("the cursor is not valid")
    return values
