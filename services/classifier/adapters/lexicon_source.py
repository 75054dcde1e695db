"""The watch-word lexicon, reloaded without a restart when operators edit the file.

A changed file is validated before it replaces the one in use; an invalid edit (bad YAML, a
pattern that does not compile, a file saved as CP949 rather than UTF-8, anything else that fails
to load) is logged with its file and line and the previous lexicon stays in force, and the watch
goes on, so the next valid edit is taken."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from services.classifier.domain.lexicon import Lexicon, load_lexicon
from shared.datafiles import DataFileError

log = logging.getLogger(__name__)


class LexiconSource:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.current: Lexicon = load_lexicon(path)
        self._stamp = self._read_stamp()
        self.last_error: str | None = None

    def _read_stamp(self) -> tuple[int, int]:
        st = os.stat(self.path)
        return st.st_mtime_ns, st.st_size

    def get(self) -> Lexicon:
        return self.current

    def refresh(self) -> bool:
        """True when a new, valid lexicon was loaded."""
        try:
            stamp = self._read_stamp()
        except OSError as exc:
            self.last_error = f"{self.path}: {exc.strerror}"
            return False
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            fresh = load_lexicon(self.path)
        except DataFileError as exc:
            self.last_error = str(exc)
            log.error("lexicon edit rejected, keeping version %s:\n%s", self.current.version, exc)
            return False
        except Exception as exc:  # noqa: BLE001 - whatever an edit does, the lexicon in use stays
            self.last_error = f"{self.path}: cannot load: {type(exc).__name__}: {exc}"
            log.exception("lexicon edit rejected, keeping version %s: %s", self.current.version, self.last_error)
            return False
        log.info("lexicon reloaded: version %s -> %s", self.current.version, fresh.version)
        self.current, self.last_error = fresh, None
        return True


async def watch(source: LexiconSource, stop: asyncio.Event, every_s: float) -> None:
    """Refreshes every `every_s` until `stop`; an error in one round is logged and the next round still runs."""
    while not stop.is_set():
        try:
            source.refresh()
        except Exception:  # noqa: BLE001 - a watcher that died would keep the old lexicon forever, silently
            log.exception("lexicon watch of %s: refresh failed, trying again in %ss", source.path, every_s)
        try:
            await asyncio.wait_for(stop.wait(), every_s)
        except asyncio.TimeoutError:
            pass
