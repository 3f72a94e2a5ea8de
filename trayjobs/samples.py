"""Sample CSV files (orders, a bank export, weather readings) for trying trayjobs out.

The welcome view's "Add a sample file" button drops one into Inbox, and
``python -m trayjobs.demo`` feeds them in every few seconds. They live here, apart
from the demo launcher, so the window can use them without importing the module
that starts the window.
"""

from __future__ import annotations

import os
import random
from datetime import date, timedelta
from pathlib import Path

__all__ = ["SAMPLES", "write_sample"]

_CUSTOMERS = ["Ada", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Radia"]
_PRODUCTS = [("notebook", 3.5), ("pen", 1.2), ("stapler", 7.9), ("lamp", 24.0), ("mug", 6.5)]
_SHOPS = ["Grocer", "Rail", "Bookshop", "Pharmacy", "Cafe", "Hardware"]
_CITIES = ["Oslo", "Lisbon", "Kyoto", "Quito", "Perth"]


def _orders(rng: random.Random, n: int, day: date) -> tuple[list[str], list[list]]:
    rows = []
    for i in range(n):
        product, price = rng.choice(_PRODUCTS)
        rows.append([f"{day:%Y%m%d}-{rng.randrange(10**6):06d}", day.isoformat(),
                     rng.choice(_CUSTOMERS), product, rng.randint(1, 5), f"{price:.2f}"])
    return ["order_id", "date", "customer", "product", "quantity", "price"], rows


def _bank(rng: random.Random, n: int, day: date) -> tuple[list[str], list[list]]:
    rows = [[(day - timedelta(days=rng.randrange(7))).isoformat(), rng.choice(_SHOPS),
             f"{-rng.uniform(2, 120):.2f}"] for _ in range(n)]
    return ["date", "payee", "amount"], sorted(rows)


def _weather(rng: random.Random, n: int, day: date) -> tuple[list[str], list[list]]:
    return (["date", "city", "temp_c", "rain_mm"],
            [[day.isoformat(), city, f"{rng.uniform(-5, 32):.1f}", f"{max(0, rng.gauss(1, 3)):.1f}"]
             for city in rng.sample(_CITIES, min(n, len(_CITIES)))])


#: Sample sources by file name; each name always fills the same table.
SAMPLES = {"orders.csv": _orders, "bank-export.csv": _bank, "weather.csv": _weather}


def _csv_cell(value) -> str:
    text = str(value)
    return f'"{text}"' if any(c in text for c in ',"\n') else text


def write_sample(folder: str | os.PathLike[str], name: str = "orders.csv", *, rows: int = 5,
                 rng: random.Random | None = None) -> Path | None:
    """Drop a sample CSV called ``name`` into ``folder``, complete at once (written under a
    hidden name, then renamed). ``None`` when a file of that name is still waiting there."""
    folder = Path(folder)
    target = folder / name
    if target.exists():
        return None
    header, data = SAMPLES[name](rng or random.Random(), rows, date.today())
    tmp = folder / f".{name}.part"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        for row in [header, *data]:
            f.write(",".join(_csv_cell(v) for v in row) + "\r\n")
    os.replace(tmp, target)
    return target
