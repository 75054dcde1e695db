"""The consultations' section of the office's report, from per-affiliate-and-channel sums (pure)."""

from services.feedback.domain.report import consultation_figures
from services.feedback.report_cli import render


def row(affiliate, channel, surveyed, answered, csats=(), npss=(), cess=()):
    return {"affiliate": affiliate, "channel": channel, "surveyed": surveyed, "answered": answered,
            "csat_n": len(csats), "csat_sum": sum(csats), "nps_n": len(npss),
            "promoters": sum(n >= 9 for n in npss), "detractors": sum(n <= 6 for n in npss),
            "ces_n": len(cess), "ces_sum": sum(cess)}


def test_figures_by_affiliate_channel_and_all():
    f = consultation_figures([row("card", "phone", 4, 3, (5, 4, 1), (10, 9, 2), (2, 3)),
                              row("card", "chat", 2, 1, (3,), (7,), ()),
                              row("bank", "branch", 5, 0)])
    bank, card = f["affiliates"]
    assert bank == {"affiliate": "bank", "surveyed": 5, "answered": 0, "response_pct": 0.0, "csat_avg": None,
                    "nps": None, "ces_avg": None, "by_channel": {"branch": {
                        "surveyed": 5, "answered": 0, "response_pct": 0.0, "csat_avg": None, "nps": None,
                        "ces_avg": None}}}
    assert (card["surveyed"], card["answered"], card["response_pct"]) == (6, 4, 66.7)
    assert card["csat_avg"] == 3.25 and card["nps"] == 25.0 and card["ces_avg"] == 2.5  # (2 - 1) / 4
    assert list(card["by_channel"]) == ["chat", "phone"] and card["by_channel"]["phone"]["nps"] == 33.3
    assert f["all"] == {"affiliate": "all", "surveyed": 11, "answered": 4, "response_pct": 36.4, "csat_avg": 3.25,
                        "nps": 25.0, "ces_avg": 2.5}
    assert consultation_figures([])["affiliates"] == []


def test_the_section_in_the_office_formats():
    cons = consultation_figures([row("card", "phone", 2, 1, (4,), (9,), (2,))])
    report = {"period": {"name": "2026-11-24"}, "affiliates": [], "channels": {}, "csat_distribution": {},
              "consultations": cons, "rising_topics": [], "teams": []}
    page = render(report, "html")
    assert "상담 만족도" in page and "<td>카드</td><td>전체</td><td>2</td><td>1</td><td>50.00</td>" in page
    assert "상담 만족도" not in render({**report, "consultations": consultation_figures([])}, "html")


def test_the_csv_keeps_an_affiliate_that_had_consultations_but_no_cases():
    cons = consultation_figures([row("insurance", "branch", 3, 2, (4, 5), (10,), (1, 2))])
    report = {"affiliates": [], "consultations": cons}
    lines = render(report, "csv").splitlines()
    assert lines[0].split(",")[0] == "affiliate" and "consultations_csat_avg" in lines[0]
    assert lines[1].startswith("insurance,3,2,66.7,4.5,100.0,1.5")
