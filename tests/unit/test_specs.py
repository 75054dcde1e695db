import json

from services.specs import SPEC_DIR, asyncapi, write_all
from shared.bus import subject_matches


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
    assert subject_matches("voc.routed.>", "voc.routed.{affiliate}.{team}")
    assert subject_matches("voc.cmd.case.>", "voc.cmd.case.resolve")
    assert not subject_matches("voc.case.>", "voc.cmd.case.resolve")
    assert subject_matches("voc.received", "voc.received")


def test_every_message_on_the_bus_has_a_channel_a_sender_and_a_reader():
    """The spec is derived from shared/events.py: a new event cannot be left out (18 once were)."""
    from services.specs import READERS, bus_messages, channels, operations

    doc = asyncapi()
    assert {m.__name__ for m in bus_messages()} == set(doc["components"]["messages"])
    chans = channels()
    ops = operations(chans)
    known = {who for _, who in READERS}
    for name in chans:
        assert any(a == "send" and ch == name for _, a, ch in ops), f"nobody sends on {name}"
        readers = {actor for actor, a, ch in ops if a == "receive" and ch == name}
        assert readers and readers <= known, (name, readers)
    assert doc["channels"]["teamAcknowledgeCase"]["address"] == "voc.cmd.team.{affiliate}.case.acknowledge"
    assert "thanks" in doc["channels"]["customerNoticeRequested"]["parameters"]["notice"]["description"]
    assert "dead_letter" in doc["channels"]["alertRaised"]["parameters"]["reason"]["description"]


def test_openapi_documents_the_error_body_the_services_really_send():
    from services.specs import openapi

    for service in ("intake", "routing", "feedback", "classifier"):
        doc = openapi(service)
        assert "HTTPValidationError" not in json.dumps(doc)
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                answers = op["responses"]
                assert "503" in answers and "Retry-After" in answers["503"]["headers"], (service, path, method)
                if "422" in answers:
                    assert answers["422"]["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorBody"}
    feedback = openapi("feedback")["paths"]["/v1/feedback"]["post"]["responses"]
    assert {"200", "201", "400", "404", "409", "422"} <= set(feedback)


def test_documented_success_bodies_name_the_fields_the_routes_answer():
    import uuid
    from datetime import UTC, datetime

    from services.intake.domain.submission import Acceptance
    from services.intake.handlers.http import Accepted

    answer = Acceptance(uuid.uuid4(), "VOC-2026-000001", datetime.now(UTC), datetime.now(UTC), "", None,
                        None).response("secret")  # type: ignore[arg-type]
    assert set(answer) == set(Accepted.model_fields)
    from services.specs import openapi

    paths = openapi("intake")["paths"]
    assert paths["/v1/voc"]["post"]["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Accepted"}
    assert paths["/v1/voc/{ref}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CaseStatus"}


def test_affiliate_teams_get_a_typed_case_view_and_queue_list():
    """A team generating a client from the routing spec gets the case's fields and their values."""
    doc = json.loads((SPEC_DIR / "openapi-routing.json").read_text())
    ok = doc["paths"]["/v1/cases/{case_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/CaseView"}
    view = doc["components"]["schemas"]["CaseView"]
    assert view["properties"]["status"]["enum"] == ["routed", "acknowledged", "waiting_info", "resolved"]
    assert {"resolve_due", "history", "tracking_code", "flags"} <= set(view["required"])
    queues = doc["paths"]["/v1/queues"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert queues["items"] == {"$ref": "#/components/schemas/QueueInfo"}
