"""The classifier's consumers: VocReceived in batches → VocClassified, alerts and
action requests; live call segments → alerts during the call; corrections → stored."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from services.classifier.adapters import repository as sql
from services.classifier.domain.alerts import (CONTEXT_CHARS, Screening, alerts_for, carries, emotion_alert,
                                              screen_segment, turn_reaching)
from services.classifier.domain.classify import Classifier, Item, raise_urgency
from services.classifier.domain.rules import CRITICAL_TOPIC
from shared.bus import LIVE_CONTEXT
from shared.directory import choose_affiliate
from shared.consumer import Delivery
from shared.events import (AccountFreezeRequested, AlertRaised, CallSegment, CallSegmentsReceived, CardBlockRequested,
                           CaseReclassified, Classification, Evidence, VocClassified, VocReceived, live_alert_id)
from shared.outbox import Outbox, PublishFailed, PublishNow
from shared.pii import shares_customer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassifierMetrics:
    alerts: object = None
    latency: object = None
    actions: object = None


def action_requests(e: VocReceived, c: Classification) -> list[CardBlockRequested | AccountFreezeRequested]:
    """A card lost, stolen or charged by someone else asks the card system for a block; a scam loss or an
    account taken over asks the bank for 지급정지; a text with both asks both. Decided by the critical rules
    that matched (CRITICAL_TOPIC), each request carrying its own rules' evidence, not by the case's one
    topic. Only when a money-at-risk rule matched: a case the model alone found critical is handled
    first, but no other system is asked to act on it."""
    if c.urgency != "critical":
        return []
    evidence: dict[str, tuple[Evidence, ...]] = {}
    for ev in c.evidence:
        if ev.field == "urgency" and ev.label == "critical" and ev.rule in CRITICAL_TOPIC:
            evidence[CRITICAL_TOPIC[ev.rule]] = (*evidence.get(CRITICAL_TOPIC[ev.rule], ()), ev)
    def common(receiver: str, topic: str) -> dict:  # the customer reference crosses affiliates only with consent
        shared = shares_customer(receiver, e.affiliate_hint, e.consent.cross_affiliate)
        return dict(case_id=e.case_id, tracking_code=e.tracking_code, evidence=evidence[topic],
                    customer_ref=e.customer_ref if shared else None)
    requests: list[CardBlockRequested | AccountFreezeRequested] = []
    if "card_loss_theft" in evidence:
        requests.append(CardBlockRequested(reason="카드 분실·도난·부정사용: 카드 사용 정지 요청",
                                           **common("card", "card_loss_theft")))
    if "fraud_phishing" in evidence:
        requests.append(AccountFreezeRequested(reason="보이스피싱·사기·계좌 도용 피해: 지급정지 요청",
                                               **common("bank", "fraud_phishing")))
    return requests


class OnReceived:
    """Classifies each fetched batch at once (`prepare`, before the transaction), then
    records and publishes each case inside the consumer's transaction (`__call__`)."""

    def __init__(self, outbox: Outbox, classifier: Classifier, repeat_window_days: int,
                 metrics: ClassifierMetrics = ClassifierMetrics(),
                 product_owner: Callable[[str | None], str | None] = lambda product: None) -> None:
        """`product_owner`: the affiliate owning a product code (the routing directory's table), so a
        case's alerts go to the supervisors of the affiliate routing will assign it to."""
        self.outbox, self.classifier, self.metrics = outbox, classifier, metrics
        self.product_owner = product_owner
        self.window = timedelta(days=repeat_window_days)
        self._batch: dict[str, Classification] = {}

    @staticmethod
    def _item(e: VocReceived) -> Item:
        # evidence offsets refer to this text, which travels on in VocClassified
        return Item(e.classification_text(), e.channel, e.affiliate_hint, e.kind_hint)

    def prepare(self, deliveries: Sequence[Delivery]) -> None:
        self._batch.clear()
        received = [d for d in deliveries if isinstance(d.msg, VocReceived)]
        started = time.perf_counter()
        results = self.classifier.classify_batch([self._item(d.msg) for d in received])  # type: ignore[arg-type]
        if self.metrics.latency and received:
            per_text = (time.perf_counter() - started) / len(received)
            for _ in received:
                self.metrics.latency.observe(per_text)
        self._batch = {d.env.id: c for d, c in zip(received, results)}

    async def __call__(self, conn: asyncpg.Connection, d: Delivery) -> None:
        e: VocReceived = d.msg  # type: ignore[assignment]
        c = self._batch.pop(d.env.id, None)
        if c is None:  # retried on its own after a failed batch
            c = self.classifier.classify_batch([self._item(e)])[0]
        if e.customer_key and c.kind == "complaint":
            repeats = await conn.fetchval(sql.COUNT_REPEATS, e.customer_key, c.topic, e.received_at - self.window,
                                          e.received_at, e.case_id)
            c = raise_urgency(c, repeats)
        if not (await self._write(conn, [(e, c)]))[0]:
            return  # classified before under another event id; do not emit twice
        if e.customer_key and c.kind == "complaint":
            await conn.execute(sql.RECORD_CUSTOMER_TOPIC, e.customer_key, c.topic, e.received_at, e.case_id)

    def idempotent(self, d: Delivery) -> bool:
        """A case is classified once: a classification already stored (ON CONFLICT on the case)
        is not written again, nor are its events or its customer-topic record, so a redelivered
        VocReceived needs no inbox row to stay harmless."""
        return True

    async def one_statement(self, conn: asyncpg.Connection, ds: list[Delivery], hold_s: float) -> tuple[list, list]:
        """The batch's cases that need no repeat count (not a complaint, or no customer key), their
        classifications and outgoing events in one statement of its own (autocommit), the events
        written held for the consumer to publish. A complaint with a customer key reads and records
        the customer's earlier complaints, so it is left for `__call__`, in order, as is a case's
        second event in the batch and any case `prepare` did not classify."""
        taken: dict = {}
        rest = []
        for d in ds:
            e = d.msg
            c = self._batch.get(d.env.id)
            if (c is None or not isinstance(e, VocReceived) or e.case_id in taken
                    or (e.customer_key and c.kind == "complaint")):
                rest.append(d)
            else:
                taken[e.case_id] = (d, e, c)
        for d, _, _ in taken.values():
            self._batch.pop(d.env.id, None)
        _, rows = await self._write(conn, [(e, c) for _, e, c in taken.values()], hold_s) if taken else (set(), [])
        return rest, rows

    async def _write(self, conn: asyncpg.Connection, cases: list[tuple[VocReceived, Classification]],
                     hold_s: float | None = None) -> tuple[set, list]:
        """The classifications and the outgoing events of those not stored before, in one statement:
        (their case ids, the events' outbox rows); the events are written held if `hold_s` is given."""
        texts = [e.classification_text() for e, _ in cases]  # what was classified, and travels on
        columns = [list(col) for col in zip(*(
            (e.case_id, c.kind, c.topic, c.urgency, ",".join(c.flags), c.affiliate, c.sentiment, c.model_dump_json())
            for e, c in cases))]
        outgoing = [(e.case_id, m) for (e, c), text in zip(cases, texts) for m in self._outgoing(e, c, text)]
        ids, subjects, headers, bodies = self.outbox.columns([m for _, m in outgoing])
        rows = await conn.fetch(sql.CLASSIFY_CASES, *columns, self.classifier.version, texts,
                                [c.repeat_count for _, c in cases], [case for case, _ in outgoing], ids, subjects,
                                headers, bodies, hold_s)
        sent = {r["event_id"] for r in rows}
        inserted = set()
        for (case, msg), event_id in zip(outgoing, ids):
            if event_id in sent:  # a case not classified before: its events go out, once, and count
                inserted.add(case)
                self._count(msg)
        return inserted, rows

    def _count(self, msg) -> None:
        if isinstance(msg, AlertRaised) and self.metrics.alerts:
            self.metrics.alerts.labels(msg.reason, "false").inc()
        elif isinstance(msg, (CardBlockRequested, AccountFreezeRequested)) and self.metrics.actions:
            self.metrics.actions.labels(type(msg).__name__).inc()

    def _outgoing(self, e: VocReceived, c: Classification, text: str) -> list:
        """VocClassified, then the case's alerts and action requests (counted once written, `_count`)."""
        out: list = [VocClassified(
            case_id=e.case_id, tracking_code=e.tracking_code, channel=e.channel, text=text,
            affiliate_hint=e.affiliate_hint, consent=e.consent, received_at=e.received_at, classification=c,
            model_version=self.classifier.version, origin=e.origin, product=e.product, customer_ref=e.customer_ref,
            backfill=e.backfill, suggestion_category=e.suggestion_category)]
        if e.backfill:
            return out  # history being filed: no alarms, no card blocks or 지급정지 for what is long past
        affiliate = choose_affiliate(c, e.affiliate_hint, self.product_owner(e.product))  # routing's rule
        return [*out, *alerts_for(e.case_id, c, affiliate), *action_requests(e, c)]


CONTEXT_CALLS = 50_000  # calls whose latest customer turn's end is kept for their next turn (~16 MB at most)
MEMO_LIMIT = 4096  # messages whose screenings are kept between a batch's hooks (a fetch is at most 100)


@dataclass(slots=True)
class Kept:
    seq: int
    tail: str  # "": a tombstone (the turn named no watch word), kept so that an older tail seen later is not taken
    at: float  # the clock's time of the entry's last change here (less its age in the bucket when it came from there)


class CallContext:
    """The end of each call's latest customer turn that names an escalation's watch word, with its seq, read with
    the call's next customer turn (a watch word cut in two by the STT's segmenting). The replicas on
    `classifier-live` share it through a JetStream key-value bucket (shared/bus.py LIVE_CONTEXT;
    services/classifier/adapters/live_context.py keeps this mirror of it from a watch of the bucket, `seen`, and
    puts what `write` is asked for in the background): the two halves of a cut reach different replicas about
    half the time. Pure and synchronous: screening reads what the watch has brought so far, and this process's
    own turns at once (`write(call_id)` asks for the call's latest entry to be put; it must not block). Without a
    bucket (NATS away, tests, the bench's per-process screening) it is the process's own context.

    One rule merges everything, turns decided here and values from the bucket alike: per call, the higher seq
    wins; an equal or lower seq changes nothing. A turn naming no watch word after one that did leaves a
    tombstone (tail ""), written to the bucket like a tail, so an older tail put or echoed later is never read
    with a later turn. Nothing is ever deleted from the bucket: its keys expire `ttl_s` after their last write,
    and an entry here is treated as absent `ttl_s` after its last change (its age in the bucket counted), so no
    marker from the server is needed. The calls least recently changed are forgotten first (`limit`,
    tombstones included)."""

    def __init__(self, write: Callable[[str], None] | None = None, limit: int = CONTEXT_CALLS,
                 ttl_s: float = LIVE_CONTEXT.ttl_s, clock: Callable[[], float] = time.monotonic) -> None:
        self.calls: OrderedDict[str, Kept] = OrderedDict()
        self.write = write or (lambda call_id: None)
        self.limit = limit
        self.ttl_s = ttl_s
        self.clock = clock

    def get(self, call_id: str) -> Kept | None:
        """The call's entry, unless it is older than the bucket's TTL (then it is forgotten)."""
        kept = self.calls.get(call_id)
        if kept is not None and self.clock() - kept.at >= self.ttl_s:
            del self.calls[call_id]
            return None
        return kept

    def before(self, call_id: str, seq: int) -> tuple[bool, str]:
        """Whether turn `seq` is later than the call's turn kept, and the tail to read it with."""
        kept = self.get(call_id)
        if kept is None:
            return True, ""
        return (True, kept.tail) if kept.seq < seq else (False, "")

    def turn(self, call_id: str, seq: int, tail: str) -> None:
        """A customer turn screened here: `tail` its end if that names a watch word, else "". A later turn's tail
        replaces the entry, a later turn naming none leaves a tombstone; either is written to the bucket."""
        kept = self.get(call_id)
        if kept is not None and kept.seq >= seq:
            return  # an older or repeated turn: read alone, changes nothing
        if kept is None and not tail:
            return  # most turns: nothing kept, nothing written
        if kept is not None and not kept.tail and not tail:
            kept.seq, kept.at = seq, self.clock()  # a tombstone already: nothing new for the other replicas
            self.calls.move_to_end(call_id)
            return
        self._set(call_id, seq, tail, self.clock())
        self.write(call_id)

    def seen(self, call_id: str, seq: int, tail: str, age: float = 0.0) -> None:
        """The watch brought a value of the call's key (`age` seconds old): taken if its seq is higher."""
        if age >= self.ttl_s:
            return  # already expired
        kept = self.get(call_id)
        if kept is None or kept.seq < seq:
            self._set(call_id, seq, tail, self.clock() - max(age, 0.0))

    def latest(self, call_id: str) -> tuple[int, str] | None:
        """What to write for the call now: its latest (seq, tail), whichever turn asked for the write."""
        kept = self.get(call_id)
        return None if kept is None else (kept.seq, kept.tail)

    def _set(self, call_id: str, seq: int, tail: str, at: float) -> None:
        self.calls[call_id] = Kept(seq, tail, at)
        self.calls.move_to_end(call_id)
        while len(self.calls) > self.limit:
            self.calls.popitem(last=False)


def turns_of(d: Delivery) -> tuple[CallSegment, ...]:
    """The segments a message carries: intake sends a fetched batch's in one CallSegmentsReceived;
    intakes before session 21 sent one CallSegmentReceived (a CallSegment itself) per segment."""
    msg = d.msg
    return msg.segments if isinstance(msg, CallSegmentsReceived) else (msg,)  # type: ignore[return-value]


def on_segment(publish: PublishNow, outbox: Outbox, classifier: Classifier,
               metrics: ClassifierMetrics = ClassifierMetrics(), context: CallContext | None = None):
    """Live call alerts are published straight away (`publish`: Runtime.publish_now), not through
    the outbox: once the alert rows say which are new (at most one per call and reason), before
    the transaction commits, and the segments are acked only after that. An alert's id is derived
    from its call and reason (`live_alert_id`), so if the transaction then fails, the retry
    publishes the same alert under the same id and JetStream drops it. If JetStream cannot take
    them now (NATS away, the alerts stream without a quorum), they go into the outbox with the
    transaction, and the relay publishes them when it can: late, but neither lost nor dead-lettered
    with their segments.

    Screening is idempotent per call and seq: an alert is raised once per call and reason, and an
    angry turn is counted once (`classifier.live_turns`), whichever message brings it and however
    often. So intake's batch messages need no inbox row, and a segment intake forwards again inside
    a batch of another make-up changes nothing.

    `context`: the calls' latest turns' ends, shared between the replicas (CallContext); by default this
    process's own."""

    # a message's customer turns, screened once for every hook that asks about them (no_effect, then bulk),
    # under the lexicon they were screened with; taken out when the message is acked as quiet or its batch
    # is written, and cleared if batches that failed before that leave entries behind
    memo: dict[str, tuple[object, list[tuple[CallSegment, Screening]]]] = {}
    # the end of each call's latest customer turn that names a watch word, with its seq, read with the call's
    # next turn (a watch word cut in two by the STT's segmenting). Shared with the other replicas on the
    # consumer through the LIVE_CONTEXT bucket when the entrypoint gives one (the halves of a cut reach
    # different replicas about half the time), by default this process's own (its `write` does nothing); a turn
    # no later than the one kept is read alone and changes nothing
    context = context if context is not None else CallContext()

    def screen(seg: CallSegment, lex) -> Screening:
        later, before = context.before(seg.call_id, seg.seq)
        s = screen_segment(seg.text, lex, before)
        if later:  # a turn that names no escalation's watch word leaves nothing (a tombstone) for the next
            tail = seg.text[-CONTEXT_CHARS:]
            context.turn(seg.call_id, seg.seq, tail if carries(tail, lex) else "")
        return s

    def screened(d: Delivery, lex) -> list[tuple[CallSegment, Screening]]:
        hit = memo.get(d.env.id)
        if hit is not None and hit[0] is lex:
            return hit[1]
        # an agent saying 금감원 is not the customer escalating
        turns = [(seg, screen(seg, lex)) for seg in turns_of(d) if seg.speaker == "customer"]
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[d.env.id] = (lex, turns)
        return turns

    async def send(conn: asyncpg.Connection, raised: list[AlertRaised]) -> None:
        if not raised:
            return
        alerts = [(a, live_alert_id(a.call_id or "", a.reason)) for a in raised]
        try:
            await publish(alerts)
        except PublishFailed as exc:
            log.warning("live alerts not published now (%r); %d go out through the outbox", exc, len(alerts))
            for alert, event_id in alerts:
                await outbox.add(conn, alert, id=event_id)
        count(raised)

    async def bulk(conn: asyncpg.Connection, ds: list[Delivery]) -> list[Delivery]:
        """The customer turns of a fetched batch, in at most three statements: every turn is screened,
        the angry turns not counted before are counted (and each call's counts after them returned),
        and the batch's alert candidates (the first per call and reason) are inserted together; those
        not raised before are raised."""
        lex = classifier.lexicon()
        seen: dict[tuple[str, int], tuple[CallSegment, Screening]] = {}
        for d in ds:
            for seg, s in screened(d, lex):
                if (s.alerts or s.angry) and (seg.call_id, seg.seq) not in seen:
                    seen[(seg.call_id, seg.seq)] = (seg, s)
            memo.pop(d.env.id, None)
        turns = [seen[k] for k in sorted(seen)]
        candidates: dict[tuple[str, str], AlertRaised] = {}
        for seg, s in turns:
            for reason, severity, message, evidence in s.alerts:
                candidates.setdefault((seg.call_id, reason), AlertRaised(
                    case_id=seg.case_id, reason=reason, severity=severity, affiliate=seg.affiliate, message=message,
                    evidence=evidence, call_id=seg.call_id))
        angry = [(seg, s) for seg, s in turns if s.angry]
        if angry:
            counted: dict[str, tuple[int, int]] = {}
            fresh: set[tuple[str, int]] = set()
            for r in await conn.fetch(sql.RECORD_ANGRY_TURNS, [seg.call_id for seg, _ in angry],
                                      [seg.seq for seg, _ in angry], [s.abusive for _, s in angry]):
                counted[r["call_id"]] = (r["angry_turns"], r["abusive_turns"])
                fresh.add((r["call_id"], r["seq"]))
            by_call: dict[str, list[tuple[CallSegment, Screening]]] = {}
            for seg, s in angry:  # in call and seq order; a turn counted before is not counted again
                if (seg.call_id, seg.seq) in fresh:
                    by_call.setdefault(seg.call_id, []).append((seg, s))
            for call, call_turns in by_call.items():
                a, b = counted[call]
                before = (a - len(call_turns), b - sum(s.abusive for _, s in call_turns))
                reached = turn_reaching(before, [s for _, s in call_turns], lex.emotion.alert_after_turns)
                if reached:
                    i, a, b = reached
                    seg, s = call_turns[i]
                    candidates.setdefault((call, "emotion"), emotion_alert(seg.case_id, call, seg.affiliate, a, b,
                                                                           s.angry))
        if candidates:
            keys = sorted(candidates)
            new = {(r["call_id"], r["reason"]) for r in await conn.fetch(
                sql.INSERT_LIVE_ALERTS, [k[0] for k in keys], [k[1] for k in keys])}
            await send(conn, [candidates[k] for k in keys if k in new])
        return []

    async def process(conn: asyncpg.Connection, d: Delivery) -> None:
        await bulk(conn, [d])

    def count(raised: list[AlertRaised]) -> None:
        if metrics.alerts:
            for alert in raised:
                metrics.alerts.labels(alert.reason, "true").inc()

    def no_effect(d: Delivery) -> bool:
        """Only the agent's turns, or customer turns that screening finds nothing in (most of a call):
        no alert to raise and no angry turn to count, so nothing to record either."""
        if any(s.alerts or s.angry for _, s in screened(d, classifier.lexicon())):  # kept for bulk
            return False
        memo.pop(d.env.id, None)  # acked without bulk: nothing else will take it out
        return True

    def idempotent(d: Delivery) -> bool:
        """Intake's batch messages: alerts are keyed by call and reason, angry turns by call and seq.
        An older intake's per-segment message is still claimed in the inbox: a classifier before
        session 21 counted its angry turn without a `live_turns` row, so if it committed but did not
        ack, only the inbox row it wrote keeps the redelivery from counting the turn again."""
        return isinstance(d.msg, CallSegmentsReceived)

    process.bulk = bulk  # type: ignore[attr-defined]
    process.no_effect = no_effect  # type: ignore[attr-defined]
    process.idempotent = idempotent  # type: ignore[attr-defined]
    return process


async def on_reclassified(conn: asyncpg.Connection, d: Delivery) -> None:
    e: CaseReclassified = d.msg  # type: ignore[assignment]
    await conn.execute(sql.INSERT_CORRECTION, d.env.id, e.case_id, e.kind, e.topic, e.previous_kind,
                       e.previous_topic, e.by, d.env.time)
