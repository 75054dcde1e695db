"""JetStream topology, declared in code and created idempotently at start-up.

Every stream, key-value bucket and durable pull consumer the system uses is listed
here; the README and deploy/ (NACK resources) mirror this table. Streams are
limits-based so several services can read the same facts; commands use a work queue
so each command is taken by exactly one service.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass

from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, NotFoundError, ServerError

from shared.events import AFFILIATES, TEAMS

log = logging.getLogger(__name__)

DAY = 86_400.0
# nats-server answers 500 / 10049 "error creating store for stream" while the store of a stream of
# the same name, just deleted, is still being torn down; creating it again a moment later works.
STORE_NOT_READY = 10049
STORE_RETRIES = (0.1, 0.25, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_days: int
    description: str
    retention: api.RetentionPolicy = api.RetentionPolicy.LIMITS
    duplicate_window_s: float = 120.0
    # a byte budget, for a stream whose volume could otherwise fill the servers' file store (and so
    # stop every other stream's publishes). At the budget either its oldest messages go (DiscardPolicy.OLD,
    # for copies worth nothing once screened) or a new publish is refused with an error the publisher
    # sees and retries (DiscardPolicy.NEW, for messages nobody else holds: nothing stored is dropped)
    max_bytes: int | None = None
    discard: api.DiscardPolicy = api.DiscardPolicy.OLD

    def budget(self) -> str | None:
        """The byte budget and what happens at it, in words (the stream's description and the AsyncAPI)."""
        if self.max_bytes is None:
            return None
        size = f"{self.max_bytes / 2**30:g} GiB" if self.max_bytes >= 2**30 else f"{self.max_bytes // 2**20} MiB"
        if self.discard == api.DiscardPolicy.OLD:
            return f"at most {size}, oldest dropped first"
        return f"at most {size}: beyond it a publish is refused with an error, nothing stored is dropped"

    def config(self, replicas: int) -> api.StreamConfig:
        budget = self.budget()
        return api.StreamConfig(
            name=self.name, subjects=list(self.subjects),
            description=f"{self.description} ({budget})" if budget else self.description,
            retention=self.retention, storage=api.StorageType.FILE, num_replicas=replicas,
            max_age=self.max_age_days * DAY, duplicate_window=self.duplicate_window_s,
            discard=self.discard, max_bytes=self.max_bytes,
        )


@dataclass(frozen=True)
class ConsumerSpec:
    stream: str
    durable: str
    filter_subject: str
    description: str
    max_deliver: int = 10
    ack_wait_s: float = 30.0
    max_ack_pending: int = 1000
    # nats-py's fetch waits this long to fill a batch once the first message is in:
    # the latency a quiet stage adds; under load batches fill without waiting
    batch_wait_s: float = 0.05
    # False: never wait to fill a batch. A batch is the first message plus whatever else the
    # server holds at that moment, so under load it is what arrived while the previous batch
    # was processed, and batches grow with the load (shared/consumer.py: _available). For
    # latency-bound stages; throughput-bound ones wait batch_wait_s for fewer, larger batches.
    fill_batches: bool = True
    # a quiet consumer's pull request waits this long for its first message (one request per
    # idle_wait_s instead of one per batch_wait_s); a message that arrives is delivered at once
    idle_wait_s: float = 2.0
    retry_delay_s: float = 1.0  # first nak delay; doubles per delivery, capped at 30 s

    def config(self) -> api.ConsumerConfig:
        return api.ConsumerConfig(
            name=self.durable, durable_name=self.durable, description=self.description,
            filter_subject=self.filter_subject, ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL, max_deliver=self.max_deliver,
            ack_wait=self.ack_wait_s, max_ack_pending=self.max_ack_pending,
        )


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("VOC_INTAKE", ("voc.received",), 14, "VocReceived from intake's outbox"),
    StreamSpec("VOC_CLASSIFIED", ("voc.classified",), 14, "VocClassified from the classifier"),
    StreamSpec("VOC_ROUTED", ("voc.routed.>",), 30, "CaseRouted, one subject per affiliate team queue"),
    StreamSpec("VOC_CASE", ("voc.case.>",), 30, "case lifecycle events from routing"),
    StreamSpec("VOC_FEEDBACK", ("voc.feedback.>",), 30, "surveys and ratings"),
    StreamSpec("VOC_ALERTS", ("voc.alert.>",), 30, "AlertRaised on voc.alert.<affiliate>.<reason>: the "
               "consumer-protection office reads them all, each affiliate's supervisors their own"),
    StreamSpec("VOC_ACTIONS", ("voc.action.>",), 14, "action requests for other systems: card block, 지급정지"),
    StreamSpec("VOC_NOTICES", ("voc.notice.>",), 14, "notices channels deliver to customers"),
    # raw personal data: a work queue, so a VOC is gone from NATS once intake has taken it. The work queues
    # and the DLQ grow only while their readers are away or failing; at their budget a publish is refused
    # (the channel system or team sees the error and retries), so they cannot fill the file store
    StreamSpec("VOC_INGRESS", ("voc.ingress.>",), 7, "channel systems publishing VOCs as CloudEvents",
               retention=api.RetentionPolicy.WORK_QUEUE, max_bytes=512 * 2**20, discard=api.DiscardPolicy.NEW),
    StreamSpec("VOC_COMMANDS", ("voc.cmd.>",), 7, "commands; each taken by one service",
               retention=api.RetentionPolicy.WORK_QUEUE, max_bytes=256 * 2**20, discard=api.DiscardPolicy.NEW),
    StreamSpec("VOC_ESCALATIONS", ("voc.escalation.>",), 30, "SLA breaches, one subject per team supervisor"),
    # ~2,000 segments/s at peak (5,000 calls) is ~70 GB a day: without a budget this stream alone would fill
    # the servers' file store (deploy/nats/values.yaml, 18Gi). A segment is screened within milliseconds and
    # intake keeps every segment in PostgreSQL, so the oldest copies are worth nothing here.
    StreamSpec("VOC_CALLS", ("voc.call.>",), 1, "live call segments, masked, for screening", max_bytes=4 * 2**30),
    # full, a dead-lettering fails with an error in the consumer's log and the message stays unacknowledged in
    # its own stream (delivered again up to max_deliver), rather than pushing out older dead letters that
    # nobody has looked at yet
    StreamSpec("VOC_DLQ", ("voc.dlq.>",), 30, "messages a consumer could not process", max_bytes=2**30,
               discard=api.DiscardPolicy.NEW),
)
# no stream keeps a message longer: inbox rows older than this guard nothing (shared/housekeeping.py)
MAX_STREAM_AGE_DAYS = max(s.max_age_days for s in STREAMS)


@dataclass(frozen=True)
class BucketSpec:
    """A JetStream key-value bucket (nats-py's `create_key_value`: the stream KV_<bucket> on `$KV.<bucket>.>`,
    `history` values a key, file storage). A key not written for `ttl_s` is gone, and the server leaves a
    marker saying so for `marker_ttl_s` (the classifier's mirror ignores it and expires its entries itself).
    At `max_bytes` a put is refused (a bucket discards new): nothing stored is dropped, the writer sees the
    error."""
    bucket: str
    description: str
    ttl_s: float
    max_bytes: int
    max_value_size: int
    marker_ttl_s: float
    history: int = 1

    @property
    def stream(self) -> str:
        return f"KV_{self.bucket}"

    def config(self, replicas: int) -> api.KeyValueConfig:
        return api.KeyValueConfig(bucket=self.bucket, description=self.description, history=self.history,
                                  ttl=self.ttl_s, max_bytes=self.max_bytes, max_value_size=self.max_value_size,
                                  storage=api.StorageType.FILE, replicas=replicas, limit_marker_ttl=self.marker_ttl_s)

    def converged(self, have: api.StreamConfig, replicas: int) -> api.StreamConfig:
        """The bucket's stream as it is on the server, with what this declaration says changed (what
        `create_key_value` sends, of the fields JetStream can change in place)."""
        return dataclasses.replace(
            have, description=self.description, max_msgs_per_subject=self.history, max_age=self.ttl_s,
            max_bytes=self.max_bytes, max_msg_size=self.max_value_size, num_replicas=replicas,
            subject_delete_marker_ttl=self.marker_ttl_s, allow_msg_ttl=True, allow_rollup_hdrs=True,
            deny_delete=True, discard=api.DiscardPolicy.NEW, duplicate_window=min(120.0, self.ttl_s))


BUCKETS: tuple[BucketSpec, ...] = (
    # live call screening (services/classifier): the end of a call's latest customer turn when it names an
    # escalation's watch word, "<seq>\t<tail>" under the call, read with the call's next customer turn by
    # whichever classifier replica screens it. A call is a few minutes; one not heard from for 15 is over.
    # ~300 bytes a call: 64 MiB is 200,000 calls with such a turn in 15 minutes (5,000 calls at once at peak)
    BucketSpec("LIVE_CONTEXT", "live screening: the end of each call's latest customer turn that names a watch "
               "word, for the call's next turn", ttl_s=15 * 60.0, max_bytes=64 * 2**20, max_value_size=1024,
               marker_ttl_s=60.0),
)
LIVE_CONTEXT = BUCKETS[0]

SERVICE_CONSUMERS: tuple[ConsumerSpec, ...] = (
    # the case's critical path: a quiet stage must not hold a message 50 ms to fill a batch
    ConsumerSpec("VOC_INTAKE", "classifier", "voc.received", "classifier reads new VOCs", batch_wait_s=0.01,
                 fill_batches=False),
    ConsumerSpec("VOC_CLASSIFIED", "routing", "voc.classified", "routing assigns classified cases",
                 batch_wait_s=0.01, fill_batches=False),
    ConsumerSpec("VOC_COMMANDS", "routing-commands", "voc.cmd.case.>", "acknowledge/resolve commands"),
    ConsumerSpec("VOC_COMMANDS", "routing-team-commands", "voc.cmd.team.*.case.*",
                 "teams' commands, each affiliate on its own subjects (team_command_subject)"),
    ConsumerSpec("VOC_CASE", "feedback-resolved", "voc.case.resolved", "feedback sends surveys"),
    ConsumerSpec("VOC_COMMANDS", "feedback-commands", "voc.cmd.feedback.>", "survey responses over NATS"),
    ConsumerSpec("VOC_CASE", "feedback-reviews", "voc.case.suggestion_reviewed", "rewards for adopted suggestions"),
    # analytics facts for the consumer-protection office's reports
    ConsumerSpec("VOC_ROUTED", "feedback-facts", "voc.routed.>", "facts: routed cases"),
    ConsumerSpec("VOC_CASE", "feedback-facts", "voc.case.>", "facts: lifecycle"),
    ConsumerSpec("VOC_ALERTS", "feedback-facts", "voc.alert.>", "facts: alerts"),
    ConsumerSpec("VOC_FEEDBACK", "feedback-facts", "voc.feedback.submitted", "facts: ratings"),
    # intake keeps the customer-facing status and timeline
    ConsumerSpec("VOC_CLASSIFIED", "intake-timeline", "voc.classified", "timeline: classified"),
    ConsumerSpec("VOC_ROUTED", "intake-timeline", "voc.routed.>", "timeline: routed"),
    ConsumerSpec("VOC_CASE", "intake-timeline", "voc.case.>", "timeline: lifecycle"),
    ConsumerSpec("VOC_FEEDBACK", "intake-timeline", "voc.feedback.>", "timeline: surveys and ratings"),
    ConsumerSpec("VOC_INGRESS", "intake-partner", "voc.ingress.voc.*", "VOCs from partner channel systems, "
                 "each on its own subject"),
    # before partners had subjects of their own they shared voc.ingress.voc: this drains what is left
    # there (only the services' user may still publish on it, shared/natsauth.py); after intake-partner,
    # whose filter moves off voc.ingress.voc first (a work queue's consumers must not overlap)
    ConsumerSpec("VOC_INGRESS", "intake-partner-legacy", "voc.ingress.voc", "VOCs published on the shared "
                 "subject partners used before they had their own"),
    ConsumerSpec("VOC_INGRESS", "intake-calls", "voc.ingress.call.>", "live STT segments and call ends",
                 batch_wait_s=0.01, fill_batches=False),  # live screening is latency-bound: do not wait to fill a batch
    ConsumerSpec("VOC_ALERTS", "intake-call-alerts", "voc.alert.>", "alerts raised during live calls"),
    # voc.call.segments (a fetched batch's segments, one message) and, from intakes before session 21,
    # voc.call.segment (one segment a message)
    ConsumerSpec("VOC_CALLS", "classifier-live", "voc.call.>", "live screening of call segments",
                 batch_wait_s=0.01, fill_batches=False),
    ConsumerSpec("VOC_CASE", "classifier-corrections", "voc.case.reclassified", "team corrections, for retraining"),
)


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcards: `*` one token, `>` the rest. A `{placeholder}` token of a subject template
    (voc.routed.{affiliate}.{team}) stands for any one token."""
    p, t = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(t) > i
        if i >= len(t) or (tok != "*" and tok != t[i] and not t[i].startswith("{")):
            return False
    return len(p) == len(t)


def team_subject(affiliate: str, team: str) -> str:
    return f"voc.routed.{affiliate}.{team}"


def team_durable(affiliate: str, team: str) -> str:
    return f"team-{affiliate}-{team.replace('_', '-')}"


def team_consumers() -> tuple[ConsumerSpec, ...]:
    """One durable pull consumer per affiliate team queue: teams scale horizontally
    by pulling from it, and KEDA scales them on its lag. Teams have longer to ack."""
    return tuple(
        ConsumerSpec("VOC_ROUTED", team_durable(a, t), team_subject(a, t), f"{a} {t} queue",
                     max_deliver=-1, ack_wait_s=300.0)
        for a in AFFILIATES for t in TEAMS
    )


def alert_subject_filter(affiliate: str | None) -> str:
    """The consumer-protection office reads every alert; an affiliate's supervisors their own."""
    return "voc.alert.>" if affiliate is None else f"voc.alert.{affiliate}.>"


def alert_durable(affiliate: str | None) -> str:
    return "alerts-consumer-protection" if affiliate is None else f"alerts-{affiliate}-supervisors"


def alert_consumers() -> tuple[ConsumerSpec, ...]:
    return tuple(
        ConsumerSpec("VOC_ALERTS", alert_durable(a), alert_subject_filter(a),
                     "consumer-protection office: every alert" if a is None else f"{a} supervisors' alerts",
                     max_deliver=-1, ack_wait_s=300.0)
        for a in (None, *AFFILIATES)
    )


def team_command_subject(affiliate: str, command_subject: str) -> str:
    """Where an affiliate's team publishes a case command (voc.cmd.case.resolve ->
    voc.cmd.team.card.case.resolve): its NATS user may publish on its own affiliate's subjects
    only, and routing acts only on that affiliate's cases (the group office's on any)."""
    return command_subject.replace("voc.cmd.", f"voc.cmd.team.{affiliate}.", 1)


def commanding_affiliate(subject: str) -> str | None:
    """The affiliate whose team sent a command on its own subject (voc.cmd.team.<affiliate>.…), else None."""
    parts = subject.split(".", 4)
    return parts[3] if len(parts) == 5 and parts[:3] == ["voc", "cmd", "team"] and parts[3] in AFFILIATES else None


def escalation_durable(affiliate: str | None) -> str:
    return "escalations-consumer-protection" if affiliate is None else f"escalations-{affiliate}-supervisors"


def escalation_consumers() -> tuple[ConsumerSpec, ...]:
    """SLA breaches: the consumer-protection office reads them all, each affiliate's supervisors their own."""
    return tuple(
        ConsumerSpec("VOC_ESCALATIONS", escalation_durable(a), "voc.escalation.>" if a is None else
                     f"voc.escalation.{a}.>", "consumer-protection office: every escalation" if a is None
                     else f"{a} supervisors' escalations", max_deliver=-1, ack_wait_s=300.0)
        for a in (None, *AFFILIATES)
    )


# the systems outside Moksori that read what it asks of them or tells customers
OUTSIDE_READERS: tuple[ConsumerSpec, ...] = (
    ConsumerSpec("VOC_ACTIONS", "actions-card-system", "voc.action.card.>", "the card system: card blocks",
                 max_deliver=-1, ack_wait_s=300.0),
    ConsumerSpec("VOC_ACTIONS", "actions-bank-system", "voc.action.bank.>", "the bank system: 지급정지",
                 max_deliver=-1, ack_wait_s=300.0),
    ConsumerSpec("VOC_NOTICES", "notices-delivery", "voc.notice.>", "the channel that tells customers (알림톡, SMS)",
                 max_deliver=-1, ack_wait_s=300.0),
    ConsumerSpec("VOC_FEEDBACK", "rewards-points-platform", "voc.feedback.reward_granted",
                 "the group points platform: pays adopted suggestions' points", max_deliver=-1, ack_wait_s=300.0),
)


def all_consumers() -> tuple[ConsumerSpec, ...]:
    return SERVICE_CONSUMERS + team_consumers() + alert_consumers() + escalation_consumers() + OUTSIDE_READERS


def dlq_subject(consumer: str) -> str:
    return f"voc.dlq.{consumer}"


async def ensure_topology(js: JetStreamContext, replicas: int = 1,
                          consumers: tuple[ConsumerSpec, ...] | None = None) -> None:
    """Create or update every stream, key-value bucket and consumer; safe to run from every replica at once."""
    for spec in STREAMS:
        cfg = spec.config(replicas)
        try:
            await _add_stream(js, cfg)
        except BadRequestError:  # exists with another config: converge it
            await _converge(js, f"stream {spec.name}", cfg)
    for b in BUCKETS:
        try:
            await _store_ready(lambda kv=b.config(replicas): js.create_key_value(kv), b.stream)
        except BadRequestError:  # exists with another config: converge it
            await _converge(js, f"bucket {b.bucket}", b.converged((await js.stream_info(b.stream)).config, replicas))
    for c in consumers if consumers is not None else all_consumers():
        await js.add_consumer(c.stream, c.config())
    log.info("jetstream topology ready", extra={"streams": len(STREAMS), "buckets": len(BUCKETS)})


async def _converge(js: JetStreamContext, what: str, cfg: api.StreamConfig) -> None:
    try:
        await js.update_stream(cfg)
    except BadRequestError as exc:
        raise RuntimeError(f"{what} exists with a configuration JetStream cannot change in place "
                           f"({exc.description}); migrate it by hand (see deploy/README.md)") from exc


async def _add_stream(js: JetStreamContext, cfg: api.StreamConfig) -> None:
    await _store_ready(lambda: js.add_stream(cfg), cfg.name)


async def _store_ready(create, name: str) -> None:
    for delay in STORE_RETRIES:
        try:
            await create()
            return
        except ServerError as exc:
            if exc.err_code != STORE_NOT_READY:
                raise
            log.warning("stream store not ready, retrying", extra={"stream": name, "delay_s": delay})
            await asyncio.sleep(delay)
    await create()


def consumer_drift(spec: ConsumerSpec, cfg: api.ConsumerConfig) -> list[str]:
    """Where a consumer on the server differs from its declaration in the ways that change delivery:
    a lower max_deliver than ours, say, stops redelivery before the consumer dead-letters."""
    want = spec.config()
    drift = []
    for name in ("filter_subject", "max_deliver", "ack_wait", "max_ack_pending", "ack_policy"):
        have, expected = getattr(cfg, name), getattr(want, name)
        if have != expected:
            drift.append(f"consumer {spec.stream}/{spec.durable} {name} is {have!r}, declared {expected!r}")
    return drift


async def missing_topology(js: JetStreamContext, consumers: tuple[ConsumerSpec, ...] | None = None,
                           drift: list[str] | None = None) -> list[str]:
    """The streams, key-value buckets and consumers that do not exist (for `NATS_TOPOLOGY=verify`, where NACK
    `Stream`/`KeyValue`/`Consumer` resources own the topology and services must not rewrite it). Consumers
    that exist but differ from their declaration are added to `drift` when it is given."""
    missing: list[str] = []
    for spec in STREAMS:
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            missing.append(f"stream {spec.name}")
    for b in BUCKETS:
        try:
            await js.stream_info(b.stream)
        except NotFoundError:
            missing.append(f"bucket {b.bucket}")
    for c in consumers if consumers is not None else all_consumers():
        if f"stream {c.stream}" in missing:
            continue
        try:
            info = await js.consumer_info(c.stream, c.durable)
        except NotFoundError:
            missing.append(f"consumer {c.stream}/{c.durable}")
            continue
        if drift is not None:
            drift += consumer_drift(c, info.config)
    return missing
