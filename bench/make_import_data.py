"""Generate the import benchmark's input: a CSV and an NDJSON file of N rows.

Two styles, so that the importer is not only measured on data shaped the way it
was tuned for:

- ``plain``: eight columns mixing integers, reals, dates, text and empty cells;
  about 1 % of the rows carry a quoted field holding commas, quotes and a line break.
- ``varied``: CRLF line ends, nine columns: unicode text (accents, CJK, emoji) that
  is often quoted, zip codes with leading zeros (which must stay text), many empty
  cells, a count column with a rare ``n/a`` (so it ends up text), reals in exponent
  notation, and a note that is sometimes several kB long with quotes and line breaks.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

__all__ = ["COLUMNS", "STYLES", "write_csv", "write_ndjson"]

COLUMNS = ["id", "amount", "booked", "payee", "category", "quantity", "note", "score"]
VARIED_COLUMNS = ["id", "amount", "booked", "payee", "zip", "count", "note", "score", "flag"]
STYLES = ("plain", "varied")
_WORDS = ("coffee", "rent", "salary", "groceries", "train", "book", "gift", "refund",
          "insurance", "phone", "water", "energy", "cinema", "pharmacy", "bakery")
_CATEGORIES = ("food", "home", "travel", "income", "health", "leisure")
_NAMES = ("Zoë Müller", "Renée d'Arc", "Jürgen Groß", "Łukasz Wójcik", "Ærøskøbing Café",
          "東京 Books", "Ñandú, S.A.", "Ολυμπία", "Дом книги", "🍕 Pizza \"Da Gino\"",
          "O'Brien & Sons", "Smith, J.", "Ayşe Yılmaz", "café crème")


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


def _varied_rows(n: int, *, seed: int):
    rnd = random.Random(seed)
    for i in range(1, n + 1):
        r = rnd.random()
        if r < 0.003:  # a long note: a few kB, quotes and line breaks inside
            note = "\r\n".join(" ".join(rnd.choice(_WORDS + _NAMES) for _ in range(40))
                               for _ in range(rnd.randint(2, 12)))
        elif r < 0.05:
            note = f'{rnd.choice(_NAMES)} said "{rnd.choice(_WORDS)}",\nthen left'
        elif r < 0.4:
            note = None
        else:
            note = " ".join(rnd.choice(_WORDS + _NAMES) for _ in range(rnd.randint(1, 6)))
        count = rnd.randint(0, 100_000) if rnd.random() > 0.3 else None
        if rnd.random() < 0.0005:
            count = "n/a"
        yield [
            i,
            round(rnd.uniform(-1e6, 1e6), rnd.randint(0, 4)) if rnd.random() > 0.15 else None,
            f"20{rnd.randint(10, 25):02d}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
            rnd.choice(_NAMES),
            f"{rnd.randint(0, 99999):05d}",
            count,
            note,
            f"{rnd.random() * 10 ** rnd.randint(-8, 8):.6e}" if rnd.random() > 0.1 else None,
            rnd.choice(("true", "false", "")),
        ]


def _csv_field(value) -> str:
    if value is None:
        return ""
    text = str(value)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _columns_rows(rows: int, style: str, seed: int):
    if style == "varied":
        return VARIED_COLUMNS, _varied_rows(rows, seed=seed), "\r\n"
    return COLUMNS, _rows(rows, seed=seed), "\n"


def write_csv(path: Path, rows: int, *, seed: int = 1, style: str = "plain") -> Path:
    columns, data, end = _columns_rows(rows, style, seed)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(columns) + end)
        for row in data:
            f.write(",".join(_csv_field(v) for v in row) + end)
    return path


def write_ndjson(path: Path, rows: int, *, seed: int = 1, style: str = "plain") -> Path:
    columns, data, _ = _columns_rows(rows, style, seed)
    with open(path, "w", encoding="utf-8", newline="") as f:
        for row in data:
            f.write(json.dumps(dict(zip(columns, row)), ensure_ascii=False) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="folder to write data.csv and data.ndjson into")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--style", choices=STYLES, default="plain")
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    write_csv(args.dest / "data.csv", args.rows, style=args.style)
    write_ndjson(args.dest / "data.ndjson", args.rows, style=args.style)


if __name__ == "__main__":
    main()
