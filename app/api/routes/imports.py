"""Upload a published list: the same import service as `powercat import`."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile

from app.api.deps import ActorDep, SessionDep, SettingsDep
from app.api.problems import WRITE_PROBLEM_RESPONSES, problem_doc
from app.db.sqlite import write_transaction
from app.errors import PayloadTooLargeError
from app.schemas.base import NO_NUL_PATTERN
from app.schemas.imports import ImportFormat, ImportReport
from app.services import imports

router = APIRouter(tags=["imports"])

_CHUNK = 1024 * 1024
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")


def safe_file_name(name: str | None) -> str:
    """The upload's base name only: no directories, no control characters, bounded length."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE_NAME.sub("", base).strip().lstrip(".")
    return base[:255] or "upload"


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the upload is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/imports",
    response_model=ImportReport,
    summary="Import a list file",
    responses={
        **WRITE_PROBLEM_RESPONSES,
        409: problem_doc("an item of the list changed while it was being imported; retry"),
        413: problem_doc("the upload is larger than the limit"),
    },
)
async def create_import(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    file: Annotated[
        UploadFile, File(description="the list: TSV, PDF text, CSV, XLSX, JSON, NDJSON")
    ],
    format: Annotated[ImportFormat, Form(description="layout; auto recognises it")] = "auto",
    dry_run: Annotated[bool, Form(description="report only; write nothing")] = False,
    agency: Annotated[str | None, Form(max_length=200, description="owning agency")] = None,
    withdraw_missing: Annotated[
        bool, Form(description="withdraw the agency's items missing from the file")
    ] = False,
    reason: Annotated[
        str | None,
        Form(
            max_length=1000,
            pattern=NO_NUL_PATTERN,
            description="why the list is imported (audit and revisions); wins over X-Change-Reason",
        ),
    ] = None,
) -> ImportReport:
    """Import one list file whole or not at all, and report what changed (a dry run writes nothing).

    Items are matched to the catalogue by code and name, so importing the same file again changes
    nothing; rows that share a code keep their identity.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_upload_bytes + _CHUNK:
        raise PayloadTooLargeError(f"the upload is larger than {settings.max_upload_bytes} bytes")
    data = await _read_limited(file, settings.max_upload_bytes)
    with write_transaction():
        return await imports.run(
            session,
            imports.ImportRequest(
                file_name=safe_file_name(file.filename),
                data=data,
                format=format,
                agency=agency,
                dry_run=dry_run,
                withdraw_missing=withdraw_missing,
            ),
            actor=replace(actor, reason=reason.strip() or actor.reason) if reason else actor,
        )
