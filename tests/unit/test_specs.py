import json

from services.specs import SPEC_DIR, _covers, asyncapi, write_all


def test_committed_specs_match_the_code(tmp_path):
    """docs/specs is generated; run `moksori specs` after changing events or routes."""
    for path in write_all(tmp_path):
        committed = SPEC_DIR / path.name
        assert committed.exists(), f"{committed} missing: run `moksori specs`"
        assert json.loads(committed.read_text()) == json.loads(path.read_text()), f"{path.name} is stale"


def test_asyncapi_lists_every_event_with_cloudevents_headers():
    doc = asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    routed = doc["components"]["messages"]["CaseRouted"]
    assert routed["headers"]["properties"]["ce-type"] == {"const": "kr.moksori.case.routed.v1"}
    assert doc["channels"]["caseRouted"]["address"] == "voc.routed.{affiliate}.{team}"


def test_subject_filter_matching():
    assert _covers("voc.routed.>", "voc.routed.{affiliate}.{team}")
    assert _covers("voc.cmd.case.>", "voc.cmd.case.resolve")
    assert not _covers("voc.case.>", "voc.cmd.case.resolve")
    assert _covers("voc.received", "voc.received")
