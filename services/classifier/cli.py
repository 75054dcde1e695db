"""`moksori classify`: offline classification, training, evaluation and the corpus split."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from services.classifier.adapters.model_file import DEFAULT_MODEL
from services.classifier.domain.lexicon import DEFAULT_LEXICON, load_lexicon
from services.classifier.training.corpus import CORPUS_DIR

console = Console(soft_wrap=True)
app = typer.Typer(help="Classify VOC text offline; train and evaluate the model.", invoke_without_command=True,
                  add_completion=False)
ModelOpt = Annotated[Path, typer.Option("--model", help="model file written by `classify train`")]
LexiconOpt = Annotated[Path, typer.Option("--lexicon", help="watch-word lexicon (YAML)")]
REPORT = Path(__file__).resolve().parents[2] / "docs" / "classifier-report.md"


def _classifier(model: Path, lexicon: Path):
    from services.classifier.adapters.loader import build_classifier
    from shared.datafiles import DataFileError

    try:
        return build_classifier(model, lexicon)
    except DataFileError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


@app.callback()
def classify(
    ctx: typer.Context,
    input: Annotated[Optional[Path], typer.Option("--input", "-i", help="JSONL file; stdin if omitted")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="JSONL file; stdout if omitted")] = None,
    model: ModelOpt = DEFAULT_MODEL,
    lexicon: LexiconOpt = DEFAULT_LEXICON,
) -> None:
    """Classify JSONL {id, text, channel?, affiliate_hint?} (UTF-8): one JSON line out per line in; a bad line
    (not UTF-8, not JSON, blank, a wrong field) gets an {id, error} line naming its line, and exit status 1."""
    if ctx.invoked_subcommand is not None:
        return
    from services.classifier.offline import classify_stream

    if input and not input.is_file():
        raise typer.BadParameter(f"{input}: no such file", param_hint="--input")
    classifier = _classifier(model, lexicon)
    # bytes: each line is decoded (and reported) on its own
    src = input.open("rb") if input else getattr(sys.stdin, "buffer", sys.stdin)
    dst = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        errors = classify_stream(src, dst, classifier)
    finally:
        if input:
            src.close()
        if output:
            dst.close()
    for line_no, message in errors:
        print(f"{input or '<stdin>'}:{line_no}: {message}", file=sys.stderr)
    if errors:
        raise typer.Exit(1)


@app.command()
def corpus(corpus_dir: Annotated[Path, typer.Option(help="holds parts/*.jsonl")] = CORPUS_DIR) -> None:
    """Rebuild train.jsonl and test.jsonl from the hand-written parts and show what is in them."""
    from collections import Counter

    from services.classifier.training.corpus import build

    s = build(corpus_dir)
    console.print(f"train {len(s.train)}, test {len(s.test)}, duplicates dropped {len(s.dropped)}")
    for field in ("topic", "kind", "urgency", "style", "affiliate", "sentiment"):
        t = Table(title=field)
        t.add_column("label")
        t.add_column("train", justify="right")
        t.add_column("test", justify="right")
        tr, te = Counter(getattr(e, field) for e in s.train), Counter(getattr(e, field) for e in s.test)
        for label in sorted(tr.keys() | te.keys()):
            t.add_row(label, str(tr[label]), str(te[label]))
        console.print(t)
    flags = Counter(f for e in s.train for f in e.flags), Counter(f for e in s.test for f in e.flags)
    console.print("flags (train / test): " + ", ".join(f"{f} {flags[0][f]}/{flags[1][f]}" for f in sorted(flags[0])))


@app.command()
def train(
    corpus_dir: Annotated[Path, typer.Option(
        help="holds parts/*.jsonl; the train split is rebuilt first")] = CORPUS_DIR,
    output: Annotated[Path, typer.Option("--output", "-o", help="model file to write")] = DEFAULT_MODEL,
    corrections: Annotated[Optional[Path], typer.Option(
        help="JSONL of corrected cases (as written by `classify corrections`) to train on as well")] = None,
    c: Annotated[Optional[float], typer.Option(
        "--c", min=0.001, help="regularisation; cross-validated if omitted")] = None,
    lexicon: LexiconOpt = DEFAULT_LEXICON,
) -> None:
    """Train topic, kind, sentiment, affiliate and urgency on the train split (never the test split); the
    lexicon tells where the urgency head acts, for choosing its critical threshold."""
    from services.classifier.adapters.loader import tokenizer
    from services.classifier.adapters.model_file import save_model
    from services.classifier.training.corpus import build, read_jsonl
    from services.classifier.training.train import train as fit
    from shared.datafiles import DataFileError

    try:
        import sklearn  # noqa: F401
    except ImportError:
        console.print("[red]error:[/] training needs scikit-learn, which the service image leaves out: "
                      "pip install 'moksori\\[train]' (the development venv has it)")
        raise typer.Exit(2) from None

    try:
        examples = build(corpus_dir).train + (read_jsonl(corrections) if corrections else [])
        lex = load_lexicon(lexicon)
    except (DataFileError, OSError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    model = fit(examples, tokenizer(), lex, c=c, log=console.print)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, output)
    console.print(f"model {model.version} written to {output} ({output.stat().st_size / 1e6:.1f} MB, "
                  f"{len(model.vocabulary)} features)")


@app.command(name="eval")
def evaluate(
    files: Annotated[list[Path], typer.Argument(help="labelled JSONL (the corpus format), e.g. the held-out test "
                                                     "split; several files are read as one set")],
    model: ModelOpt = DEFAULT_MODEL,
    lexicon: LexiconOpt = DEFAULT_LEXICON,
    report: Annotated[Optional[Path], typer.Option(help="also write the report as Markdown here")] = None,
    errors: Annotated[int, typer.Option(help="show this many misclassified examples")] = 0,
    check: Annotated[bool, typer.Option(help="exit 1 when a target is missed")] = False,
    title: Annotated[str, typer.Option(help="the report's title")] = "Classifier report: held-out split",
) -> None:
    """Per-class precision/recall/F1, macro-F1, topic confusion matrix, flag precision/recall, critical recall."""
    from services.classifier.domain.classify import Item
    from services.classifier.training.corpus import read_jsonl
    from services.classifier.training.evaluate import FIELDS, evaluate as score, markdown
    from shared.datafiles import DataFileError

    try:
        examples = [e for file in files for e in read_jsonl(file)]
    except (DataFileError, OSError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    clf = _classifier(model, lexicon)
    predicted = clf.classify_batch([Item(e.text, e.channel) for e in examples])
    r = score(examples, predicted)
    shown = " ".join(str(f) for f in files)
    console.print(f"{shown}: {r.n} examples, model {clf.version}")
    for field in FIELDS:
        t = Table(title=f"{field}: macro-F1 {r.macro(field):.3f}, accuracy {r.accuracy[field]:.3f}")
        for col in ("label", "precision", "recall", "F1", "support"):
            t.add_column(col, justify="left" if col == "label" else "right")
        for s in r.fields[field]:
            t.add_row(s.label, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", str(s.support))
        console.print(t)
    labels = sorted({g for g, _ in r.confusion} | {p for _, p in r.confusion})
    t = Table(title="topic confusion (rows gold, columns predicted)")
    t.add_column("gold")
    for lab in labels:
        t.add_column(lab[:6], justify="right")
    for g in labels:
        t.add_row(g, *(str(r.confusion.get((g, p), "")) for p in labels))
    console.print(t)
    t = Table(title="targets")
    for col in ("measure", "value", "target", "met"):
        t.add_column(col)
    for name, value, target, ok in r.checks():
        t.add_row(name, f"{value:.3f}", f"{target:.2f}", "yes" if ok else "[red]no[/]")
    console.print(t)
    for e, c in r.errors[:errors]:
        console.print(f"[dim]{e.id}[/] {e.text[:120]!r}\n   gold {e.topic}/{e.urgency}/{list(e.flags)} "
                      f"→ {c.topic}/{c.urgency}/{list(c.flags)} rules {list(c.rules)}")
    if report:
        about = (f"`moksori classify eval {shown}` on {r.n} held-out examples; model `{clf.version}` "
                 f"({clf.model.meta.get('examples')} training examples).")
        report.write_text(markdown(r, title, about), encoding="utf-8")
        console.print(f"report written to {report}")
    if check and not all(ok for *_, ok in r.checks()):
        raise typer.Exit(1)


@app.command()
def corrections(
    output: Annotated[Path, typer.Option("--output", "-o", help="JSONL file to write (the corpus format)")],
    database_url: Annotated[str, typer.Option(envvar="DATABASE_URL", help="postgresql://…")],
    since: Annotated[Optional[str], typer.Option(help="only corrections from this date on (YYYY-MM-DD)")] = None,
) -> None:
    """Export the cases affiliate teams corrected as training examples (masked text, corrected topic and kind);
    then `moksori classify train --corrections FILE`."""
    from datetime import date, datetime, timezone

    import asyncpg

    from services.classifier.adapters.repository import CORRECTED_EXAMPLES
    from services.classifier.training.corpus import Example, example_line

    try:
        start = datetime.combine(date.fromisoformat(since), datetime.min.time(), timezone.utc) if since else \
            datetime(2000, 1, 1, tzinfo=timezone.utc)
    except ValueError:
        raise typer.BadParameter(f"{since!r} is not a date like 2026-11-01", param_hint="--since") from None

    async def fetch():
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetch(CORRECTED_EXAMPLES, start)
        finally:
            await conn.close()

    rows = asyncio.run(fetch())
    with output.open("w", encoding="utf-8") as f:
        for r in rows:
            ex = Example(id=f"correction-{r['case_id']}", text=r["text"], style="correction", kind=r["kind"],
                         topic=r["topic"], urgency=r["urgency"], flags=tuple(sorted(r["flags"])),
                         affiliate=r["affiliate"], sentiment=r["sentiment"])
            f.write(example_line(ex))
    console.print(f"{len(rows)} corrected cases written to {output}")
