"""An operator's bad lexicon edit (saved as CP949, nested too deeply, anything that fails to load) is refused
with its file and line and the watch goes on, so the next valid edit is taken; at start-up the same file
fails with a message that names the file and line."""

import asyncio
import logging
import os
import re
import shutil

import pytest

from services.classifier.adapters.lexicon_source import LexiconSource, watch
from services.classifier.domain.lexicon import DEFAULT_LEXICON, load_lexicon
from shared.bizcal import load_calendar
from shared.datafiles import DataFileError


def touch_later(path, seconds=1):
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


@pytest.fixture
def lexicon(tmp_path):
    path = tmp_path / "lexicon.yaml"
    shutil.copy(DEFAULT_LEXICON, path)
    return path


def _cp949(text: str) -> bytes:
    """The lexicon as a Korean Windows editor saves it: a Korean comment on line 1, in CP949."""
    return ("# 감시어 사전\n" + text).encode("cp949", errors="replace")


def _bumped(text: str, version: str) -> str:
    return text.replace(f'version: "{version}"', f'version: "{version}-next"')


def test_a_cp949_save_keeps_the_old_lexicon_and_the_next_valid_edit_is_taken(lexicon, caplog):
    source = LexiconSource(lexicon)
    version, text = source.get().version, lexicon.read_text(encoding="utf-8")

    lexicon.write_bytes(_cp949(text))
    touch_later(lexicon, 1)
    with caplog.at_level(logging.ERROR):
        assert source.refresh() is False
    assert source.get().version == version
    assert source.last_error.startswith(f"{lexicon}:1: not UTF-8")
    assert str(lexicon) in caplog.text

    lexicon.write_text(_bumped(text, version), encoding="utf-8")
    touch_later(lexicon, 2)
    assert source.refresh() is True
    assert source.get().version == f"{version}-next" and source.last_error is None


def test_the_watch_outlives_a_cp949_save_and_takes_the_next_valid_edit(lexicon):
    async def run():
        source = LexiconSource(lexicon)
        version, text = source.get().version, lexicon.read_text(encoding="utf-8")
        stop = asyncio.Event()
        task = asyncio.create_task(watch(source, stop, 0.01))
        try:
            lexicon.write_bytes(_cp949(text))
            touch_later(lexicon, 1)
            for _ in range(200):
                await asyncio.sleep(0.01)
                if source.last_error:
                    break
            assert not task.done(), task.exception() if task.done() else None
            assert "not UTF-8" in source.last_error and source.get().version == version

            lexicon.write_text(_bumped(text, version), encoding="utf-8")
            touch_later(lexicon, 2)
            for _ in range(200):
                await asyncio.sleep(0.01)
                if source.get().version != version:
                    break
            assert source.get().version == f"{version}-next" and source.last_error is None
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)

    asyncio.run(run())


def test_the_watch_logs_an_unexpected_error_and_keeps_watching(lexicon, caplog):
    class Flaky(LexiconSource):
        calls = 0

        def refresh(self):
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise RuntimeError("disk on fire")
            return super().refresh()

    async def run():
        source, stop = Flaky(lexicon), asyncio.Event()
        task = asyncio.create_task(watch(source, stop, 0.01))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if Flaky.calls >= 3:
                break
        stop.set()
        await asyncio.wait_for(task, 5)

    with caplog.at_level(logging.ERROR):
        asyncio.run(run())
    assert Flaky.calls >= 3
    assert "disk on fire" in caplog.text and str(lexicon) in caplog.text


def test_a_lexicon_nested_too_deeply_is_refused_and_the_old_one_stays(lexicon):
    source = LexiconSource(lexicon)
    version = source.get().version
    lexicon.write_text("[" * 5000, encoding="utf-8")
    touch_later(lexicon)
    assert source.refresh() is False
    assert source.get().version == version
    assert source.last_error.startswith(str(lexicon)) and "nested too deeply" in source.last_error


def test_any_other_load_failure_is_recorded_and_the_old_lexicon_stays(lexicon, monkeypatch):
    import services.classifier.adapters.lexicon_source as ls

    source = LexiconSource(lexicon)
    version = source.get().version

    def boom(path):
        raise MemoryError("too big")

    monkeypatch.setattr(ls, "load_lexicon", boom)
    touch_later(lexicon)
    assert source.refresh() is False
    assert source.get().version == version
    assert str(lexicon) in source.last_error and "MemoryError" in source.last_error


def test_a_cp949_lexicon_at_start_up_names_the_file_and_line(lexicon):
    text = lexicon.read_text(encoding="utf-8").split("\n")
    lexicon.write_bytes("\n".join(text[:3] + ["# 운영자 메모"] + text[3:]).encode("cp949", errors="replace"))
    where = re.escape(str(lexicon))
    with pytest.raises(DataFileError, match=rf"^{where}:4: not UTF-8 text \(byte 0x[0-9a-f]{{2}} at column 3\)"):
        LexiconSource(lexicon)


def test_a_lexicon_nested_too_deeply_at_start_up_names_the_file(lexicon):
    lexicon.write_text("[" * 5000, encoding="utf-8")
    with pytest.raises(DataFileError, match=rf"^{re.escape(str(lexicon))}: not valid YAML: nested too deeply"):
        LexiconSource(lexicon)


def test_a_bad_pattern_in_a_multi_line_list_names_its_own_line(lexicon):
    lines = lexicon.read_text(encoding="utf-8").split("\n")
    first = next(i for i, line in enumerate(lines) if line.strip().startswith("terms: [") and not line.endswith("]"))
    at = next(i for i in range(first + 1, len(lines)) if lines[i].lstrip().startswith("'"))
    lines[at] = lines[at].replace("'", "'(", 1)  # the line's first pattern no longer compiles
    lexicon.write_text("\n".join(lines), encoding="utf-8")
    where = re.escape(str(lexicon))
    with pytest.raises(DataFileError, match=rf"^{where}:{at + 1}: flags\.\w+\.terms: .*does not compile"):
        load_lexicon(lexicon)


def test_an_impossible_date_names_its_line(tmp_path):
    p = tmp_path / "calendar.yaml"
    p.write_text("timezone: Asia/Seoul\nholidays:\n  2026:\n    - {date: 2026-01-01, name: 신정}\n"
                 "    - {date: 2026-02-30, name: 없는 날}\n", encoding="utf-8")
    where = re.escape(str(p))
    with pytest.raises(DataFileError, match=rf"^{where}:5: not valid YAML: day is out of range for month"):
        load_calendar(p)

