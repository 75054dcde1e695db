"""The `moksori` command: run the system, classify offline, apply migrations."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(help="Moksori (목소리): voice-of-customer platform", no_args_is_help=True,
                  add_completion=False)
console = Console(soft_wrap=True)
REPO = Path(__file__).resolve().parent.parent


@app.command()
def run(var: Annotated[Path, typer.Option(help="where embedded servers keep their data")] = REPO / "var",
        demo: Annotated[bool, typer.Option(help="submit demo VOCs and play the affiliate teams and customers")] = True,
        ) -> None:
    """Start NATS, PostgreSQL and the four services; show demo cases flowing. Ctrl-C stops everything."""
    from services import devrun

    stack = devrun.Stack(var=var.resolve())
    stop = asyncio.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        shown = stack.nats.url if stack.nats else stack.nats_url
        console.print(f"  NATS JetStream  {shown}" + (f"  (auth: {var / 'nats-credentials.json'}: services and one "
                                                       "user per affiliate)" if stack.nats else " (external)"))
        console.print(f"  PostgreSQL      {stack.database_url}" + ("" if stack.pg else " (external)"))
        applied = await migrate_all(stack.database_url)
        console.print(f"  migrations      {len(applied)} applied" + (f": {', '.join(applied)}" if applied else
                                                                      " (up to date)"))
        for svc in devrun.SERVICES:
            devrun.start_service(stack, svc)
        await devrun.wait_ready(stack)
        for svc in devrun.SERVICES:
            console.print(f"  {svc:<11}     {stack.url(svc)}   (docs {stack.url(svc)}/docs, log {stack.log(svc)})")
        console.print(f"  dashboard       {stack.url('feedback')}/dashboard#key="
                      f"{devrun.team_keys(stack.var, 'DASHBOARD_KEYS')['group']}   (the office's dev key)")
        key = await devrun.issue_dev_key(stack)
        console.print(f"  API key         {key}   (dev key for every channel; `moksori keys create` for real ones)")
        close_demo = await _demo(stack, stop) if demo else None
        console.print("\n[bold]Running.[/] Submit your own VOC:\n"
                      f"  curl -s -X POST {stack.url('intake')}/v1/voc -H 'content-type: application/json' "
                      f"-H 'X-Api-Key: {key}' "
                      "-d '{\"channel\":\"app\",\"text\":\"앱에서 이체가 계속 실패해요 ㅠㅠ\"}'\n"
                      "Ctrl-C stops everything.")
        await stop.wait()
        if close_demo:
            await close_demo()

    try:
        console.print("[bold]목소리 Moksori[/] starting…")
        # started from the main thread: children die with it (PR_SET_PDEATHSIG is per thread)
        devrun.start_infra(stack)
        asyncio.run(main())
    except Exception as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    finally:
        console.print("\nstopping: services drain first, then NATS, then PostgreSQL…")
        devrun.stop_all(stack)
        console.print("stopped.")


async def _demo(stack, stop: asyncio.Event):
    """Runs the demo until `stop`; returns the coroutine function that winds it down."""
    import nats

    from services import demo, devrun

    codes: dict[str, str] = {}
    nc = await nats.connect(stack.nats_url, name="moksori-demo")
    await demo.watch(nc, console, codes)
    tasks = [asyncio.create_task(demo.work_queues(nc.jetstream(), stack.url("routing"),
                                                  devrun.team_keys(stack.var), stop)),
             asyncio.create_task(demo.answer_surveys(nc, stack.url("feedback"), stop))]
    accepted = await demo.submit_demo(stack.url("intake"), stack.api_key, console, codes)
    await demo.rate_consultations(stack.url("feedback"), devrun.team_keys(stack.var, "CONSULTATION_KEYS"), console)
    await demo.show_customer_view(stack.url("intake"), accepted, console, stop)

    async def close() -> None:
        await asyncio.gather(*tasks, return_exceptions=True)
        await nc.close()  # the demo's pull requests are abandoned, not drained: teams ack nothing half-done

    return close


async def migrate_all(database_url: str) -> list[str]:
    from importlib import import_module

    import asyncpg

    from services.devrun import SERVICES
    from shared import db

    applied = []
    conn = await asyncpg.connect(database_url)
    try:
        for svc in SERVICES:
            migrations = import_module(f"services.{svc}.entrypoint").MIGRATIONS
            applied += [f"{svc}/{name}" for name in await db.migrate(conn, svc, migrations)]
    finally:
        await conn.close()
    return applied


@app.command()
def migrate(database_url: Annotated[str, typer.Option(envvar="DATABASE_URL", help="postgresql://…")]) -> None:
    """Apply every service's migrations (the Kubernetes migration Job runs this)."""
    if not database_url.startswith(("postgresql://", "postgres://")):
        raise typer.BadParameter("must start with postgresql://", param_hint="--database-url")
    applied = _db_run(migrate_all(database_url))
    console.print(f"{len(applied)} migrations applied" + (f": {', '.join(applied)}" if applied else ""))


def _add_classifier_commands() -> None:
    from services.classifier.cli import app as classify_app

    app.add_typer(classify_app, name="classify")


_add_classifier_commands()


def _add_ops_commands() -> None:
    from services.ops_cli import register

    register(app)  # dlq list|replay, queues


_add_ops_commands()


keys_app = typer.Typer(help="Channel API keys (stored hashed in intake's schema)", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
DbUrl = Annotated[str, typer.Option(envvar="DATABASE_URL", help="postgresql://…")]


def _db_run(coro):
    """Run a command's database work; a database it cannot reach or use is an error message, not a traceback."""
    import asyncpg

    from shared.db import DatabaseUnreachable

    try:
        return asyncio.run(coro)
    except (OSError, TimeoutError, DatabaseUnreachable, asyncpg.InvalidAuthorizationSpecificationError,
            asyncpg.InvalidCatalogNameError, asyncpg.InvalidPasswordError, asyncpg.UndefinedTableError) as exc:
        hint = " (run `moksori migrate` first)" if isinstance(exc, asyncpg.UndefinedTableError) else ""
        console.print(f"[red]error:[/] cannot use the database: {exc or type(exc).__name__}{hint}")
        raise typer.Exit(1) from None


def _check_db(url: str) -> str:
    if not url.startswith(("postgresql://", "postgres://")):
        raise typer.BadParameter("must start with postgresql://", param_hint="--database-url")
    return url


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="the channel system, e.g. 'card-app-backend'")],
    channels: Annotated[str, typer.Option(help="comma-separated channels it may submit for")],
    database_url: DbUrl,
    roles: Annotated[str, typer.Option(help="comma-separated: submit, read, reveal")] = "submit,read",
    affiliates: Annotated[str, typer.Option(help=(
        "comma-separated affiliates whose cases the key may reveal (bank, card, securities, insurance, group: the "
        "holding company's own cases, e.g. group points), or all, alone, for the group's consumer-protection "
        "office, which sees every case; required with the reveal role"))] = "",
    rate: Annotated[float, typer.Option(help="requests per second per replica", min=0.1)] = 50.0,
    burst: Annotated[int, typer.Option(help="burst size", min=1)] = 100,
    replace: Annotated[bool, typer.Option(help="revoke an existing key of that name first")] = False,
) -> None:
    """Create a key and print it once."""
    from services.intake.adapters.apikeys import create_key
    from services.intake.domain.apikeys import ROLES, check_affiliates, check_name
    from shared.events import CHANNELS

    try:
        check_name(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--name") from None
    chans = [c.strip() for c in channels.split(",") if c.strip()]
    bad = [c for c in chans if c not in CHANNELS]
    if not chans or bad:
        raise typer.BadParameter(f"unknown channel(s) {bad}; choose from {', '.join(CHANNELS)}", param_hint="--channels")
    role_list = [r.strip() for r in roles.split(",") if r.strip()]
    if not role_list or set(role_list) - set(ROLES):
        raise typer.BadParameter(f"roles must be among {', '.join(ROLES)}", param_hint="--roles")
    try:
        scope = check_affiliates([a.strip() for a in affiliates.split(",") if a.strip()], role_list)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--affiliates") from None

    async def go() -> str:
        import asyncpg

        conn = await asyncpg.connect(_check_db(database_url))
        try:
            return await create_key(conn, name, chans, role_list, rate, burst, replace=replace, affiliates=scope)
        finally:
            await conn.close()

    try:
        console.print(asyncio.run(go()))
    except Exception as exc:  # a duplicate name, or no intake schema yet
        console.print(f"[red]could not create key:[/] {exc}")
        raise typer.Exit(1) from None


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument()], database_url: DbUrl) -> None:
    """Revoke the live key of that name (replicas stop accepting it within 30 s)."""
    from services.intake.adapters.apikeys import REVOKE_KEY

    async def go():
        import asyncpg

        conn = await asyncpg.connect(_check_db(database_url))
        try:
            return await conn.fetchval(REVOKE_KEY, name)
        finally:
            await conn.close()

    if _db_run(go()) is None:
        console.print(f"no live key named {name!r}")
        raise typer.Exit(1)
    console.print(f"revoked {name}")


PII_REPORT_HEADER = """# PII detector report

Produced by `moksori pii-eval --report docs/pii-report.md` (a unit test holds the targets: recall >= 0.99,
precision >= 0.95, nothing labelled survives masking).

How the sets were made (`tests/fixtures/pii/`):
- `pii_testset.jsonl` (`make_testset.py`): 30 hand-written Korean templates in every register (app reviews,
  chat with typos, formal e-mail, STT transcripts, branch staff notes, Korean mixed with English) filled 8
  times with random values in many real formats; labels are known by construction. Sentences also carry
  numbers that must stay: amounts, dates, tracking codes, business registration, call-centre, order and
  approval numbers.
- `pii_handwritten.jsonl` (`make_handwritten.py`): 30 hand-written hard cases, including formats the
  generator does not produce (dots as separators, spaced hyphens, full-width @, lower-case passports, digits
  spelled out in STT: 공일공 일이삼사 오육칠팔).

Honesty note: both sets were used while developing the detector. The first run on the generated set gave
recall 0.933 / precision 0.955 (Korean particles right after numbers defeated the word boundaries; order
numbers were taken for accounts); the first run on the hand-written set gave recall 0.76 / precision 0.95.
The detector was fixed against those failures, so the figures below are development figures, not a blind
test. Known gaps: personal names in free text are not detected (the customer field is masked as a whole);
in typed text, numbers spelled out in Korean are detected only for mobile phones (speech, below, masks them all).

An independent review (session 16) found formats neither set had: full-width digits and hyphens, the vowel
ㅡ or other dashes, ~ and / between digit groups, numbers in file names (after `_` or letters), an 8-digit
account without hyphens after 계좌번호. All are masked now (`tests/unit/test_pii.py`), and the figures below
did not move. Transcribed speech (call segments, phone cases) is also masked with `mask_speech`: every run of
six or more digits, written or said (팔오공삼일오), and a number cut at a segment's start or end, since its
other part is in the neighbouring segment.

A second review (session 31) found more: no-break, full-width and tab spaces between digit groups, loosely
spaced separators (4111 - 1111, 010  1234), two numbers joined by / or ~ (a second phone, a card's expiry
date), a card followed by its CVC, an account that passes the card check by chance (masked as a card,
keeping 10 of its 14 digits), and tracking codes of seven digits taken for accounts. All are handled now
(`tests/unit/test_pii.py`). Recall and precision below did not move; kind accuracy on the generated set rose
from 0.978 to 0.986 (accounts no longer taken for cards).

A third review (session 33) found that 0.986 was hiding numbers left half visible: a 4-4-4-4 card whose
middle groups look like a Seoul landline (9422 2323 3390 2849) was masked as a phone, showing 12 of its 16
digits (5 of the generated set's 48 cards). The report now also counts numbers "shown beyond their mask"
(more digits visible than their kind's mask allows), and cards grouped as cards are found before phones.
It also found middle dots (· ㆍ), the minus sign − and the IME's tilde ∼ between digit groups, accounts
grouped the way banks group them (6-2-6) or named after a bank's name that pass the card check by chance,
and numbers read out with 에 or 다시 between their groups in call transcripts (공일공에 일이삼사에 오육칠팔).
All are masked now (`tests/unit/test_pii.py`); kind accuracy rose to 1.0 on both sets.

"""


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="JSONL or CSV (columns: channel,text,kind,affiliate,customer,…)")],
    database_url: DbUrl,
    errors: Annotated[Optional[Path], typer.Option(help="write bad rows (line, reason) to this CSV")] = None,
    source: Annotated[str, typer.Option(help="recorded as submitted_by")] = "bulk-import",
) -> None:
    """Backfill VOCs from a file: good rows go in, bad rows are listed; re-running is a no-op."""
    from datetime import UTC, datetime

    from rich.progress import Progress

    from services.intake import bulk
    from services.intake.handlers.submit import IntakeDeps, submit_voc
    from services.intake.settings import IntakeSettings
    from shared.bizcal import load_calendar
    from shared.config import load_settings
    from shared.outbox import Outbox
    from shared.pii_crypto import PiiCipher

    if not file.exists():
        raise typer.BadParameter(f"{file} does not exist", param_hint="FILE")
    if file.suffix.lower() not in (".jsonl", ".csv", ".json"):
        raise typer.BadParameter("use a .jsonl or .csv file", param_hint="FILE")
    settings = load_settings(IntakeSettings, "import")
    deps = IntakeDeps(cipher=PiiCipher.from_spec(settings.pii_keys), access_key=settings.case_access_key,
                      calendar=load_calendar(settings.calendar_file),
                      response_days=settings.first_response_business_days, status_base_url=settings.status_base_url)
    try:
        rows = list(bulk.read_rows(file))
    except ValueError as exc:  # an encoding it cannot read
        raise typer.BadParameter(str(exc), param_hint="FILE") from None
    result = bulk.ImportResult()

    async def go() -> None:
        from shared.db import connect

        conn = await connect(_check_db(database_url))
        outbox = Outbox("intake", "moksori/intake-import")
        try:
            with Progress(console=console) as progress:
                task = progress.add_task(f"importing {file.name}", total=len(rows))
                for line_no, data, error in rows:
                    progress.advance(task)
                    if error:
                        result.errors.append((line_no, error))
                        continue
                    try:
                        body = bulk.parse_row(data)
                        received_at = bulk.received_at(body, datetime.now(UTC), deps.calendar)
                    except Exception as exc:
                        result.errors.append((line_no, bulk.describe(exc)))
                        continue
                    outcome = await submit_voc(conn, deps, outbox, body, idempotency_key=bulk.row_key(data),
                                               submitted_by=source, received_at=received_at)
                    if outcome.status == "accepted":
                        result.accepted += 1
                    elif outcome.status == "replayed":
                        result.replayed += 1
                    else:
                        result.errors.append((line_no, "channel_message_id already used for a different VOC"))
        finally:
            await conn.close()

    _db_run(go())
    console.print(f"{result.accepted} imported, {result.replayed} already there, {len(result.errors)} rejected")
    for line_no, reason in result.errors:
        console.print(f"  {file.name}:{line_no}: {reason}")
    if errors:
        import csv

        with errors.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["line", "reason"])
            w.writerows(result.errors)
    if result.errors:
        raise typer.Exit(1)


@app.command()
def purge(
    database_url: DbUrl,
    older_than_days: Annotated[int, typer.Option(min=1, help="retention period for originals")] = 1825,
    include_open: Annotated[bool, typer.Option(help="also purge cases not yet resolved")] = False,
) -> None:
    """Delete the encrypted originals of cases past retention; the masked copy and timeline stay."""
    from services.intake.adapters.repository import PURGE_ORIGINALS

    async def go() -> int:
        import asyncpg

        conn = await asyncpg.connect(_check_db(database_url))
        try:
            return len(await conn.fetch(PURGE_ORIGINALS, older_than_days, 0 if include_open else 4))
        finally:
            await conn.close()

    console.print(f"purged the originals of {_db_run(go())} cases older than {older_than_days} days")


@app.command("pii-eval")
def pii_eval(
    files: Annotated[Optional[list[Path]], typer.Argument(help="labelled JSONL sets")] = None,
    report: Annotated[Optional[Path], typer.Option(help="write a Markdown report here")] = None,
) -> None:
    """Precision and recall of the PII detector on labelled sets."""
    from shared.pii_eval import evaluate

    sets = files or sorted((REPO / "tests" / "fixtures" / "pii").glob("*.jsonl"))
    out = []
    for path in sets:
        if not path.exists():
            raise typer.BadParameter(f"{path} does not exist", param_hint="FILES")
        out += [f"## {path.name}", "", *evaluate(path).lines(), ""]
    text = "\n".join(out)
    console.print(text)
    if report:
        report.write_text(PII_REPORT_HEADER + text, encoding="utf-8")


@app.command("team-key")
def team_key(affiliate: Annotated[str, typer.Option(help="the affiliate whose team system gets the key")]) -> None:
    """A new HTTP key for an affiliate's team system: the key to give the team, once, and the entry to
    add to routing's TEAM_KEYS, which holds only the key's digest (a leaked Secret opens no queue). The
    same entry format is feedback's CONSULTATION_KEYS, for the affiliate's consulting systems, and, for a
    `group` key, feedback's DASHBOARD_KEYS (make one key for each use)."""
    from shared.team_keys import new_team_key

    try:
        key, entry = new_team_key(affiliate)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--affiliate") from None
    typer.echo(f"give the team (shown once): {key}")  # plain: never wrapped, so it copies whole
    typer.echo(f"add to TEAM_KEYS (comma-separated): {entry}")
    typer.echo("(or, for a consulting system's key, to feedback's CONSULTATION_KEYS; for the dashboard, a group "
               "key, to feedback's DASHBOARD_KEYS)")


@app.command("nats-auth")
def nats_auth(out: Annotated[Path, typer.Option(help="nats-server config include to write")],
              credentials: Annotated[Path, typer.Option(help="where to write the generated passwords (JSON)")],
              previous: Annotated[Optional[Path], typer.Option(
                  help="the credentials file of the last run: keep its passwords, but for --rotate")] = None,
              rotate: Annotated[Optional[list[str]], typer.Option(
                  help="with --previous: a user whose password changes (services, an affiliate such as card, "
                       "an outside system such as ingress-stt, or partner:<name>); repeatable")] = None,
              partner: Annotated[Optional[list[str]], typer.Option(
                  help="a partner channel system: its user partner-<name> may publish VOCs only on "
                       "voc.ingress.voc.<name>; repeatable (those in --previous are kept)")] = None,
              remove_partner: Annotated[Optional[list[str]], typer.Option(
                  help="with --previous: a partner whose user is removed (its connection is closed on the "
                       "reload); repeatable")] = None) -> None:
    """Generate the nats-server authorization block: the services' user, one isolated user per
    affiliate, per outside system and per partner. With --previous, only the --rotate users (and
    users added since) get new passwords; the others keep theirs and stay connected through the reload."""
    import json

    from shared.events import partner_subject
    from shared.natsauth import RemoveError, generate_credentials, load_credentials, server_config

    for hint, given in (("--rotate", rotate), ("--remove-partner", remove_partner)):
        if given and previous is None:
            raise typer.BadParameter("needs --previous, the credentials whose other passwords are kept",
                                     param_hint=hint)
    old = {}
    if previous is not None:
        try:
            old = load_credentials(previous)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--previous") from None
    for name in partner or ():
        try:
            partner_subject(name)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--partner") from None
    try:
        creds = generate_credentials(old, rotate or (), partner or (), remove_partner or ())
    except RemoveError as exc:
        raise typer.BadParameter(str(exc), param_hint="--remove-partner") from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--rotate") from None
    out.write_text(server_config(creds))
    credentials.write_text(json.dumps({k: vars(v) for k, v in creds.items()}, indent=2))
    for p in (out, credentials):
        p.chmod(0o600)
    changed = sorted(k for k in creds if k not in old or old[k] != creds[k])
    dropped = sorted(old.keys() - creds.keys())
    console.print(f"wrote {out} (include it in nats-server.conf) and {credentials} (keep secret)")
    if previous is not None:
        console.print(f"new passwords: {', '.join(changed) or 'none'}"
                      + (f"; no longer users: {', '.join(dropped)}" if dropped else ""))


report_app = typer.Typer(help="The consumer-protection office's numbers", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("daily")
def report_daily(
    database_url: DbUrl,
    date_: Annotated[str, typer.Option("--date", help="YYYY-MM-DD (Korean time); default today")] = "",
    period: Annotated[str, typer.Option(help="day, week, month, quarter or year containing --date")] = "day",
    format_: Annotated[str, typer.Option("--format", help="table, json, csv or html")] = "table",
    output: Annotated[Optional[Path], typer.Option(help="file to write (json, csv, html)")] = None,
    directory_file: Annotated[Optional[Path], typer.Option(help="affiliate directory (denominators)")] = None,
) -> None:
    """The morning-meeting report: volume, 환산건수 against last year, SLA, times, CSAT/NPS/CES, alerts."""
    from datetime import date, datetime
    from shared.bizcal import KST

    from services.feedback import report_cli
    from shared.directory import DEFAULT_DIRECTORY, load_directory
    from shared.db import connect

    try:
        day = date.fromisoformat(date_) if date_ else datetime.now(KST).date()
    except ValueError:
        raise typer.BadParameter(f"{date_!r} is not a date like 2026-11-20", param_hint="--date") from None
    if period not in ("day", "week", "month", "quarter", "year"):
        raise typer.BadParameter("use day, week, month, quarter or year", param_hint="--period")
    if format_ not in ("table", "json", "csv", "html"):
        raise typer.BadParameter("use table, json, csv or html", param_hint="--format")
    directory = load_directory(directory_file or DEFAULT_DIRECTORY)
    denominators = {a: e.denominator for a, e in directory.affiliates.items()}

    async def go() -> dict:
        conn = await connect(_check_db(database_url))
        try:
            return await report_cli.gather(conn, day, period, denominators)
        finally:
            await conn.close()

    report = _db_run(go())
    if format_ == "table":  # piped output keeps full width instead of rich's 80-column default
        report_cli.print_table(report, console if console.is_terminal else Console(width=200))
        return
    text = report_cli.render(report, format_)
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    else:
        print(text)


@app.command()
def audit(
    database_url: DbUrl,
    staff: Annotated[Optional[str], typer.Option(help="an employee number (사번): every case they read or acted on")]
    = None,
    case: Annotated[Optional[str], typer.Option(help="a case id: everyone who read it or acted on it")] = None,
    since: Annotated[str, typer.Option(help="from this day, YYYY-MM-DD (Korean time)")] = "",
    until: Annotated[str, typer.Option(help="up to and including this day; default today")] = "",
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="the most rows shown")] = 1000,
    format_: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """The access audit (seed 003): who read a case or took a step on it through the team API, and when."""
    import json
    import uuid
    from datetime import date, datetime, time, timedelta

    from services.routing.adapters.repository import AUDIT_TRAIL
    from shared.bizcal import KST
    from shared.db import connect
    from shared.events import STAFF_ID_RULE, is_staff_id

    if not staff and not case:
        raise typer.BadParameter("name an employee (--staff) or a case (--case)", param_hint="--staff/--case")
    if staff and not is_staff_id(staff):
        raise typer.BadParameter(f"{staff!r} is not an employee number ({STAFF_ID_RULE})",
                                 param_hint="--staff")
    try:
        case_id = uuid.UUID(case) if case else None
    except ValueError:
        raise typer.BadParameter(f"{case!r} is not a case id (a UUID)", param_hint="--case") from None
    days = {}
    for name, text, default in (("since", since, date(2000, 1, 1)), ("until", until, datetime.now(KST).date())):
        try:
            days[name] = date.fromisoformat(text) if text else default
        except ValueError:
            raise typer.BadParameter(f"{text!r} is not a date like 2026-11-20", param_hint=f"--{name}") from None
    if days["since"] > days["until"]:
        raise typer.BadParameter("--since is after --until", param_hint="--since")
    if format_ not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    start = datetime.combine(days["since"], time(), KST)
    end = datetime.combine(days["until"] + timedelta(days=1), time(), KST)

    async def go() -> list[dict]:
        conn = await connect(_check_db(database_url))
        try:
            return [dict(r) for r in await conn.fetch(AUDIT_TRAIL, staff, case_id, start, end, limit)]
        finally:
            await conn.close()

    rows = _db_run(go())
    if format_ == "json":
        print(json.dumps(rows, ensure_ascii=False, default=str, indent=1))
        return
    from rich.table import Table

    t = Table(title=f"열람·처리 이력 {staff or case} ({days['since']} ~ {days['until']})")
    for title in ("시각 (KST)", "직원", "행위", "키", "접수번호", "case_id"):
        t.add_column(title)
    for r in rows:
        t.add_row(f"{r['at'].astimezone(KST):%Y-%m-%d %H:%M:%S}", r["staff_id"] or "(service)", r["action"],
                  r["via"] or "", r["tracking_code"], str(r["case_id"]))
    (console if console.is_terminal else Console(width=200)).print(t)
    if len(rows) == limit:
        console.print(f"[yellow]showing the first {limit} rows: narrow the dates or raise --limit[/]")


@app.command()
def specs(out: Annotated[Path, typer.Option(help="output folder")] = REPO / "docs" / "specs") -> None:
    """Write the AsyncAPI (bus) and OpenAPI (HTTP) specs generated from the code."""
    from services.specs import write_all

    for path in write_all(out):
        console.print(f"wrote {path}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
