"""The entity tags of items, and how a conditional request's tags are compared with them.

An item's ETag is its version, `"3"`: GET /items/{id}, every write and the 412 problem's
`current_etag` carry it. A lookup by code answers `"<id>.<version>"` instead, e.g. `"29.3"`,
because that URL does not always name the same item: after recodings another item can hold the
code at the same version, and a bare `"3"` would let a client's cached copy of the first item pass
as current (a false 304). Both forms name one version of one item, so the item's own URL accepts
either: a client can send the by-code ETag as If-Match or If-None-Match to /items/{id}.
"""

from __future__ import annotations

import re

# The longest If-None-Match a lookup reads: several tags of ours fit easily (a 422 past it).
IF_NONE_MATCH_MAX_LENGTH = 200

_TAG = re.compile(r'"(?:([0-9]{1,10})\.)?([0-9]{1,10})"', re.ASCII)


def item_etag(version: int) -> str:
    """The ETag of /items/{id}: the version."""
    return f'"{version}"'


def code_etag(item_id: int, version: int) -> str:
    """The ETag of a lookup by code: the item and its version."""
    return f'"{item_id}.{version}"'


def tagged_version(tag: str, item_id: int | None, *, bare: bool = True) -> int | None:
    """The version one opaque tag (quotes included, no W/) names of this item; None if none.

    A `"<id>.<version>"` tag names a version only of the item with that id; with `item_id` None
    (the item is not known yet) only the bare form is read, and with `bare` False only the
    qualified form.
    """
    found = _TAG.fullmatch(tag.strip())
    if found is None:
        return None
    tagged_id, version = found.groups()
    if tagged_id is None:
        return int(version) if bare else None
    if item_id is None or int(tagged_id) != item_id:
        return None
    return int(version)


def not_modified(if_none_match: str | None, item_id: int, version: int, *, by_code: bool) -> bool:
    """Whether If-None-Match names this version of this item (weak comparison, RFC 9110 13.1.2).

    Under a by-code URL only the qualified tag counts: a bare `"3"` may be another item's.
    """
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(
        tagged_version(tag.strip().removeprefix("W/"), item_id, bare=not by_code) == version
        for tag in if_none_match.split(",")
    )
