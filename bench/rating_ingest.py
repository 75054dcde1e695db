"""Rating ingest benchmark: survey answers recorded by the feedback service.

Feedback runs as its own process (`HTTP_WORKERS=2`) against embedded NATS and PostgreSQL. The
benchmark seeds N sent surveys (rows in `feedback.surveys` and signed tokens, as `CaseResolved`
would have produced), then measures, in the same run:

- **HTTP**: `POST /v1/feedback` from 32 keep-alive clients in a closed loop; each 201 means the
  response row and its `FeedbackSubmitted` outbox row are committed;
- **NATS**: the same answers as `SubmitFeedback` commands on `voc.cmd.feedback.submit`, published
  at once; the rate counts until every response row is committed (the consumer takes them in
  batches, one transaction per batch);
- **baseline**: raw asyncpg doing the same writes per answer (response row + outbox row in one
  transaction) from 32 concurrent tasks, without HTTP, validation, token checks or the service.

A share of the answers carries a Korean comment, which is masked and classified (topic and
sentiment, the classifier's library) before it is stored.

    .venv/bin/python -m bench.rating_ingest [--ratings 20000] [--comment-share 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import nats

from bench import httpload
from bench.common import embedded_stack, profile, top_costs
from services import devrun
from services.feedback.domain.survey import issue_token
from shared.cloudevents import encode, envelope_for
from shared.events import SubmitFeedback

COMMENTS = [
    "상담원분이 친절하게 설명해 주셔서 금방 해결됐어요. 감사합니다!",
    "처리는 됐는데 연락 오기까지 너무 오래 걸렸습니다.",
    "앱에서 확인하라고만 하고 정작 앱에는 아무 내용이 없네요 ㅡㅡ",
    "지점 직원분이 끝까지 챙겨주셔서 감동받았습니다",
    "같은 말을 세 번이나 반복해야 했어요. 개선 부탁드립니다.",
]
SEED = """INSERT INTO feedback.surveys (case_id, affiliate, team, channel, delivery, requested_at, expires_at)
SELECT unnest($1::uuid[]), 'card', 'general', 'app', 'app_push', now(), now() + interval '7 days'"""
# the report's facts of those cases, as their CaseRouted and CaseResolved events left them
SEED_FACTS = """INSERT INTO feedback.case_facts (case_id, day, received_at, affiliate, team, topic, kind, channel,
                                    origin, urgency, repeat, resolved_at, within_sla)
SELECT unnest($1::uuid[]), current_date - 3, now() - interval '3 days', 'card', 'general', 'card_payment',
       'complaint', 'app', 'direct', 'normal', false, now(), true"""


def answers(n: int, secret: str, comment_share: float, rng: random.Random) -> list[dict]:
    expires = datetime.now(UTC) + timedelta(days=7)
    out = []
    for _ in range(n):
        case = uuid.uuid4()
        a = {"case_id": str(case), "token": issue_token(secret, case, expires), "csat": rng.randint(1, 5),
             "nps": rng.randint(0, 10), "ces": rng.randint(1, 7)}
        if rng.random() < comment_share:
            a["comment"] = rng.choice(COMMENTS)
        out.append(a)
    return out


async def count(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM feedback.responses")


async def over_http(url: str, batch: list[dict], clients: int) -> float:
    queue = list(reversed(batch))
    conns = [await httpload.Conn(url, {}).open() for _ in range(clients)]
    start = time.perf_counter()

    async def worker(conn: httpload.Conn) -> None:
        while queue:
            a = queue.pop()
            status, body = await conn.post_json("/v1/feedback", {k: v for k, v in a.items() if k != "case_id"})
            assert status == 201, body

    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - start
    for c in conns:
        await c.close()
    return len(batch) / elapsed


async def over_nats(nats_url: str, pool: asyncpg.Pool, batch: list[dict]) -> float:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    before = await count(pool)
    start = time.perf_counter()
    acks = []
    for a in batch:
        cmd = SubmitFeedback(**a)
        subject, body, headers = encode(cmd, envelope_for(cmd, source="bench/rating-ingest"))
        acks.append(await js.publish_async(subject, body, headers=headers))
    await asyncio.gather(*acks)
    while await count(pool) < before + len(batch):
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - start
    await nc.close()
    return len(batch) / elapsed


BASELINE_DDL = """
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench.responses (case_id uuid PRIMARY KEY, csat smallint, nps smallint, ces smallint,
                                            comment text, submitted_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS bench.outbox (id bigserial PRIMARY KEY, event_id text UNIQUE, body bytea NOT NULL);
"""


async def baseline(pg_url: str, batch: list[dict], clients: int) -> float:
    pool = await asyncpg.create_pool(pg_url, min_size=clients, max_size=clients)
    await pool.execute(BASELINE_DDL)
    queue = list(batch)
    start = time.perf_counter()

    async def worker() -> None:
        while queue:
            a = queue.pop()
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("INSERT INTO bench.responses VALUES ($1, $2, $3, $4, $5, now())",
                                   uuid.UUID(a["case_id"]), a["csat"], a["nps"], a["ces"], a.get("comment"))
                await conn.execute("INSERT INTO bench.outbox (event_id, body) VALUES ($1, $2)", a["case_id"],
                                   json.dumps(a, ensure_ascii=False).encode())

    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    await pool.close()
    return len(batch) / elapsed


def _report(spies: dict, prof_dir: Path) -> None:
    for name, spy in spies.items():
        spy.wait()
        print(f"profile {name} ({prof_dir / (name + '.txt')}): " + ", ".join(
            f"{frame} {share}%" for frame, share in top_costs(prof_dir / f"{name}.txt", 12)))


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(11)
    with embedded_stack() as stack:
        secret = devrun.dev_secrets(stack.var)["SURVEY_SECRET"]
        devrun.start_service(stack, "feedback", {"LOG_LEVEL": "WARNING", "HTTP_WORKERS": str(args.workers),
                                                 "DB_POOL_SIZE": "16"})
        await devrun.wait_ready(stack, ("feedback",), timeout=120)
        pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=4)
        warm, http_batch, nats_batch = (answers(n, secret, args.comment_share, rng)
                                        for n in (1000, args.ratings // 2, args.ratings // 2))
        cases = [uuid.UUID(a["case_id"]) for a in warm + http_batch + nats_batch]
        await pool.execute(SEED, cases)
        await pool.execute(SEED_FACTS, cases)
        url = stack.url("feedback")
        await over_http(url, warm, args.clients)  # warm-up: pools, prepared statements, Kiwi; not measured
        prof_dir = Path(stack.var) / "profile"
        prof_dir.mkdir(exist_ok=True)
        spies = profile({"feedback-http": stack.procs["feedback"].pid}, args.profile, prof_dir) if args.profile else {}
        http_rate = await over_http(url, http_batch, args.clients)
        _report(spies, prof_dir)
        spies = profile({"feedback-nats": stack.procs["feedback"].pid}, args.profile, prof_dir) if args.profile else {}
        nats_rate = await over_nats(stack.nats_url, pool, nats_batch)
        _report(spies, prof_dir)
        stored = await count(pool)
        base = await baseline(stack.database_url, answers(args.ratings // 2, secret, args.comment_share, rng),
                              args.clients)
        await pool.close()
        assert stored == len(warm) + len(http_batch) + len(nats_batch), stored
        print(json.dumps({
            "http_ratings_per_s": round(http_rate), "nats_ratings_per_s": round(nats_rate),
            "baseline_raw_asyncpg_per_s": round(base), "ratings_each_path": args.ratings // 2,
            "comment_share": args.comment_share, "clients": args.clients, "feedback_http_workers": args.workers,
        }, indent=2))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ratings", type=int, default=20000, help="answers in total, half over HTTP, half over NATS")
    p.add_argument("--comment-share", type=float, default=0.3, help="share of answers with a comment (0-1)")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--workers", type=int, default=2, help="feedback HTTP worker processes")
    p.add_argument("--profile", type=float, default=0, metavar="SECONDS",
                   help="py-spy the feedback processes for this long at the start of each measured path")
    a = p.parse_args()
    if a.ratings < 2 or not 0 <= a.comment_share <= 1 or a.clients < 1 or a.workers < 1:
        p.error("--ratings at least 2, --comment-share within 0-1, --clients and --workers at least 1")
    asyncio.run(main(a))
