"""Auditable rules (../shared/CLASSIFIER_CONTRACT.md): risk flags and urgency.
Pure functions of the text and the lexicon; every flag and every critical or high
urgency carries its evidence span and the name of the rule that matched."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from services.classifier.domain.lexicon import GUARD_PREFIX, FlagRule, Guards, Lexicon, Patterns, Urgency, one_of
from services.classifier.domain.normalise import compose_jamo, has_split_syllables
from services.classifier.domain.prefilter import Prefilter
from shared.events import Evidence

CRITICAL_TOPIC = {
    "card_lost_or_stolen": "card_loss_theft", "unauthorized_charge": "card_loss_theft",
    "scam_loss": "fraud_phishing", "account_takeover": "fraud_phishing", "loan_in_my_name": "fraud_phishing",
    "scam_at_branch": "fraud_phishing", "unauthorized_withdrawal": "fraud_phishing",
}
# unauthorized_charge's hit on an account or a trade, not a card (find_critical): an account taken over
ACCOUNT_CHARGE = "unauthorized_withdrawal"
CARD_REACH, ACCOUNT_REACH = 12, 20  # characters either side of the hit in which its words are looked for


@dataclass(frozen=True)
class Span:
    start: int
    end: int


_one_of = lru_cache(maxsize=1024)(one_of)  # per pattern group, compiled once


@dataclass(frozen=True, slots=True)
class Forms:
    """The forms of a text the rules search besides the text as written: without whitespace,
    for STT output that lost its spacing, and, where letters were typed apart ("ㅅ ㅐ ㄲ ㅣ"),
    with them put together ("새끼"; `spans`: each composed letter's span in `compact`)."""
    compact: str
    composed: str | None
    spans: list[tuple[int, int]]

    @classmethod
    def of(cls, raw: str) -> Forms:
        compact = "".join(raw.split())  # str.split() splits where str.isspace() holds
        composed, spans = compose_jamo(compact) if has_split_syllables(compact) else (None, [])
        return cls(compact, composed, spans)

    @property
    def literal_text(self) -> str:
        """What a prefilter looks for literals in."""
        return self.compact if self.composed is None else f"{self.compact}\n{self.composed}"

class Text:
    """The text as written plus a copy without whitespace, for STT output that lost
    its spacing; matches in the copy map back to offsets in the original. With the lexicon's
    prefilter, only the patterns whose required literal text occurs are run."""

    def __init__(self, raw: str, prefilter: Prefilter | None = None, forms: Forms | None = None) -> None:
        """`forms`: `Forms.of(raw)`, when the caller has it already."""
        self.raw = raw
        forms = forms or Forms.of(raw)
        self.compact = forms.compact
        self._index: list[int] | None = None  # built when a match in the compact copy needs mapping back
        self.composed = forms.composed
        spans = forms.spans
        self._composed_spans = spans
        self._composed_starts = [a for a, _ in spans]
        self._composed_ends = [b for _, b in spans]
        self.prefilter = prefilter
        self._literal_text = forms.literal_text
        # a bit per pattern the text can match (all bits set without a prefilter: -1 & mask is mask)
        self.possible = prefilter.mask(forms.literal_text) if prefilter else -1

    @property
    def present(self) -> frozenset[str]:
        """The prefilter's literals the text contains (what `possible` was worked out from)."""
        return self.prefilter.present(self._literal_text) if self.prefilter else frozenset()

    def find(self, patterns: Patterns, start: int = 0, end: int | None = None) -> Iterator[Span]:
        end = len(self.raw) if end is None else end
        if self.prefilter is not None:
            mask, members = self.prefilter.group(patterns)
            possible = self.possible
            if not possible & mask:
                return
            patterns = [p for bit, p in members if possible & bit]
        elif len(patterns) > 1:  # one search over the whole group first: most groups do not match at all
            group = _one_of(patterns)
            if not group.search(self.raw, start, end) and \
                    not group.search(self.compact, self._to_compact(start), self._to_compact(end)) and \
                    (self.composed is None or not group.search(self.composed)):
                return
        seen: set[int] = set()
        for p in patterns:
            for m in p.finditer(self.raw, start, end):
                if m.end() > m.start():
                    seen.add(m.start())
                    yield Span(m.start(), m.end())
            cs, ce = self._to_compact(start), self._to_compact(end)
            for m in p.finditer(self.compact, cs, ce):
                if m.end() > m.start():
                    s = self.index[m.start()]
                    if s not in seen:
                        seen.add(s)
                        yield Span(s, self.index[m.end() - 1] + 1)
            if self.composed is not None:
                spans = self._composed_spans
                # the syllables wholly inside the window
                ks, ke = bisect.bisect_left(self._composed_starts, cs), bisect.bisect_right(self._composed_ends, ce)
                for m in p.finditer(self.composed, ks, ke):
                    if m.end() > m.start():
                        s = self.index[spans[m.start()][0]]
                        if s not in seen:
                            seen.add(s)
                            yield Span(s, self.index[spans[m.end() - 1][1] - 1] + 1)

    def could_match(self, patterns: Patterns) -> bool:
        """False when the prefilter rules out every pattern of the group (cheaper than `find`)."""
        return self.prefilter is None or self.possible & self.prefilter.group(patterns)[0] != 0

    @property
    def index(self) -> list[int]:
        """Where each character of the compact copy stands in the raw text."""
        if self._index is None:
            self._index = [i for i, ch in enumerate(self.raw) if not ch.isspace()]
        return self._index

    def _to_compact(self, pos: int) -> int:
        if pos <= 0:
            return 0
        if pos >= len(self.raw):
            return len(self.compact)
        return bisect.bisect_left(self.index, pos)

    def any(self, patterns: Patterns, start: int = 0, end: int | None = None) -> Span | None:
        return next(self.find(patterns, start, end), None)

    def count(self, patterns: Patterns) -> int:
        return sum(1 for _ in self.find(patterns))


def evidence_of(t: Text, field: str, label: str, rule: str, span: Span) -> Evidence:
    return Evidence(field=field, label=label, rule=rule, text=t.raw[span.start:span.end],
                    start=span.start, end=span.end)


GUARDED_FLAGS = ("regulator", "media", "legal")  # the customer escalating: scammers, staff and negation excluded
IMPERSONATION_GAP = 6  # a guard this close after the term counts whatever stands between ("금감원 직원이라는")
# further off, a guard counts only within the term's own clause: the words between are a name or a title
# ("금융감독원 팀장 김철수라는 사람이") or the quoted message itself ("금감원에서 민원이 접수됐다는 문자")
IMPERSONATION_REACH = 20
# what ends a clause: punctuation, or a connective or final ending ("금감원에 민원 넣었는데 직원이라는 사람이"
# is two clauses, and the guard is not about the term)
CLAUSE_BREAK = re.compile(r"[.!?,;/…\n]|[는은던]데|지만|니까|으니|[어아여해]서|(?<!에)서(?=\s)|고서|더니|면서|다가|길래|[하되았었였했]자(?=\s)"
                          r"|(?:[었았였했겠]|하|되|넣)고(?=\s)|[요죠](?=\s)|니다|[었았였했겠]다(?=\s)")
# Someone else as the subject right before the term: staff or the bank ("은행 직원이 금감원에 민원 넣어도
# 소용없다고"), the other party of an accident, or a caller posing as someone ("경찰이라는 사람이 고소 …"),
# with at most the customer as the one spoken to ("상담원이 저보고", "상대방이 저를") and an adverb between
# (after a caller posing as someone, any two words). The customer is reporting what someone else did or said,
# not escalating. A bank or branch with 에서 may be where the customer was ("지점에서 바로 경찰에 신고했어요"),
# so it counts only right before the term.
OTHER_AGENT = re.compile(
    r"(?:(?:(?:직원|상담원|상담사|행원|텔러|담당자|지점장|매니저|설계사|상대방)(?:분|님)?\s*(?:이|가|께서)"
    r"|(?:은행|지점|창구|카드사|증권사|보험사)\s*(?:이|가))"
    r"\s*(?:(?:저|나|저희)(?:한테|에게|보고|더러|를|을)\s*|(?:제|내)게\s*)?['\"‘“]?\s*"
    r"(?:(?:바로|즉시|곧바로|직접|먼저|대신|이미|결국|또)\s*)?"
    r"|(?:이)?라(?:는|고\s*하는)\s*(?:사람|분|남자|여자|놈)\s*(?:이|가)\s*(?:\S+\s*){0,2}"
    r"|(?:은행|지점|창구|카드사|증권사|보험사)\s*(?:에서|측에서)\s*)$")
AGENT_REACH = 30  # characters before the term searched for OTHER_AGENT
POSING = re.compile(r"라(?:는|고\s*하는)\s*(?:사람|분|남자|여자|놈)")  # OTHER_AGENT's caller posing as someone


def _clause_start(t: Text, pos: int, reach: int) -> int:
    """Where the clause that `pos` stands in starts, looking back at most `reach` characters."""
    start = max(0, pos - reach)
    breaks = [m.end() for m in CLAUSE_BREAK.finditer(t.raw, start, pos)]
    return breaks[-1] if breaks else start


QUOTATIVE = re.compile(r"\s*(?:이|라|다)")  # the guards a phrase can stand before: "…라는 사람", "…다는 문자"


def _impersonation(t: Text, guards: Patterns, term: Span, prompt: Span | None = None) -> bool:
    """`prompt`: a `prompted` guard's match after the term; a guard starting inside it is part of the
    suggestion ("신고하라고 해서": "라고 해서"), not a scammer's title."""
    end = min(len(t.raw), term.end + IMPERSONATION_REACH + 12)
    return any((prompt is None or not prompt.start <= s.start < prompt.end) and
               (s.start <= term.end + IMPERSONATION_GAP or
                (s.start <= term.end + IMPERSONATION_REACH and QUOTATIVE.match(t.raw, s.start) is not None
                 and not CLAUSE_BREAK.search(t.raw, term.end, s.start)))
               for s in t.find(guards, term.end, end))


def _other_agent(t: Text, term: Span) -> re.Match | None:
    return OTHER_AGENT.search(t.raw, _clause_start(t, term.start, AGENT_REACH), term.start)


# Someone else's suggestion the customer then takes up ("직원이 금감원에 민원 넣으라고 하던데 넣겠습니다"): the flag's
# commitment verb (lexicon: flags.<flag>.commitment) in a later clause of the same sentence, with no one else as
# that clause's subject, not quoted or asked ("넣었대요", "넣을 거냐고") and not negated, restores the hit that
# OTHER_AGENT or a `prompted` guard cancelled. Its evidence runs from the term to the commitment.
COMMIT_REACH = 40  # characters after the term in which the commitment is looked for
SENTENCE_END = re.compile(r"[.!?\n]")
AGENT_SUBJECT = re.compile(r"(?:직원|상담원|상담사|행원|텔러|담당자|지점장|매니저|설계사|상대방)(?:분|님)?\s*(?:이|가|께서)"
                           r"(?![가-힣])|(?:은행|지점|창구|카드사|증권사|보험사)\s*(?:이|가|측에서)(?![가-힣])")
NOT_OWN = re.compile(r"\S*?(?:다고|냐고|라고|냐|는지|나요|까요|대요|댔|답니다|다며|다는|래요)")
OWN_COMMITMENT = "own_commitment"  # the evidence's rule, after the flag's name
WORD_REST = re.compile(r"\S*")  # the evidence runs to the end of the commitment's word ("넣겠" -> "넣겠습니다")


def _own_commitment(t: Text, rule: FlagRule, g: Guards, term: Span) -> Span | None:
    if not rule.commitment:
        return None
    end = min(len(t.raw), term.end + COMMIT_REACH)
    stop = SENTENCE_END.search(t.raw, term.end, end)
    end = stop.start() if stop else end
    for c in t.find(rule.commitment, term.end, end):
        breaks = [m.end() for m in CLAUSE_BREAK.finditer(t.raw, term.end, c.start)]
        if not breaks:
            continue  # the suggestion's own clause ("직원이 금감원에 민원 넣었어요"): staff acting
        clause = breaks[-1]
        if AGENT_SUBJECT.search(t.raw, clause, c.start) or NOT_OWN.match(t.raw, c.end) or \
                t.any(g.negation, clause, min(len(t.raw), c.end + 10)):
            continue
        return Span(c.start, WORD_REST.match(t.raw, c.end).end())
    return None


# In a branch staff note (the branch channel, or a text opening like one: "70대 고객 내점"), a police report with
# no subject of the customer's side in its clause is the branch's own ("인출 보류, 지점장 보고 후 112 신고함."):
# staff acting, not the customer's legal action. The customer's report stays: with the customer as the subject
# ("고객이 경찰에 직접 신고함", "고객 본인 경찰 신고 예정"), in the customer's words ("경찰에 신고하겠다며 항의"), or
# made before the customer came in ("112 신고 후 바로 방문").
STAFF_NOTE_OPENING = re.compile(r"\s*(?:\[[^\]]{1,12}\]\s*)?(?:\d{1,2}:\d{2}\s*)?(?:\S+\s+){0,3}?고객\s*"
                                r"(?:\([^)]{0,30}\)\s*)?(?:\S+\s+)?내점")
POLICE = re.compile(r"경찰|112|지구대|수사대")
CUSTOMER_SIDE = re.compile(r"(?:고객|본인|손님|아들|딸|자녀|가족|남편|아내|부인|보호자|부친|모친)(?:님|분)?\s*"
                           r"(?:(?:이|가|은|는|께서|측)(?![가-힣])|직접)|고객\s*본인")
CUSTOMERS_WORDS = re.compile(r"[^.,\n]{0,12}?(?:다며|라며|다고|라고|겠)"
                             r"|\s*(?:하고|한\s*뒤|후)\s*(?:바로\s*|곧바로\s*)?(?:방문|내점|오심|옴|왔|찾아)")


def is_staff_note(text: str) -> bool:
    """A text that opens like a branch staff note ("고객 내점.", "70대 고객 내점,", "[긴급] 고객(80대) 내점")."""
    return STAFF_NOTE_OPENING.match(text) is not None


def _branch_report(t: Text, term: Span) -> bool:
    if not POLICE.search(t.raw, term.start, term.end):
        return False
    return CUSTOMER_SIDE.search(t.raw, _clause_start(t, term.start, AGENT_REACH), term.end) is None and \
        CUSTOMERS_WORDS.match(t.raw, term.end) is None


# Abuse the customer reports hearing is not abuse aimed at staff: the word is quoted (a quotative or a verb
# of speech right after it) and, in its clause, the customer is the one it was aimed at or staff the one who
# said it ("상담원이 저한테 씨발이라고 욕을 했어요"), or the customer heard it ("…라는 소리를 들었어요"). With the
# customer as the speaker ("제가 …라고 했어요") or a staff note quoting the customer ("고객이 직원에게 '…'라고
# 욕설함"), the flag stays. A threat is quoted the same way ("상담원이 저한테 죽여버린다고 했어요", "…겠다는 협박을
# 받았어요"); said outright ("죽여버린다고", "죽여버릴거야"), it is the customer's.
QUOTED_AFTER = re.compile(r"\S{0,3}?\s*['\"’”]?\s*(?:(?:이)?라(?:고|며|면서|는)|란\s|다는\s*(?:욕|말|소리|협박))"
                          r"|\S{0,3}?\s*['\"’”]\s*(?:하고|하면서|하며)|\s*(?:소리|욕)(?:을|를|까지|도)?\s"
                          r"|(?:(?<=냐)|(?<=야)|(?<=라))고\s*(?:했|하더|하네|하시|그러|물어|묻)"
                          r"|\S{0,3}?다고\s*(?:했|하더|하네|하시|그러|협박)")
HEARD = re.compile(r"(?:욕|욕설|막말|폭언|말|소리)(?:을|를|까지|도)?\s*(?:들었|들어|듣고|들음|먹었|당했|당함)"
                   r"|협박(?:을|까지|도)?\s*(?:들었|당했|당함|받았|받음)")
AIMED_AT_CUSTOMER = re.compile(r"(?<![가-힣])(?:(?:저|제|나|내|저희)(?:한테|에게|보고|더러)|(?:제|내)게)(?![가-힣])"
                               r"|(?:직원|상담원|상담사|행원|텔러|담당자|지점장|매니저|설계사)(?:분|님)?\s*(?:이|가|께서)")
CUSTOMER_SPEAKER = re.compile(r"(?<![가-힣])(?:제가|내가)(?![가-힣])")
QUOTE_REACH = 24  # characters after the word in which the quote's verb is looked for


def _reported_abuse(t: Text, term: Span) -> bool:
    quote = QUOTED_AFTER.match(t.raw, term.end, min(len(t.raw), term.end + 10))
    if quote is None:
        return False
    if HEARD.search(t.raw, quote.start(), min(len(t.raw), quote.end() + QUOTE_REACH)):
        return True
    clause = _clause_start(t, term.start, AGENT_REACH)
    return AIMED_AT_CUSTOMER.search(t.raw, clause, term.start) is not None and \
        CUSTOMER_SPEAKER.search(t.raw, clause, term.start) is None


def _flag_plan(pf: Prefilter, flags: dict) -> tuple:
    return tuple((flag, pf.group(rule.terms)[0], rule) for flag, rule in flags.items())


def find_flags(t: Text, lex: Lexicon, staff_note: bool = False) -> dict[str, Evidence]:
    """`staff_note`: the text is a branch staff note (its police reports with no customer as the subject are
    the branch's own)."""
    g = lex.guards
    found: dict[str, Evidence] = {}
    if t.prefilter is None:
        plan = tuple((flag, -1, rule) for flag, rule in lex.flags.items())
    else:  # each flag's prefilter mask worked out once per lexicon, not once per text
        plan = t.prefilter.plan(lex.flags, lambda pf: _flag_plan(pf, lex.flags))
    possible = t.possible
    for flag, mask, rule in plan:
        if not possible & mask:
            continue
        guarded = flag in GUARDED_FLAGS
        window = rule.window or g.window
        for term in t.find(rule.terms):
            after_end = min(len(t.raw), term.end + window)
            guard_end = min(len(t.raw), term.end + g.window + 6)
            prompt = t.any(g.prompted, term.end, guard_end) if guarded and g.prompted else None
            if guarded and _impersonation(t, g.impersonation, term, prompt):
                continue  # a scammer posing as the authority: not the customer escalating
            if flag == "legal" and staff_note and _branch_report(t, term):
                continue  # the branch reported it to the police: staff acting
            if guarded:
                agent = _other_agent(t, term)
                if agent is not None and POSING.search(agent.group()):
                    continue  # a caller posing as someone
                if agent is not None or prompt is not None:
                    # staff acting, or someone else's suggestion: not the customer escalating, unless they take it up
                    own = _own_commitment(t, rule, g, term)
                    if own is not None:
                        found[flag] = evidence_of(t, "flags", flag, f"{flag}:{OWN_COMMITMENT}",
                                                  Span(term.start, own.end))
                        break
                    continue
            if flag == "abusive" and _reported_abuse(t, term):
                continue  # abuse the customer heard, not abuse aimed at staff
            if guarded and t.any(g.negation, term.end, guard_end):
                continue
            span = term
            if rule.action or rule.action_before:
                act = t.any(rule.action, term.end, after_end) if rule.action else None
                before = t.any(rule.action_before, max(0, term.start - window), term.start) \
                    if rule.action_before else None
                if act is None and before is None and not t.any(rule.action, term.start, term.end):
                    continue
                if act is not None:
                    span = Span(term.start, act.end)
            found[flag] = evidence_of(t, "flags", flag, flag, span)
            break
    return found


GUARD_REACH = 30      # characters either side of a hit in which a guard cancels it


def _urgency_plan(pf: Prefilter | None, rules: dict[str, Patterns]) -> tuple:
    """Each rule (not a guard group) with its prefilter mask (-1: no prefilter, always searched) and
    its guards: the common ones, then its own. A guard of either cancels a hit (searched group by
    group, not joined into a new tuple, so each group's prefilter mask is found once)."""
    common = rules.get(GUARD_PREFIX + "any", ())
    return tuple((name, -1 if pf is None else pf.group(patterns)[0], patterns,
                  tuple(g for g in (common, rules.get(GUARD_PREFIX + name, ())) if g))
                 for name, patterns in rules.items() if not name.startswith(GUARD_PREFIX))


def find_urgency_rules(t: Text, rules: dict[str, Patterns]) -> dict[str, Span]:
    """First unguarded hit of each rule. Groups named `not_<rule>` hold guards for <rule>
    and `not_any` for every rule: a hit with a guard match within GUARD_REACH characters
    (a past, hypothetical or resolved event) does not count."""
    if t.prefilter is None:
        plan = _urgency_plan(None, rules)
    else:  # each rule's prefilter mask and guards worked out once per lexicon, not once per text
        plan = t.prefilter.plan(rules, lambda pf: _urgency_plan(pf, rules))
    possible = t.possible
    hits = {}
    for name, mask, patterns, guards in plan:
        if not possible & mask:
            continue
        for span in t.find(patterns):
            a, b = max(0, span.start - GUARD_REACH), min(len(t.raw), span.end + GUARD_REACH)
            if any(t.any(g, a, b) for g in guards):
                continue
            hits[name] = span
            break
    return hits


def find_critical(t: Text, urgency: Urgency) -> dict[str, Span]:
    """The critical rules' first unguarded hits, where an unauthorized_charge hit that names an account
    or a trade (`account_words`) and no card (`card_words`) near it counts as ACCOUNT_CHARGE: money
    leaving an account or shares sold by someone else is an account taken over (fraud_phishing, a
    지급정지 request), not a card's charges (card_loss_theft, a card block)."""
    hits = find_urgency_rules(t, urgency.critical)
    span = hits.get("unauthorized_charge")
    if span is not None and urgency.account_words and not t.any(
            urgency.card_words, max(0, span.start - CARD_REACH), min(len(t.raw), span.end + CARD_REACH)) and \
            t.any(urgency.account_words, max(0, span.start - ACCOUNT_REACH), min(len(t.raw), span.end + ACCOUNT_REACH)):
        hits = {(ACCOUNT_CHARGE if name == "unauthorized_charge" else name): s for name, s in hits.items()}
    return hits


MODEL_RULE = "model"  # critical found by the model's urgency head, evidence from an anchor word


def model_critical(t: Text, lex: Lexicon) -> dict[str, Span]:
    """The first anchor word (money or access at risk) with no critical guard near it: the
    evidence for a critical call the model made where no critical rule matched."""
    # every critical guard counts here: the model names no rule, so a past, found, resolved or
    # hypothetical event ("잃어버렸다가 찾았는데") near the anchor cancels the call
    guards = [pats for name, pats in lex.urgency.critical.items() if name.startswith(GUARD_PREFIX) and pats]
    for span in t.find(lex.urgency.anchors):
        a, b = max(0, span.start - GUARD_REACH), min(len(t.raw), span.end + GUARD_REACH)
        if any(t.any(g, a, b) for g in guards):
            continue
        return {MODEL_RULE: span}
    return {}


INCIDENT_RULES = {"material_harm", "repeated"}  # high rules that name a specific incident needing a remedy
NOT_ESCALATING = ("distress",)   # high-group rules that only lift an inquiry to normal
INQUIRY_HIGH = ("scam_attempt",)  # an inquiry is high only for a scam attempt in progress (or an escalation flag)


def decide_urgency(t: Text, kind: str, flags: dict, critical: dict, high: dict) -> tuple[str, list[Evidence]]:
    escalation = flags.keys() & {"regulator", "media", "legal", "abusive"}
    if critical and kind != "praise":  # money at risk now outweighs a (possibly wrong) kind, except thanks
        return "critical", [evidence_of(t, "urgency", "critical", name, span) for name, span in critical.items()]
    if kind in ("praise", "suggestion"):  # contract: suggestions and praise are low unless escalated
        return ("high", []) if escalation else ("low", [])
    distress = any(name in high for name in NOT_ESCALATING)
    high = {name: span for name, span in high.items() if name not in NOT_ESCALATING}
    if kind == "inquiry":
        at_risk = {name: span for name, span in high.items() if name in INQUIRY_HIGH}
        if at_risk or escalation:
            return "high", [evidence_of(t, "urgency", "high", name, span) for name, span in at_risk.items()]
        return ("normal", []) if high or distress else ("low", [])
    harm_to_vulnerable = "vulnerable" in flags and kind == "complaint"
    if high or escalation or harm_to_vulnerable:
        return "high", [evidence_of(t, "urgency", "high", name, span) for name, span in high.items()]
    return "normal", []
