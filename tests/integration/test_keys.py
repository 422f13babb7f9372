"""keys.authenticate: a token's actor, with its scope and agencies, in one statement."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import KeyScope
from app.models import Agency
from app.services import keys


@contextmanager
def _statements(session: AsyncSession) -> Iterator[list[str]]:
    """The SQL `session`'s connection sends inside the block."""
    sent: list[str] = []
    # The test's session is bound to one connection: events on it see its statements.
    target = session.get_bind()

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(statement)

    event.listen(target, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(target, "before_cursor_execute", record)


async def test_an_actor_with_its_agencies_in_one_statement(session: AsyncSession) -> None:
    names = ["甲局", "乙局"]
    session.add_all([Agency(name=name) for name in names])
    await session.flush()
    writer, writer_token = await keys.create(
        session, name="writer", scope=KeyScope.WRITE, agency_names=names
    )
    _, reader_token = await keys.create(
        session, name="reader", scope=KeyScope.READ, agency_names=[]
    )
    _, admin_token = await keys.create(session, name="admin", scope=KeyScope.ADMIN, agency_names=[])
    agency_ids = set((await session.scalars(select(Agency.id).where(Agency.name.in_(names)))).all())

    with _statements(session) as sent:
        actor = await keys.authenticate(session, token=writer_token)
    assert len(sent) == 1
    assert actor is not None
    assert (actor.name, actor.key_id, actor.scope) == (
        f"key:{writer.id}:writer",
        writer.id,
        "write",
    )
    assert actor.agency_ids == frozenset(agency_ids)
    assert len(agency_ids) == 2

    reader = await keys.authenticate(session, token=reader_token)
    assert reader is not None
    assert (reader.scope, reader.agency_ids) == ("read", frozenset())
    admin = await keys.authenticate(session, token=admin_token)
    assert admin is not None
    assert (admin.scope, admin.agency_ids) == ("admin", None)

    await keys.revoke(session, key_id=writer.id)
    assert await keys.authenticate(session, token=writer_token) is None
    assert await keys.authenticate(session, token="pck_" + "0" * 40) is None
