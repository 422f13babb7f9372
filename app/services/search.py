"""Chinese search (`q`): items whose text fields contain a term, name matches first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, case

from app.db import dialect
from app.errors import InvalidInputError
from app.models import Item

# Long enough for any phrase worth typing; it bounds the LIKE pattern and the trigram lookups.
MAX_TERM_LENGTH = 100


def normalize_term(q: str | None) -> str | None:
    """The term to look for: `q` stripped, or None when blank (no search).

    Raises:
        InvalidInputError: the term is longer than MAX_TERM_LENGTH or holds a NUL character.
    """
    term = (q or "").strip()
    if not term:
        return None
    if len(term) > MAX_TERM_LENGTH:
        raise InvalidInputError(f"search term longer than {MAX_TERM_LENGTH} characters")
    if "\x00" in term:
        # PostgreSQL text cannot hold NUL, so nothing could match; say so rather than fail there.
        raise InvalidInputError("search term holds a NUL character")
    return term


def name_rank(term: str, dialect_name: str) -> ColumnElement[int]:
    """0 for items whose name contains `term`, else 1: the first sort key of a search."""
    return case((dialect.text_contains(Item.__table__.c.name, term, dialect_name), 0), else_=1)


# `q` is looked for in name, legal basis, responsibilities, accountability and remarks, ignoring
# the case of ASCII letters only: SQLite's LIKE folds nothing else, and PostgreSQL's folding of
# Ⅲ/ⅲ or Ａ/ａ depends on its locale, so ASCII is the rule both databases apply the same way.
# Withdrawn items match too: status is a filter of its own. The ordering replaces any the
# statement had; keyset pagination over a search uses (name_rank(term), id) as its key.
def apply_search(stmt: Select[Any], q: str | None, dialect_name: str) -> Select[Any]:
    """Restrict `stmt` (built on item_select()) to items containing `q`: name matches first, by id.

    Raises:
        InvalidInputError: `q` is longer than MAX_TERM_LENGTH after stripping, or holds NUL.
    """
    term = normalize_term(q)
    if term is None:
        return stmt
    return (
        stmt.where(dialect.item_search_match(Item.__table__, term, dialect_name))
        .order_by(None)
        .order_by(name_rank(term, dialect_name), Item.id)
    )
