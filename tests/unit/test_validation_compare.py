"""What counts as a new issue when two evaluations are compared (import dry runs, API writes)."""

from __future__ import annotations

from app.services.validation import rules, runner
from app.services.validation.rules import IssueData, IssueItem

CODE = "11620621MB176555834621036001000"
OTHER = "11620621MB176555834621036005000"


def _item(n: int) -> IssueItem:
    return IssueItem(n, n, 1, "民勤县医疗保障局", f"事项{n}")


def _duplicate(*ids: int, value: str = CODE) -> IssueData:
    return rules.issue(
        rules.DUPLICATE, "重复", field="local_code", items=[_item(n) for n in ids], value=value
    )


class TestAdded:
    def test_a_duplicate_that_only_loses_an_item_adds_nothing(self) -> None:
        assert runner.added([_duplicate(4, 5, 6)], [_duplicate(4, 6)]) == []

    def test_an_unchanged_issue_adds_nothing(self) -> None:
        assert runner.added([_duplicate(4, 5, 6)], [_duplicate(4, 5, 6)]) == []

    def test_a_duplicate_that_gains_an_item_is_new(self) -> None:
        grown = _duplicate(4, 5, 6, 7)
        assert runner.added([_duplicate(4, 5, 6)], [grown]) == [grown]

    def test_the_same_items_sharing_another_code_is_new(self) -> None:
        moved = _duplicate(4, 6, value=OTHER)
        assert runner.added([_duplicate(4, 5, 6)], [moved]) == [moved]

    def test_another_rule_on_a_flagged_item_is_new(self) -> None:
        digit = rules.issue(
            rules.CHECK_DIGIT, "校验位", field="local_code", items=[_item(5)], value=CODE
        )
        assert runner.added([_duplicate(4, 5, 6)], [_duplicate(4, 5, 6), digit]) == [digit]

    def test_issues_split_or_merged_over_the_same_items_add_nothing(self) -> None:
        # One orphan issue for two children, later reported per child: nothing new is flagged.
        def orphans(*ids: int) -> IssueData:
            return rules.issue(
                rules.SUB_ITEM, "无主项", field="local_code", items=[_item(n) for n in ids]
            )

        assert runner.added([orphans(1, 2)], [orphans(1), orphans(2)]) == []
        assert runner.added([orphans(1), orphans(2)], [orphans(1, 2)]) == []
