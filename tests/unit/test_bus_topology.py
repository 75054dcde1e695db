"""Subjects and names of the JetStream topology (shared/bus.py)."""


def test_a_teams_command_names_its_affiliate_for_the_dead_letter_alert():
    from shared.bus import commanding_affiliate

    assert commanding_affiliate("voc.cmd.team.card.case.resolve") == "card"
    assert commanding_affiliate("voc.cmd.team.group.case.reopen") == "group"
    for other in ("voc.cmd.case.resolve", "voc.cmd.team.bakery.case.resolve", "voc.cmd.team.card", "voc.routed.card.x"):
        assert commanding_affiliate(other) is None
