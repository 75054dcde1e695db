"""Operator commands on the bus: `moksori dlq list|replay` and `moksori queues`.

Dead letters sit on the VOC_DLQ stream (`voc.dlq.<durable>`, see shared/consumer.py):
the original payload and headers plus `moksori-dlq-reason`, `moksori-dlq-consumer`
("<stream>:<durable>") and `moksori-dlq-subject` (where it was first published).
`dlq list` reads them by sequence (no consumer is created, nothing is consumed);
`dlq replay` republishes them to their original subject and then deletes them.
Payload bodies are never printed, only their size: they may carry personal data.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.table import Table

from shared.bizcal import KST
from shared.tls import TlsFileError, client_context, nats_tls_options

DLQ_STREAM = "VOC_DLQ"
DLQ_PREFIX = "voc.dlq."
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
CONNECT_BOUND_S = 15.0  # the longest an ops command waits for NATS before it gives up with the last error

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

NatsUrl = Annotated[str, typer.Option("--nats-url", envvar="NATS_URL",
                                      help="NATS server URL(s), comma-separated; credentials may be in the URL")]

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class OpsError(Exception):
    """A failure worth one line to the operator (exit 1), not a traceback."""


# --- connection ------------------------------------------------------------------------------------------------


def _servers(url: str) -> list[str]:
    servers = [u.strip() for u in url.split(",") if u.strip()]
    if not servers:
        raise typer.BadParameter("no URL given", param_hint="--nats-url")
    for s in servers:
        if not s.startswith(("nats://", "tls://", "ws://", "wss://")):
            raise typer.BadParameter(f"{_redact(s)!r} must start with nats://, tls://, ws:// or wss://",
                                     param_hint="--nats-url")
    return servers


def _redact(url: str) -> str:
    """The URL without its password (the dev stack puts credentials in NATS_URL)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _connect(url: str):
    import nats

    servers = _servers(url)
    tls = nats_tls_options(servers, _tls_from_env())
    seen: list[BaseException] = []

    async def on_error(exc: Exception) -> None:  # nats-py would log each attempt with a traceback
        seen.append(exc)

    try:
        # bounded: nats-py's first connect can hang after a failed TLS handshake (shared/runtime.py)
        return await asyncio.wait_for(nats.connect(servers=servers, name="moksori-ops", connect_timeout=3, **tls,
                                                   max_reconnect_attempts=1, reconnect_time_wait=0.2,
                                                   error_cb=on_error), CONNECT_BOUND_S)
    except Exception as exc:
        cause = seen[-1] if seen else exc
        shown = ", ".join(_redact(s) for s in servers)
        raise OpsError(f"cannot connect to NATS at {shown}: {_describe(cause)}") from None


def _tls_from_env():
    """The services' TLS files (NATS_TLS_CA, NATS_TLS_CERT, NATS_TLS_KEY; shared/tls.py), read from the
    environment the command runs in (a service's pod), or None."""
    files = {var: os.environ.get(var, "").strip() or None for var in ("NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY")}
    if not any(files.values()):
        return None
    try:
        return client_context(*(Path(f) if f else None for f in files.values()))
    except TlsFileError as exc:
        raise OpsError(f"NATS_TLS_*: {exc}") from None


def _refuse(message: str) -> NoReturn:
    """A usage error: one line, exit 2."""
    err_console.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


def _run(go) -> Any:
    """Run one command's coroutine; NATS failures become one line on stderr and exit 1."""
    import nats.errors

    try:
        return asyncio.run(go)
    except OpsError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    except (nats.errors.Error, asyncio.TimeoutError, OSError) as exc:
        err_console.print(f"[red]error:[/] NATS: {_describe(exc)}", highlight=False)
        raise typer.Exit(1) from None


# --- reading stream messages -----------------------------------------------------------------------------------


def _parse_headers(hdrs: Any) -> dict[str, str]:
    """Headers of a message got with STREAM.MSG.GET. nats-py's own parsing of this path
    (email.parser) turns non-ASCII values into Header objects, and dead-letter reasons
    are often Korean, so the raw block is parsed here as the core client does."""
    if not hdrs:
        return {}
    raw = base64.b64decode(hdrs) if isinstance(hdrs, str) else bytes(hdrs)
    out: dict[str, str] = {}
    for line in raw.split(b"\r\n")[1:]:  # the first line is "NATS/1.0"
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        try:
            key = name.strip().decode("ascii")
        except UnicodeDecodeError:
            continue
        if key and not any(c.isspace() for c in key):
            out[key] = value.strip().decode("utf-8", "replace")
    return out


def _header(headers: dict[str, str], name: str) -> str:
    lname = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lname), "")


async def _next_msg(js, stream: str, seq: int, subject: str):
    """The first message at or after `seq` on `subject` (wildcards allowed), or None."""
    from nats.js.errors import NotFoundError

    try:
        return await js.get_msg(stream, seq=max(seq, 1), subject=subject, next=True)
    except NotFoundError:
        return None


@dataclass
class DeadLetter:
    seq: int
    time: datetime
    dlq_subject: str
    consumer: str
    subject: str
    ce_type: str
    ce_id: str
    case_id: str
    reason: str
    size: int
    headers: dict[str, str] = field(repr=False)
    data: bytes = field(repr=False)

    @classmethod
    def from_raw(cls, raw) -> DeadLetter:
        h = _parse_headers(raw.hdrs)
        data = raw.data or b""
        return cls(seq=raw.seq, time=raw.time, dlq_subject=raw.subject,
                   consumer=_header(h, "moksori-dlq-consumer"), subject=_header(h, "moksori-dlq-subject"),
                   ce_type=_header(h, "ce-type"), ce_id=_header(h, "ce-id"), case_id=_header(h, "ce-subject"),
                   reason=_header(h, "moksori-dlq-reason"), size=len(data), headers=h, data=data)

    @property
    def durable(self) -> str:
        return self.dlq_subject.removeprefix(DLQ_PREFIX)

    def summary(self) -> dict[str, Any]:
        """Everything an operator needs, and never the payload itself."""
        return {"seq": self.seq, "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "consumer": self.consumer or self.durable, "subject": self.subject, "ce_type": self.ce_type,
                "ce_id": self.ce_id, "case_id": self.case_id, "reason": self.reason, "size": self.size,
                "dlq_subject": self.dlq_subject}

    def matches(self, consumer: Optional[str]) -> bool:
        if not consumer:
            return True
        if ":" in consumer:  # "STREAM:durable": the exact consumer (feedback-facts reads four streams)
            return self.consumer == consumer
        return self.durable == consumer


def _consumer_option(consumer: Optional[str]) -> Optional[str]:
    if consumer is None:
        return None
    stream, _, durable = consumer.rpartition(":")
    if not _NAME.match(durable) or (stream and not _NAME.match(stream)):
        raise typer.BadParameter(f"{consumer!r} is not a durable name (e.g. feedback-facts) or "
                                 "STREAM:durable (e.g. VOC_CASE:feedback-facts)", param_hint="--consumer")
    return consumer


def _dlq_filter(consumer: Optional[str]) -> str:
    return DLQ_PREFIX + consumer.rpartition(":")[2] if consumer else DLQ_PREFIX + ">"


async def _dlq_state(js):
    from nats.js.errors import NotFoundError

    try:
        return (await js.stream_info(DLQ_STREAM)).state
    except NotFoundError:
        raise OpsError(f"there is no {DLQ_STREAM} stream on this server: the services create it at start-up "
                       "(shared/bus.py ensure_topology)") from None


async def _scan(js, consumer: Optional[str], limit: Optional[int]) -> tuple[list[DeadLetter], bool]:
    """Dead letters oldest first, at most `limit`; the flag says whether more were left."""
    state = await _dlq_state(js)
    found: list[DeadLetter] = []
    seq, subject = state.first_seq, _dlq_filter(consumer)
    while True:
        raw = await _next_msg(js, DLQ_STREAM, seq, subject)
        if raw is None:
            return found, False
        seq = raw.seq + 1
        dl = DeadLetter.from_raw(raw)
        if not dl.matches(consumer):
            continue
        if limit is not None and len(found) >= limit:
            return found, True
        found.append(dl)


def _kst(t: datetime) -> str:
    return f"{t.astimezone(KST):%Y-%m-%d %H:%M:%S}"


def _wide() -> Console:
    """Piped output keeps full width instead of rich's 80-column default."""
    return console if console.is_terminal else Console(width=220, soft_wrap=True)


# --- dlq -------------------------------------------------------------------------------------------------------

dlq_app = typer.Typer(help="Dead letters on the VOC_DLQ stream: list and replay them", no_args_is_help=True)

ConsumerOpt = Annotated[Optional[str], typer.Option(
    "--consumer", help="only this consumer's dead letters: a durable (feedback-facts) or STREAM:durable")]


LIST_HELP = ("Show dead letters without consuming them: sequence, time, consumer, original subject, ce-type, "
             "ce-id, case, reason and payload size. Payloads are never printed: they may carry personal data.")


@dlq_app.command("list", help=LIST_HELP)
def dlq_list(
    consumer: ConsumerOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="show at most this many, oldest first")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    nats_url: NatsUrl = DEFAULT_NATS_URL,
) -> None:
    consumer = _consumer_option(consumer)
    _servers(nats_url)

    async def go() -> tuple[list[DeadLetter], bool, int]:
        nc = await _connect(nats_url)
        try:
            js = nc.jetstream()
            found, more = await _scan(js, consumer, limit)
            total = (await _dlq_state(js)).messages
            return found, more, total
        finally:
            await nc.close()

    found, more, total = _run(go())
    if as_json:
        for dl in found:
            print(json.dumps(dl.summary(), ensure_ascii=False))
        return
    out = _wide()
    if not found:
        out.print(f"no dead letters{f' for {consumer}' if consumer else ''} ({total} in {DLQ_STREAM})")
        return
    table = Table(title=f"{DLQ_STREAM}: {len(found)} shown{', more not shown (raise --limit)' if more else ''}, "
                        f"{total} in the stream")
    for col in ("Seq", "Time (KST)", "Consumer", "Subject", "ce-type", "ce-id", "Case", "Reason", "Size"):
        ident = col in ("ce-id", "Case")  # whole, to be searched for in logs and traces
        table.add_column(col, justify="right" if col in ("Seq", "Size") else "left", no_wrap=ident,
                         min_width=36 if ident else None, overflow="fold")
    for dl in found:
        s = dl.summary()
        table.add_row(str(dl.seq), _kst(dl.time), s["consumer"], dl.subject or "?", dl.ce_type or "-",
                      dl.ce_id or "-", dl.case_id or "-", dl.reason or "-", f"{dl.size} B")
    out.print(table)


def _replay_headers(dl: DeadLetter) -> dict[str, str]:
    """The original headers without the dead-letter annotations and JetStream controls, with a fresh
    Nats-Msg-Id: the original one is inside the duplicate window of a recent event. It is
    `replay:<dlq seq>:<digest of the body>`, so a replay repeated after a lost delete is itself
    deduplicated, and no other publisher to the same stream (a partner on VOC_INGRESS, whose
    duplicate window they share) can take the id first by guessing the DLQ sequence."""
    headers = {k: v for k, v in dl.headers.items()
               if not k.lower().startswith(("moksori-dlq-", "nats-"))}
    headers["Nats-Msg-Id"] = f"replay:{dl.seq}:{hashlib.sha256(dl.data).hexdigest()[:24]}"
    return headers


REPLAY_HELP = "\n\n".join((
    "Republish dead letters to their original subject, then delete them from VOC_DLQ.",
    "Choose them with --seq (repeatable), --consumer or --all. Each goes back with its original headers "
    "(minus the moksori-dlq-* ones) and a new Nats-Msg-Id, replay:<seq>:<body digest>, so JetStream's duplicate window "
    "does not drop it; it is deleted from VOC_DLQ only once the publish is acked.",
    "Every consumer on the original subject sees the replay, not only the one that dead-lettered it. "
    "The services' consumers are idempotent on ce-id, so those that already processed the event ack it with "
    "no second effect; a dead letter whose subject other consumers also read (affiliate team queues, "
    "supervisors' alerts) is skipped unless --force. Fix the cause first: a replay that fails again is "
    "dead-lettered again.",
))


@dlq_app.command("replay", help=REPLAY_HELP)
def dlq_replay(
    consumer: ConsumerOpt = None,
    seq: Annotated[Optional[list[int]], typer.Option("--seq", min=1, help="a VOC_DLQ sequence (repeatable)")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every dead letter (of --consumer, if given)")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be replayed; change nothing")] = False,
    force: Annotated[bool, typer.Option("--force", help="replay even where consumers outside the services (team "
                                                        "queues, supervisors' alerts) would see it again")] = False,
    nats_url: NatsUrl = DEFAULT_NATS_URL,
) -> None:
    consumer = _consumer_option(consumer)
    if not (seq or consumer or all_):
        _refuse("nothing selected: give --seq N (repeatable), --consumer DURABLE or --all")
    if seq and all_:
        _refuse("give either --seq or --all, not both")
    _servers(nats_url)

    async def go() -> tuple[int, int]:
        nc = await _connect(nats_url)
        try:
            js = nc.jetstream()
            chosen, problems = await _choose(js, consumer, sorted(set(seq or [])))
            done = 0
            for dl in chosen:
                others = await _outside_consumers(js, dl)
                if others and not force:
                    err_console.print(
                        f"#{dl.seq}: {dl.subject} is also read by {', '.join(others)}, which are not idempotent "
                        f"services and would get it a second time: skipped (--force to replay anyway)",
                        highlight=False)
                    problems += 1
                    continue
                if await _replay_one(js, dl, dry_run):
                    done += 1
                else:
                    problems += 1
            return done, problems
        finally:
            await nc.close()

    done, problems = _run(go())
    verb = "would be replayed" if dry_run else "replayed"
    console.print(f"{done} {verb}" + (f", {problems} not" if problems else ""), highlight=False)
    if problems:
        raise typer.Exit(1)


async def _choose(js, consumer: Optional[str], seqs: list[int]) -> tuple[list[DeadLetter], int]:
    from nats.js.errors import NotFoundError

    if not seqs:
        found, _ = await _scan(js, consumer, None)
        if not found:
            console.print(f"no dead letters{f' for {consumer}' if consumer else ''}", highlight=False)
        return found, 0
    await _dlq_state(js)
    chosen, problems = [], 0
    for n in seqs:
        try:
            dl = DeadLetter.from_raw(await js.get_msg(DLQ_STREAM, seq=n))
        except NotFoundError:
            err_console.print(f"#{n}: no such message in {DLQ_STREAM} (already replayed?)", highlight=False)
            problems += 1
            continue
        if not dl.matches(consumer):
            err_console.print(f"#{n}: belongs to {dl.consumer or dl.durable}, not {consumer}: skipped",
                              highlight=False)
            problems += 1
            continue
        chosen.append(dl)
    return chosen, problems


async def _outside_consumers(js, dl: DeadLetter) -> list[str]:
    """Consumers on the stream the replay lands in that would see it and are not the services' own
    (idempotent on ce-id): affiliate team queues and supervisors' alert durables."""
    from shared.bus import SERVICE_CONSUMERS, subject_matches

    stream = dl.consumer.partition(":")[0] if ":" in dl.consumer else None
    if not stream or not dl.subject:
        return []
    ours = {c.durable for c in SERVICE_CONSUMERS if c.stream == stream} | {dl.durable}  # and its own
    return sorted(info.name for info in await _consumers(js, await js.stream_info(stream))
                  if info.name not in ours and any(subject_matches(f, dl.subject) for f in _filters(info.config)))


async def _replay_one(js, dl: DeadLetter, dry_run: bool) -> bool:
    label = f"#{dl.seq} {dl.consumer or dl.durable} {dl.ce_type or '?'} ce-id={dl.ce_id or '?'}"
    if not dl.subject:
        err_console.print(f"{label}: no moksori-dlq-subject header, cannot tell where it came from: skipped",
                          highlight=False)
        return False
    if dl.subject.startswith(DLQ_PREFIX):
        err_console.print(f"{label}: its original subject {dl.subject} is itself a dead-letter subject: skipped",
                          highlight=False)
        return False
    if dry_run:
        console.print(f"would replay {label} -> {dl.subject} ({dl.size} B)", highlight=False)
        return True
    stream = dl.consumer.partition(":")[0] if ":" in dl.consumer else None  # it must land where it came from
    try:
        ack = await js.publish(dl.subject, dl.data, headers=_replay_headers(dl), stream=stream)
    except Exception as exc:  # no stream on that subject any more, a timeout: it stays in the DLQ
        err_console.print(f"{label}: publishing to {dl.subject} failed, left in {DLQ_STREAM}: {_describe(exc)}",
                          highlight=False)
        return False
    await js.delete_msg(DLQ_STREAM, dl.seq)
    dup = " (already there from an earlier replay)" if ack.duplicate else ""
    console.print(f"replayed {label} -> {dl.subject} ({ack.stream} seq {ack.seq}){dup}", highlight=False)
    return True


# --- queues ----------------------------------------------------------------------------------------------------


def _age(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _filters(cfg) -> list[str]:
    return list(cfg.filter_subjects or []) or ([cfg.filter_subject] if cfg.filter_subject else [">"])


async def _oldest(js, stream: str, info) -> Optional[datetime]:
    """The time of the oldest message the consumer has not finished: the first one on its
    filter after its ack floor. None when nothing is pending or waiting for an ack."""
    if not (info.num_pending or info.num_ack_pending):
        return None
    start = (info.ack_floor.stream_seq if info.ack_floor else 0) + 1
    times = []
    for f in _filters(info.config):
        raw = await _next_msg(js, stream, start, f)
        if raw is not None and raw.time:
            times.append(raw.time)
    return min(times) if times else None


async def _all_streams(js) -> list:
    total = (await js.account_info()).streams
    found: list = []
    while len(found) < total:
        batch = await js.streams_info(offset=len(found))
        if not batch:
            break
        found += batch
    return found


async def _consumers(js, stream) -> list:
    found: list = []
    while len(found) < stream.state.consumer_count:
        batch = await js.consumers_info(stream.config.name, offset=len(found))
        if not batch:
            break
        found += batch
    return sorted(found, key=lambda c: c.name)


async def _queues(js, only: list[str], ours: bool) -> list[dict[str, Any]]:
    from nats.js.errors import NotFoundError

    from shared.bus import STREAMS

    if only:
        streams = []
        for name in only:
            try:
                streams.append(await js.stream_info(name))
            except NotFoundError:
                raise typer.BadParameter(f"no stream named {name!r} on this server", param_hint="--stream") from None
    else:
        streams = await _all_streams(js)
        if ours:
            names = {s.name for s in STREAMS}
            streams = [s for s in streams if s.config.name in names]
    now = datetime.now(UTC)
    report = []
    for st in sorted(streams, key=lambda s: s.config.name):
        name = st.config.name
        consumers = []
        for ci in await _consumers(js, st):
            oldest = await _oldest(js, name, ci)
            consumers.append({
                "name": ci.name, "filter": _filters(ci.config), "pending": ci.num_pending or 0,
                "ack_pending": ci.num_ack_pending or 0, "redelivered": ci.num_redelivered or 0,
                "waiting": ci.num_waiting or 0,
                "oldest_time": oldest.isoformat().replace("+00:00", "Z") if oldest else None,
                "oldest_age_s": round(max((now - oldest).total_seconds(), 0.0), 3) if oldest else None,
            })
        report.append({"stream": name, "subjects": list(st.config.subjects or []),
                       "messages": st.state.messages, "bytes": st.state.bytes, "consumers": consumers})
    return report


QUEUES_HELP = ("Per stream (messages, bytes) and consumer: pending (not yet delivered), ack-pending (delivered, "
               "not acked), redeliveries, and the age of the oldest message the consumer has not finished.")


def queues(
    stream: Annotated[Optional[list[str]], typer.Option("--stream", help="only this stream (repeatable)")] = None,
    ours: Annotated[bool, typer.Option("--ours", help="only Moksori's streams (shared/bus.py)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
    nats_url: NatsUrl = DEFAULT_NATS_URL,
) -> None:
    for name in stream or []:
        if not _NAME.match(name):
            raise typer.BadParameter(f"{name!r} is not a stream name", param_hint="--stream")
    _servers(nats_url)

    async def go() -> list[dict[str, Any]]:
        nc = await _connect(nats_url)
        try:
            return await _queues(nc.jetstream(), stream or [], ours)
        finally:
            await nc.close()

    report = _run(go())
    if as_json:
        print(json.dumps({"streams": report}, ensure_ascii=False))
        return
    table = Table(title="JetStream queues")
    for col, right in (("Stream", False), ("Msgs", True), ("Bytes", True), ("Consumer", False), ("Filter", False),
                       ("Pending", True), ("Ack pending", True), ("Redelivered", True), ("Oldest", True)):
        table.add_column(col, justify="right" if right else "left")
    for st in report:
        head = [st["stream"], str(st["messages"]), _bytes(st["bytes"])]
        if not st["consumers"]:
            table.add_row(*head, "-", "", "", "", "", "", end_section=True)
        for i, c in enumerate(st["consumers"]):
            busy = c["pending"] or c["ack_pending"]
            table.add_row(*(head if i == 0 else ["", "", ""]), c["name"], ", ".join(c["filter"]),
                          f"[yellow]{c['pending']}[/]" if c["pending"] else "0",
                          f"[yellow]{c['ack_pending']}[/]" if c["ack_pending"] else "0",
                          str(c["redelivered"]), _age(c["oldest_age_s"]) if busy else "-",
                          end_section=i == len(st["consumers"]) - 1)
    _wide().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")
    app.command("queues", help=QUEUES_HELP)(queues)
