import os
import shutil

from services.classifier.adapters.lexicon_source import LexiconSource
from services.classifier.domain.lexicon import DEFAULT_LEXICON
from services.classifier.domain.rules import Text, find_flags


def touch_later(path):
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_an_edited_lexicon_applies_without_restart_and_a_bad_edit_is_refused(tmp_path):
    path = tmp_path / "lexicon.yaml"
    shutil.copy(DEFAULT_LEXICON, path)
    source = LexiconSource(path)
    assert not source.refresh()  # unchanged
    text = "상담원이 너무 불친절해서 방송국에 알리겠습니다"
    assert "media" in find_flags(Text(text), source.get())

    version = source.get().version
    edited = path.read_text(encoding="utf-8").replace(f'version: "{version}"', f'version: "{version}-edited"') \
        .replace("terms: ['언론', '기자', '방송',", "terms: ['언론', '기자', '방송사',")
    path.write_text(edited, encoding="utf-8")
    touch_later(path)
    assert source.refresh() and source.get().version == f"{version}-edited"

    path.write_text(edited.replace("'금융위원회',", "'금융(위원회',", 1), encoding="utf-8")
    touch_later(path)
    assert not source.refresh()
    assert source.get().version == f"{version}-edited"  # the valid one stays
    assert "lexicon.yaml" in source.last_error and "does not compile" in source.last_error
