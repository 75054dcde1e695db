"""The labelled Korean corpus: hand-written parts in, one train and one held-out
test file out (see corpus/README.md for how it was made).

Duplicates are dropped before the split, comparing texts with case, spacing,
punctuation, repeated letters and numbers normalised away, so the same complaint
cannot sit on both sides.

The held-out test file comes from the second writing round only (parts named `r2_*`),
written by writers who never saw the older parts, the lexicon or the model; later rounds
(`r4_*`, ...) only train, and a later line that repeats a held-out text is the one dropped. Within each
topic its texts are ordered by a hash of their normalised form and every second goes to
the test file (stratified and deterministic); everything else is training data. So the
test set is text nobody tuned the rules or chose the features on."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.classifier.domain.normalise import normalise
from shared.cloudevents import describe_validation_error
from shared.datafiles import DataFileError, json_line, jsonl_lines
from shared.events import Affiliate, Flag, Kind, Sentiment, Topic, Urgency

CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpus"
HELDOUT_ROUND = "r2_"  # parts of the writing round the test file is drawn from (later rounds only train)
TEST_EVERY = 2
# the channel each writing register comes in on
REGISTER_CHANNEL = {"app_review": "app", "web_form": "web", "email": "email", "chat": "chat", "stt": "phone",
                    "branch_note": "branch"}


class Example(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    style: str = Field(alias="register", pattern="^(app_review|web_form|email|chat|stt|branch_note|correction)$")
    channel: str | None = None
    kind: Kind
    topic: Topic
    urgency: Urgency
    flags: tuple[Flag, ...] = ()
    affiliate: Affiliate
    sentiment: Sentiment

    @model_validator(mode="after")
    def _consistent(self) -> "Example":
        if list(self.flags) != sorted(set(self.flags)):
            raise ValueError(f"flags must be sorted and distinct, got {list(self.flags)}")
        want = REGISTER_CHANNEL.get(self.style)
        if want and self.channel != want:
            raise ValueError(f"register {self.style} comes in on channel {want!r}, not {self.channel!r}")
        return self


_NON_WORD = re.compile(r"[^0-9a-z가-힣ㄱ-ㅎㅏ-ㅣ]+")


def dedupe_key(text: str) -> str:
    return _NON_WORD.sub("", normalise(text))


def example_line(ex: Example) -> str:
    """The JSONL line of an example (the corpus files, `classify corrections`' export)."""
    return json_line(ex.model_dump(mode="json", by_alias=True))


def read_jsonl(path: Path) -> list[Example]:
    """Examples, one per line (blank lines skipped); DataFileError naming the file and line of a bad one.
    Lines end at "\\n" only: U+2028 or U+0085 in a customer's text is part of the line."""
    out = []
    for n, line in jsonl_lines(path):
        if not line.strip():
            continue
        try:
            out.append(Example.model_validate_json(line))
        except ValidationError as exc:
            raise DataFileError(f"{path}:{n}: {describe_validation_error(exc)}") from None
    return out


@dataclass(frozen=True)
class Split:
    train: list[Example]
    test: list[Example]
    dropped: list[tuple[str, str]]  # (dropped id, kept id)


def split(examples: Iterable[Example], heldout: Iterable[Example] = (), later: Iterable[Example] = ()) -> Split:
    """`examples` (earlier rounds) and `later` all train; `heldout` split by topic. Read in that
    order, so a duplicate is dropped from the later round, never from the held-out one."""
    seen: dict[str, str] = {}
    by_topic: dict[str, list[tuple[str, Example]]] = defaultdict(list)
    dropped = []
    train, test = [], []
    for ex, is_heldout in [*((e, False) for e in examples), *((e, True) for e in heldout),
                           *((e, False) for e in later)]:
        key = dedupe_key(ex.text)
        if key in seen:
            dropped.append((ex.id, seen[key]))
            continue
        seen[key] = ex.id
        if is_heldout:
            by_topic[ex.topic].append((hashlib.sha256(key.encode()).hexdigest(), ex))
        else:
            train.append(ex)
    for topic in sorted(by_topic):
        for i, (_, ex) in enumerate(sorted(by_topic[topic], key=lambda p: p[0])):
            (test if i % TEST_EVERY == TEST_EVERY - 1 else train).append(ex)
    return Split(sorted(train, key=lambda e: e.id), sorted(test, key=lambda e: e.id), dropped)


def split_parts(corpus_dir: Path = CORPUS_DIR) -> Split:
    """Reads every part and splits them (half of round 2, `HELDOUT_ROUND`, is the test side)."""
    parts = sorted((corpus_dir / "parts").glob("*.jsonl"))
    if not parts:
        raise DataFileError(f"{corpus_dir / 'parts'}: no *.jsonl corpus parts")
    held = _round(HELDOUT_ROUND)

    def read(keep) -> Iterator[Example]:
        return (ex for p in parts if keep(_round(p.name)) for ex in read_jsonl(p))

    return split(read(lambda r: r < held), read(lambda r: r == held), read(lambda r: r > held))


def _round(name: str) -> int:
    """`r4_writer_g.jsonl` -> 4; the first round's parts (`card.jsonl`, ...) -> 1."""
    m = re.match(r"r(\d+)_", name)
    return int(m.group(1)) if m else 1


def build(corpus_dir: Path = CORPUS_DIR) -> Split:
    """Reads every part, writes train.jsonl and test.jsonl next to them."""
    s = split_parts(corpus_dir)
    for name, rows in (("train", s.train), ("test", s.test)):
        (corpus_dir / f"{name}.jsonl").write_text("".join(example_line(e) for e in rows), encoding="utf-8")
    return s


def corpus_digest(examples: Iterable[Example]) -> str:
    h = hashlib.sha256()
    for e in examples:
        h.update(e.model_dump_json().encode())
    return h.hexdigest()[:12]
