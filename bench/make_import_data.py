"""Generate the import benchmark's input: a CSV and an NDJSON file of N rows.

Eight columns mixing integers, reals, dates, text and empty cells; about 1 % of
the rows carry a quoted field holding commas, quotes and a line break, because
those are what make a CSV parser slow and what naive importers get wrong.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

__all__ = ["COLUMNS", "write_csv", "write_ndjson"]

COLUMNS = ["id", "amount", "booked", "payee", "category", "quantity", "note", "score"]
_WORDS = ("coffee", "rent", "salary", "groceries", "train", "book", "gift", "refund",
          "insurance", "phone", "water", "energy", "cinema", "pharmacy", "bakery")
_CATEGORIES = ("food", "home", "travel", "income", "health", "leisure")


def _rows(n: int, *, seed: int):
    rnd = random.Random(seed)
    for i in range(1, n + 1):
        note = " ".join(rnd.choice(_WORDS) for _ in range(rnd.randint(1, 4)))
        if rnd.random() < 0.01:
            note = f'{note}, "{rnd.choice(_WORDS)}",\nsecond line'
        yield [
            i,
            round(rnd.uniform(-2000, 5000), 2),
            f"20{rnd.randint(10, 25):02d}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
            f"{rnd.choice(_WORDS).title()} {rnd.randint(1, 999)}",
            rnd.choice(_CATEGORIES) if rnd.random() > 0.1 else None,
            rnd.randint(1, 50) if rnd.random() > 0.2 else None,
            note,
            round(rnd.random() * 100, 3) if rnd.random() > 0.05 else None,
        ]


def _csv_field(value) -> str:
    if value is None:
        return ""
    text = str(value)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_csv(path: Path, rows: int, *, seed: int = 1) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(COLUMNS) + "\n")
        for row in _rows(rows, seed=seed):
            f.write(",".join(_csv_field(v) for v in row) + "\n")
    return path


def write_ndjson(path: Path, rows: int, *, seed: int = 1) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        for row in _rows(rows, seed=seed):
            f.write(json.dumps(dict(zip(COLUMNS, row)), ensure_ascii=False) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="folder to write data.csv and data.ndjson into")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    write_csv(args.dest / "data.csv", args.rows)
    write_ndjson(args.dest / "data.ndjson", args.rows)


if __name__ == "__main__":
    main()
