"""Checks one hand-written corpus part (JSONL) against the label contract.

    python services/classifier/corpus/check_part.py services/classifier/corpus/parts/NAME.jsonl

Prints each problem with its line number, then counts per label, and exits 1 on a problem."""

from __future__ import annotations

import json
import sys
from collections import Counter

KINDS = {"complaint", "suggestion", "inquiry", "praise"}
TOPICS = {"card_loss_theft", "card_payment", "account_transfer", "loan", "insurance", "investment", "digital_service",
          "staff_service", "fraud_phishing", "privacy", "mis_selling", "points_benefits", "branch_atm", "other"}
URGENCY = {"critical", "high", "normal", "low"}
FLAGS = {"regulator", "media", "legal", "abusive", "vulnerable"}
AFFILIATES = {"bank", "card", "securities", "insurance", "group"}
SENTIMENTS = {"negative", "neutral", "positive"}
REGISTERS = {"app_review": "app", "web_form": "web", "email": "email", "chat": "chat", "stt": "phone",
             "branch_note": "branch"}
FIELDS = {"id", "text", "register", "channel", "kind", "topic", "urgency", "flags", "affiliate", "sentiment"}


def check(path: str) -> int:
    problems, counts, texts = 0, {k: Counter() for k in ("kind", "topic", "urgency", "flag", "register",
                                                         "affiliate", "sentiment")}, {}
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except ValueError as exc:
            print(f"{path}:{n}: not JSON: {exc}")
            problems += 1
            continue
        errs = []
        if set(r) != FIELDS:
            errs.append(f"fields must be exactly {sorted(FIELDS)}; missing {sorted(FIELDS - set(r))}, "
                        f"extra {sorted(set(r) - FIELDS)}")
        for field, allowed in (("kind", KINDS), ("topic", TOPICS), ("urgency", URGENCY), ("affiliate", AFFILIATES),
                               ("sentiment", SENTIMENTS), ("register", set(REGISTERS))):
            if r.get(field) not in allowed:
                errs.append(f"{field}={r.get(field)!r} not in {sorted(allowed)}")
        flags = r.get("flags")
        if not isinstance(flags, list) or set(flags) - FLAGS or flags != sorted(set(flags)):
            errs.append(f"flags={flags!r} must be a sorted list of distinct values from {sorted(FLAGS)}")
        if r.get("register") in REGISTERS and r.get("channel") != REGISTERS[r["register"]]:
            errs.append(f"channel for register {r['register']} must be {REGISTERS[r['register']]!r}")
        text = r.get("text")
        if not isinstance(text, str) or len(text.strip()) < 5:
            errs.append("text must be a non-empty string")
        else:
            key = "".join(text.split())
            if key in texts:
                errs.append(f"duplicate of line {texts[key]}")
            texts[key] = n
        if r.get("kind") in ("suggestion", "praise") and r.get("urgency") not in ("low", "high", "critical"):
            errs.append("suggestions and praise are urgency low (unless a high/critical rule applies)")
        for e in errs:
            print(f"{path}:{n}: {e}")
        problems += bool(errs)
        if not errs:
            for k in ("kind", "topic", "urgency", "register", "affiliate", "sentiment"):
                counts[k][r[k]] += 1
            counts["flag"].update(flags or ["(none)"])
    for k, c in counts.items():
        print(f"{k:10s} " + "  ".join(f"{v}:{n}" for v, n in sorted(c.items())))
    print(f"{sum(counts['kind'].values())} valid lines, {problems} with problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(max(check(p) for p in sys.argv[1:]))
