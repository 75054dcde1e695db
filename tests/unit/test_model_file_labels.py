"""A model file whose heads name labels the event contract does not have (a renamed topic, say) fails to load,
naming the file and the #meta line, instead of loading and then failing every classification that predicts the
label (in the service: a whole batch, redelivered forever)."""

import json
import re
from typing import get_args

import pytest

from services.classifier.adapters.model_file import DEFAULT_MODEL, load_model
from services.classifier.domain.model import HEADS
from shared.datafiles import DataFileError
from shared.events import Topic, Urgency


def _with_heads(tmp_path, change) -> str:
    lines = DEFAULT_MODEL.read_text(encoding="utf-8").split("\n")
    meta = json.loads(lines[1][len("#meta "):])
    change(meta["heads"])
    lines[1] = "#meta " + json.dumps(meta, ensure_ascii=False)
    path = tmp_path / "model.tsv"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _rename(head, old, new):
    def change(heads):
        heads[head] = [new if label == old else label for label in heads[head]]
    return change


def test_every_head_is_checked_against_the_contract():
    from services.classifier.adapters.model_file import CONTRACT_LABELS

    assert set(CONTRACT_LABELS) == set(HEADS)
    assert CONTRACT_LABELS["topic"] == set(get_args(Topic)) and CONTRACT_LABELS["urgency"] == set(get_args(Urgency))


@pytest.mark.parametrize("change,message", [
    (_rename("topic", "card_loss_theft", "card_lost"), r"head 'topic': labels \['card_lost'\] are not in the event"),
    (_rename("kind", "praise", "compliment"), r"head 'kind': labels \['compliment'\]"),
    (_rename("affiliate", "card", "cards"), r"head 'affiliate': labels \['cards'\]"),
    (_rename("sentiment", "neutral", 0), r"head 'sentiment': labels \[0\]"),
    (_rename("urgency", "critical", "urgent"), r"head 'urgency': labels \['urgent'\]"),
])
def test_a_label_outside_the_contract_fails_the_load_naming_the_meta_line(tmp_path, change, message):
    path = _with_heads(tmp_path, change)
    with pytest.raises(DataFileError, match=rf"^{re.escape(str(path))}:2: {message}"):
        load_model(path)


def test_a_repeated_label_fails_the_load(tmp_path):
    path = _with_heads(tmp_path, _rename("topic", "loan", "card_payment"))
    with pytest.raises(DataFileError, match=rf"^{re.escape(str(path))}:2: head 'topic': labels repeat"):
        load_model(path)


def test_an_urgency_head_without_critical_fails_the_load(tmp_path):
    def drop_critical(heads):
        heads["urgency"] = [label for label in heads["urgency"] if label != "critical"]

    path = _with_heads(tmp_path, drop_critical)
    where = re.escape(str(path))
    with pytest.raises(DataFileError, match=rf"^{where}:2: head 'urgency': missing labels \['critical'\]"):
        load_model(path)
