"""`moksori classify --input FILE`: one output line per input line, whatever the input line holds. A line that is
not UTF-8, is blank or has an id that is not a string or an integer gets an error row naming its line; a UTF-8
byte-order mark and CRLF line ends are accepted; U+2028 inside a text neither splits the line in nor out."""

import io
import json

import pytest
from typer.testing import CliRunner

from services.classifier.offline import classify_stream
from shared.events import Classification


class Echo:
    """A classifier that records each text it is given in `notes`."""

    def classify_batch(self, items):
        return [Classification(kind="inquiry", topic="other", urgency="low", affiliate="group", sentiment="neutral",
                               confidence={}, notes=(item.text,)) for item in items]


def run(data: bytes) -> tuple[list[dict], list[tuple[int, str]], str]:
    out = io.StringIO()
    errors = classify_stream(io.BytesIO(data), out, Echo())
    return [json.loads(line) for line in out.getvalue().split("\n")[:-1]], errors, out.getvalue()


def test_a_line_that_is_not_utf8_gets_its_own_error_row_and_the_others_are_classified():
    rows, errors, _ = run(b'{"id": 1, "text": "ok"}\n{"id": 2, "text": "caf\xe9"}\n{"id": 3, "text": "ok"}\n')
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert rows[0]["notes"] == ["ok"] and rows[2]["notes"] == ["ok"]
    assert rows[1]["error"] == "line 2: not UTF-8 text (byte 0xe9 at column 23); the input must be UTF-8"
    assert errors == [(2, "not UTF-8 text (byte 0xe9 at column 23); the input must be UTF-8")]


def test_a_byte_order_mark_and_crlf_line_ends_are_accepted():
    rows, errors, _ = run('\ufeff{"id": 1, "text": "카드 분실"}\r\n{"id": 2, "text": "ok"}\r\n'.encode())
    assert errors == []
    assert [(r["id"], r["notes"]) for r in rows] == [(1, ["카드 분실"]), (2, ["ok"])]


def test_a_blank_line_gets_an_error_row_so_output_lines_stay_aligned():
    rows, errors, _ = run(b'{"id": 1, "text": "ok"}\n\n   \r\n{"id": 4, "text": "ok"}\n')
    assert len(rows) == 4
    assert [r["id"] for r in rows] == [1, None, None, 4]
    assert rows[1]["error"].startswith("line 2: blank line") and rows[2]["error"].startswith("line 3: blank line")
    assert [n for n, _ in errors] == [2, 3]


@pytest.mark.parametrize("bad_id", ["true", "false", "1.0"])  # lax parsing read these as 1, 0, 1
def test_an_id_that_is_not_a_string_or_an_integer_is_an_error(bad_id):
    rows, errors, _ = run(f'{{"id": 1, "text": "ok"}}\n{{"id": {bad_id}, "text": "카드 분실"}}\n'.encode())
    assert "notes" in rows[0] and "error" in rows[1] and rows[1]["error"].startswith("line 2: id")
    assert [n for n, _ in errors] == [2]


def test_line_separators_inside_a_text_split_neither_the_input_nor_the_output():
    text = "결제가 두 번 됐어요\u2028환불해 주세요\u0085빨리요\u2029"
    rows, errors, raw = run((json.dumps({"id": 1, "text": text}, ensure_ascii=False) + "\n").encode())
    assert errors == [] and rows[0]["notes"] == [text]
    assert len(raw.splitlines()) == 1  # escaped in the output, so even str.splitlines() sees one line


def test_the_cli_writes_one_line_per_input_line_and_reports_each_bad_line(tmp_path):
    from services.cli import app

    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(b'\xef\xbb\xbf{"id": 1, "text": "\xec\xb9\xb4\xeb\x93\x9c \xeb\xb6\x84\xec\x8b\xa4"}\r\n'
                    b'{"id": 2, "text": "caf\xe9"}\r\n\r\n{"id": true, "text": "ok"}\r\n{"id": 5, "text": "ok"}\r\n')
    result = CliRunner().invoke(app, ["classify", "--input", str(src), "--output", str(dst)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for n in (2, 3, 4):
        assert f"{src}:{n}: " in result.stderr
    rows = [json.loads(line) for line in dst.read_text(encoding="utf-8").split("\n")[:-1]]
    assert [r["id"] for r in rows] == [1, 2, None, True, 5]
    assert rows[0]["topic"] == "card_loss_theft" and "error" not in rows[0] and "error" not in rows[4]
    assert [r["error"].split(":")[0] for r in rows[1:4]] == ["line 2", "line 3", "line 4"]
