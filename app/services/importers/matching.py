"""Which stored item an imported row is: stable identity even when rows share a code."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Key:
    """What identifies an item inside one agency's list."""

    local_code: str | None
    sub_local_code: str | None
    name: str
    sub_item_name: str | None
    seq: int | None


def _pair_pass(
    incoming: Sequence[Key],
    existing: Sequence[Key],
    free_in: set[int],
    free_ex: set[int],
    key: Callable[[Key], Hashable | None],
    *,
    unique_only: bool,
) -> dict[int, int]:
    groups_in: dict[Hashable, list[int]] = defaultdict(list)
    groups_ex: dict[Hashable, list[int]] = defaultdict(list)
    for i in sorted(free_in):
        k = key(incoming[i])
        if k is not None:
            groups_in[k].append(i)
    for j in sorted(free_ex):
        k = key(existing[j])
        if k is not None:
            groups_ex[k].append(j)
    pairs: dict[int, int] = {}
    for k, ins in groups_in.items():
        exs = groups_ex.get(k, [])
        if not exs or (unique_only and (len(ins) > 1 or len(exs) > 1)):
            continue
        # Identical rows (same code, same name) pair up in list order: seq, then position.
        ins_sorted = sorted(ins, key=lambda i: (incoming[i].seq is None, incoming[i].seq or 0, i))
        exs_sorted = sorted(exs, key=lambda j: (existing[j].seq is None, existing[j].seq or 0, j))
        for i, j in zip(ins_sorted, exs_sorted, strict=False):
            pairs[i] = j
    return pairs


def match(incoming: Sequence[Key], existing: Sequence[Key]) -> dict[int, int]:
    """Map positions in `incoming` to positions in `existing`; unmatched rows are new/vanished.

    Passes, most specific first: the same code and name; the same code when it is unique on both
    sides (the name was edited); the same name for rows without a code; the same seq and name.
    """
    free_in = set(range(len(incoming)))
    free_ex = set(range(len(existing)))
    result: dict[int, int] = {}
    passes: list[tuple[Callable[[Key], Hashable | None], bool]] = [
        (
            lambda k: (
                (k.local_code, k.sub_local_code, k.name, k.sub_item_name) if k.local_code else None
            ),
            False,
        ),
        (lambda k: (k.local_code, k.sub_local_code) if k.local_code else None, True),
        (lambda k: (k.name, k.sub_item_name) if not k.local_code else None, False),
        (lambda k: (k.seq, k.name, k.sub_item_name) if k.seq is not None else None, True),
    ]
    for key, unique_only in passes:
        pairs = _pair_pass(incoming, existing, free_in, free_ex, key, unique_only=unique_only)
        result.update(pairs)
        free_in -= pairs.keys()
        free_ex -= set(pairs.values())
    return result
