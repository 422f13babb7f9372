"""The database's plan for a statement as it is sent, for tests of which index serves a read."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


def _pg_literal(value: object) -> str:
    """A SQL literal for EXECUTE, which takes no parameters (test values only)."""
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(_pg_literal(v) for v in value) + "]::text[]"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    assert isinstance(value, int), value
    return str(value)


async def plan_of(conn: AsyncConnection, statement: str, parameters: tuple[Any, ...]) -> str:
    """The plan of `statement` (in the driver's paramstyle) with `parameters`, as one text.

    PostgreSQL's EXPLAIN takes no parameters, so the statement is prepared and its plan asked
    with the values: under the default plan_cache_mode that is the plan those values get, and
    under force_generic_plan the plan that sees only parameters.
    """
    if conn.dialect.name == "sqlite":
        rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return "\n".join(str(row[-1]) for row in rows)
    await conn.exec_driver_sql("PREPARE plan_of AS " + statement)
    args = ", ".join(_pg_literal(value) for value in parameters)
    # No DEALLOCATE on failure: in the aborted transaction it would fail too and hide the error.
    rows = await conn.exec_driver_sql(f"EXPLAIN EXECUTE plan_of({args})")
    plan = "\n".join(str(row[0]) for row in rows)
    await conn.exec_driver_sql("DEALLOCATE plan_of")
    return plan
