"""A corrected case's text may hold U+2028, U+2029 or U+0085 (JSON allows them unescaped in a string): the export
`classify corrections` writes reads back for `train --corrections` and `eval`, one example per line. A corpus file
saved with a BOM or CRLF reads too, and one that is not UTF-8 is refused naming its line."""

import json
import re

import pytest
from typer.testing import CliRunner

from services.classifier.training.corpus import Example, read_jsonl
from shared.datafiles import DataFileError

TEXTS = ["카드 결제가 두 번 됐어요\u2028환불해 주세요", "앱 로그인이 안 돼요\u0085세 번째예요", "문단\u2029나눔"]


def _examples() -> list[Example]:
    return [Example(id=f"correction-{i}", text=text, style="correction", kind="complaint", topic="card_payment",
                    urgency="high", flags=(), affiliate="card", sentiment="negative") for i, text in enumerate(TEXTS)]


def test_an_export_written_as_before_reads_back_with_its_line_separators(tmp_path):
    path = tmp_path / "corrections.jsonl"
    with path.open("w", encoding="utf-8") as f:  # raw U+2028 in the file, as `classify corrections` used to write
        for ex in _examples():
            f.write(json.dumps(ex.model_dump(mode="json", by_alias=True), ensure_ascii=False) + "\n")
    assert [e.text for e in read_jsonl(path)] == TEXTS


def test_the_export_escapes_line_separators_and_reads_back(tmp_path):
    from services.classifier.training.corpus import example_line

    path = tmp_path / "corrections.jsonl"
    path.write_text("".join(example_line(ex) for ex in _examples()), encoding="utf-8")
    raw = path.read_text(encoding="utf-8")
    assert len(raw.splitlines()) == len(TEXTS) and "\u2028" not in raw and "\\u2028" in raw
    assert read_jsonl(path) == _examples()


def test_a_bom_and_crlf_line_ends_are_read(tmp_path):
    path = tmp_path / "part.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(ex.model_dump(mode="json", by_alias=True),
                                                          ensure_ascii=False) + "\r\n"
                                                for ex in _examples()).encode())
    assert [e.text for e in read_jsonl(path)] == TEXTS


def test_a_corpus_file_that_is_not_utf8_is_refused_naming_its_line(tmp_path):
    path = tmp_path / "part.jsonl"
    lines = [json.dumps(ex.model_dump(mode="json", by_alias=True), ensure_ascii=False) for ex in _examples()]
    path.write_bytes("\n".join(lines[:2]).encode() + b"\n" + lines[2].encode("cp949", errors="replace") + b"\n")
    with pytest.raises(DataFileError, match=rf"^{re.escape(str(path))}:3: not UTF-8 text"):
        read_jsonl(path)


def test_eval_reads_a_corrections_export_with_line_separators(tmp_path):
    from services.cli import app

    path = tmp_path / "corrections.jsonl"
    path.write_text("".join(json.dumps(ex.model_dump(mode="json", by_alias=True), ensure_ascii=False) + "\n"
                            for ex in _examples()), encoding="utf-8")
    result = CliRunner().invoke(app, ["classify", "eval", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{len(TEXTS)} examples" in result.output


def test_eval_of_a_file_that_is_not_utf8_is_an_error_message(tmp_path):
    from services.cli import app

    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"id": "x", "text": "caf\xe9"}\n')
    result = CliRunner().invoke(app, ["classify", "eval", str(path)])
    assert result.exit_code == 2, result.output
    assert "bad.jsonl:1: not UTF-8 text" in result.output and "Traceback" not in result.output
