"""The harness's search terms: deterministic, and covering the kinds of term that were slow."""

from __future__ import annotations

from app.db.dialect import ITEM_SEARCH_FIELDS
from bench import generate
from bench.harness import (
    TEXT_NOT_NAME_SAMPLE,
    TEXT_NOT_NAME_SHARES,
    Config,
    search_terms,
    text_not_name_terms,
)


def test_text_not_name_terms_are_in_the_text_at_each_share_and_in_no_name() -> None:
    # The sample the harness draws (its default), so these are the terms it measures.
    terms = text_not_name_terms()
    assert terms == text_not_name_terms()
    sample = TEXT_NOT_NAME_SAMPLE
    assert len(terms) == len(set(terms)) == len(TEXT_NOT_NAME_SHARES)
    docs = list(generate.items(sample))
    texts = ["。".join(doc[f] or "" for f in ITEM_SEARCH_FIELDS[1:]) for doc in docs]
    shares = []
    for term in terms:
        assert len(term) == 2, term
        assert not any(term in doc["name"] for doc in docs), term
        shares.append(sum(term in text for text in texts) / sample)
    # Held by the text at falling shares, the last by a few items in a hundred at most.
    held = dict(zip(terms, shares, strict=True))
    assert shares == sorted(shares, reverse=True), held
    assert shares[0] > 0.5, held
    assert 0 < shares[-1] < 0.1, held


def test_the_short_terms_include_them_once() -> None:
    config = Config(
        sizes=(10_000,), backends=("sqlite",), duration=1, rounds=1, connections=1, search_samples=4
    )
    _, short = search_terms(config)
    extra = text_not_name_terms(exclude=short[:4])
    assert short[4:] == extra
    assert len(set(short)) == len(short)
