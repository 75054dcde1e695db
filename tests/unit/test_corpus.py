"""The shipped corpus: big enough, covers the contract, and its split is clean."""

from __future__ import annotations

from collections import Counter

import pytest

from services.classifier.adapters.model_file import DEFAULT_MODEL, load_model
from services.classifier.training.corpus import CORPUS_DIR, HELDOUT_ROUND, dedupe_key, read_jsonl, split_parts
from shared.events import Kind, Topic

TRAIN = read_jsonl(CORPUS_DIR / "train.jsonl")
TEST = read_jsonl(CORPUS_DIR / "test.jsonl")
REGISTERS = {"app_review", "web_form", "email", "chat", "stt", "branch_note"}


def test_the_corpus_is_at_least_1500_examples_covering_every_topic_kind_and_register():
    every = TRAIN + TEST
    assert len(every) >= 1500
    for field, codes in (("topic", Topic.__args__), ("kind", Kind.__args__)):
        counts = Counter(getattr(e, field) for e in every)
        assert set(codes) <= set(counts), f"missing {field}: {set(codes) - set(counts)}"
    assert {e.style for e in every} == REGISTERS
    for topic in Topic.__args__:  # the held-out side can measure every topic
        assert sum(e.topic == topic for e in TEST) >= 5, topic


def test_the_committed_split_is_what_the_parts_give():
    s = split_parts()
    assert [e.id for e in s.train] == [e.id for e in TRAIN] and [e.id for e in TEST] == [e.id for e in s.test], \
        "run `moksori classify corpus` and commit train.jsonl / test.jsonl"


def test_the_test_side_is_only_the_heldout_writing_round_and_half_of_it():
    newest = {e.id for p in (CORPUS_DIR / "parts").glob(f"{HELDOUT_ROUND}*.jsonl") for e in read_jsonl(p)}
    assert {e.id for e in TEST} <= newest
    assert 0.4 <= len(TEST) / len(newest) <= 0.6


def test_no_text_is_on_both_sides_of_the_split():
    assert not {dedupe_key(e.text) for e in TRAIN} & {dedupe_key(e.text) for e in TEST}


def _trigrams(text: str) -> set[str]:
    k = dedupe_key(text)
    return {k[i:i + 3] for i in range(len(k) - 2)}


def test_no_test_text_is_a_near_copy_of_a_training_text():
    train = [(_trigrams(e.text), e.id) for e in TRAIN]
    close = []
    for e in TEST:
        g = _trigrams(e.text)
        for h, tid in train:
            if len(g) and len(h) and len(g & h) / len(g | h) >= 0.8:
                close.append((e.id, tid))
    assert not close, f"near-duplicates across the split: {close[:10]}"


def test_the_committed_model_was_trained_on_the_committed_train_split():
    from services.classifier.training.corpus import corpus_digest

    meta = load_model(DEFAULT_MODEL).meta
    assert meta["corpus_sha256_12"] == corpus_digest(TRAIN) or meta.get("corrections"), \
        "the model is stale: run `moksori classify train`"


@pytest.mark.parametrize("damage,where", [
    (lambda lines: lines[:10] + [lines[10].replace("\t", " ", 1)] + lines[11:], ":11:"),
    (lambda lines: lines[:12] + [lines[12].rsplit(" ", 1)[0]] + lines[13:], ":13:"),
    (lambda lines: ["garbage"] + lines[1:], ":1:"),
])
def test_a_broken_model_file_fails_naming_the_file_and_line(tmp_path, damage, where):
    from shared.datafiles import DataFileError

    lines = DEFAULT_MODEL.read_text(encoding="utf-8").split("\n")
    bad = tmp_path / "model.tsv"
    bad.write_text("\n".join(damage(lines)), encoding="utf-8")
    with pytest.raises(DataFileError, match=f"model.tsv{where}"):
        load_model(bad)


def test_a_bad_corpus_line_is_refused_with_file_line_and_reason(tmp_path):
    from shared.datafiles import DataFileError

    good = TRAIN[0].model_dump(mode="json", by_alias=True)
    import json

    part = tmp_path / "part.jsonl"
    part.write_text(json.dumps(good, ensure_ascii=False) + "\n" +
                    json.dumps({**good, "id": "x-2", "channel": "email" if good["channel"] != "email" else "app"},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"part.jsonl:2: .*channel"):
        read_jsonl(part)


def test_the_external_check_set_shares_no_text_with_the_corpus():
    external = [e for p in sorted((CORPUS_DIR / "external").glob("*.jsonl")) for e in read_jsonl(p)]
    assert len(external) >= 400
    assert not {dedupe_key(e.text) for e in external} & {dedupe_key(e.text) for e in TRAIN + TEST}


def test_a_later_round_repeating_a_held_out_text_loses_its_copy_not_the_test_side(tmp_path):
    import json

    (tmp_path / "parts").mkdir()
    held = [e for e in TEST if e.topic == "loan"][:2]
    first = TRAIN[0]

    def write(name, examples):
        (tmp_path / "parts" / name).write_text("".join(
            json.dumps(e.model_dump(mode="json", by_alias=True), ensure_ascii=False) + "\n" for e in examples),
            encoding="utf-8")

    write("card.jsonl", [first])
    write(f"{HELDOUT_ROUND}writer_a.jsonl", held)
    # a later writer happens to repeat a held-out text (spacing and punctuation differ) and a first-round one
    write("r4_writer_z.jsonl", [held[1].model_copy(update={"id": "R4Z-0001", "text": held[1].text.replace(" ", "") + "!!"}),
                                first.model_copy(update={"id": "R4Z-0002"})])
    s = split_parts(tmp_path)
    assert {e.id for e in s.train + s.test} == {first.id, held[0].id, held[1].id}
    assert sorted(s.dropped) == sorted([("R4Z-0001", held[1].id), ("R4Z-0002", first.id)])
