"""The pages' own scripts (feedback's dashboard, intake's status page), as the services serve them, run in
V8 (mini-racer, from PyPI) with the little of a browser they use (page_dom.js)."""

from __future__ import annotations

import json
from pathlib import Path

PAGE_DOM = Path(__file__).resolve().parent / "page_dom.js"


def run_page_script(script: str, answer: dict, path: str, fragment: str) -> dict:
    """What a page shows once its script has run, opened at <path><fragment>, its fetch answered with
    `answer`: each element's text by data-testid (`shown`) and by id (`ids`), its links, its requests."""
    from py_mini_racer import MiniRacer

    ctx = MiniRacer()
    try:
        ctx.eval(f"var PAGE_JSON = {json.dumps(json.dumps(answer, ensure_ascii=False), ensure_ascii=False)};"
                 f"var PAGE_PATH = {json.dumps(path)}; var PAGE_HASH = {json.dumps(fragment)};")
        ctx.eval(PAGE_DOM.read_text(encoding="utf-8"))
        ctx.eval(script)  # runs its fetch, then shows the answer once the promises settle (before the next eval)
        return json.loads(ctx.eval("shown()"))
    finally:
        ctx.close()
