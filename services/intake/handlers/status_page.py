"""The customer's status page: the link in the receipt notice, `/c/<tracking code>#<case secret>`.

The page is the same for every case; its script reads the secret from the URL fragment (which
browsers send to no server and in no Referer) and calls `GET /v1/voc/{ref}` with it in
X-Case-Secret, so the secret reaches intake only as that header, never in a logged URL."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from shared.static_files import serve_static

STATIC = Path(__file__).resolve().parent.parent / "static"
STATIC_FILES = {"status.js": "text/javascript", "status.css": "text/css"}

page = APIRouter(tags=["intake"])


@page.get("/c/{ref}", response_class=HTMLResponse, summary="The status page a receipt notice links",
          description="The same page for every case: its script asks `GET /v1/voc/{ref}` with the secret "
                      "from the link's fragment (`/c/VOC-2026-000123#<secret>`) and shows the answer in Korean.")
async def status_page(ref: str) -> HTMLResponse:
    return HTMLResponse((STATIC / "status.html").read_text(encoding="utf-8"),
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


serve_static(page, STATIC, STATIC_FILES)
