"""The rules section of docs/validation.md, generated from the rules registry."""

from __future__ import annotations

from collections.abc import Sequence

from app.schemas.validation import ValidationRuleRead

BEGIN = (
    "<!-- rules:begin (generated from the rules registry by `powercat rules-doc`;"
    " edit app/services/validation/rules.py, not this section) -->"
)
END = "<!-- rules:end -->"


class MissingSectionError(ValueError):
    """The document has no generated rules section (no begin and end markers, in order)."""


def _rule(rule: ValidationRuleRead) -> str:
    check = f"{rule.check} in `reference/codes.md`" if rule.check is not None else "– (an extra)"
    fields = ", ".join(f"`{name}`" for name in rule.fields)
    return "\n".join(
        (
            f"### `{rule.id}` {rule.title}",
            "",
            f"- severity: **{rule.severity}**",
            f"- check: {check}",
            f"- fields: {fields}",
            f"- explanation (说明): {rule.explanation}",
            f"- how to fix (修正): {rule.fix}",
        )
    )


def render(rules: Sequence[ValidationRuleRead]) -> str:
    """The section, markers included: every rule with its id, severity, explanation and fix."""
    body = "\n\n".join(_rule(rule) for rule in rules)
    return f"{BEGIN}\n\n{body}\n\n{END}"


def section(document: str) -> str:
    """The generated section of `document`, markers included.

    Raises:
        MissingSectionError: the markers are missing or out of order.
    """
    start = document.find(BEGIN)
    end = document.find(END, start + 1)
    if start < 0 or end < 0:
        raise MissingSectionError("the document has no generated rules section")
    return document[start : end + len(END)]


def updated(document: str, rules: Sequence[ValidationRuleRead]) -> str:
    """`document` with its generated section rendered anew from `rules`.

    Raises:
        MissingSectionError: the markers are missing or out of order.
    """
    return document.replace(section(document), render(rules), 1)
