"""The few browser files a service serves itself (a page's script and style): named, so nothing
else in its directory is served."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse


def serve_static(router: APIRouter, directory: Path, files: dict[str, str]) -> None:
    """`GET /static/<name>` for each of `files` (name -> media type) in `directory`; any other name is a 404."""
    @router.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in files:
            raise HTTPException(404, f"no static file {name!r}")
        return FileResponse(directory / name, media_type=files[name])
