"""Schedules: ``every = "15m"`` intervals and 5-field cron, in local time.

cronsim computes cron occurrences (correct across DST changes, as Debian's
cron does); we validate the fields ourselves first so that a mistake reads
"hour 25 is out of range 0-23" rather than "Bad hour". Everything here works
on aware datetimes; callers pass ``now`` in, so tests need no wall clock.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone, tzinfo


__all__ = ["Schedule", "Interval", "Cron", "CronError", "crontab_line", "describe_cron", "local_now",
           "local_zone",
           "one_off_time", "NotLater", "ascii_digits", "zone_problem"]

_FIELDS = [
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(
        "jan feb mar apr may jun jul aug sep oct nov dec".split())}),
    ("day of week", 0, 7, {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}),
]
_DAYS = ["Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]


class CronError(ValueError):
    pass


def local_zone(*, fresh: bool = False) -> tzinfo:
    """The machine's real time zone (with its DST rules, not just today's offset): also one
    that ``TZ`` gives as POSIX rules (``CET-1CEST,M3.5.0,M10.5.0/3``), which the C library
    and so this machine's clocks follow. One that cannot be read is UTC, which
    :func:`zone_problem` says, as the log does once. ``fresh``: read again, not as first
    read in this process (the zone set anew while it runs)."""
    zone, problem = _read_zone(fresh)
    if problem is not None and problem not in _zone_said:
        _zone_said.add(problem)
        import logging
        logging.getLogger(__name__).warning("%s", problem)
    return zone


#: The problems with this machine's time zone logged already (each once a process).
_zone_said: set[str] = set()


def zone_problem() -> str | None:
    """Why schedules follow UTC rather than this machine's time zone, and what to do; None
    when its zone could be read."""
    return _read_zone()[1]


def _read_zone(fresh: bool = False) -> tuple[tzinfo, str | None]:
    try:
        import tzlocal
        return (tzlocal.reload_localzone() if fresh else tzlocal.get_localzone()), None
    except Exception as exc:  # an unreadable /etc/localtime must not stop the app
        why = str(exc)  # (exc is gone once the except clause ends)
        tz = os.environ.get("TZ")
        zone = _posix_zone(tz)
        if zone is not None:
            return zone, None
    if tz is not None:
        shown = tz if tz.isprintable() and len(tz) <= 60 else ascii(tz[:60])
        return timezone.utc, (
            f"TZ={shown} is not a time zone this computer knows: schedules follow UTC until "
            f"it is; set TZ to a name such as Europe/Paris (`timedatectl list-timezones` "
            f"lists them), or unset it to use the computer's own")
    return timezone.utc, (
        f"this computer's time zone cannot be read ({why}): schedules follow UTC until it "
        f"can; set it (`timedatectl set-timezone Europe/Paris`), or set TZ to a name such "
        f"as Europe/Paris")


@functools.lru_cache(maxsize=4)  # one zone object for one rule: datetimes in it compare
def _posix_zone(rule: str | None) -> tzinfo | None:
    """The zone POSIX rules name (``TZ=CET-1CEST,M3.5.0,M10.5.0/3``, ``JST-9``), read as a
    tz database file holding those rules alone; None when ``rule`` is none."""
    if not rule or not re.fullmatch(r"(?:[A-Za-z]{3,}|<[^>]+>)[-+]?\d.*", rule):
        return None
    import io
    import struct
    from zoneinfo import ZoneInfo

    def block() -> bytes:  # no transitions, one local time type (UTC): the rules rule
        return (b"TZif2" + bytes(15) + struct.pack(">6l", 0, 0, 0, 0, 1, 4)
                + struct.pack(">lBB", 0, 0, 0) + b"UTC\0")
    data = block() + block() + b"\n" + rule.encode("ascii", "replace") + b"\n"
    try:
        return ZoneInfo.from_file(io.BytesIO(data), key=rule)
    except (ValueError, OSError):
        return None


def local_now(tz: tzinfo | None = None) -> datetime:
    return datetime.now(tz or local_zone())


def ascii_digits(text: str) -> bool:
    """Whether ``text`` is a number in ASCII digits (``str.isdigit`` takes "²" too, which
    ``int`` then refuses)."""
    return text.isascii() and text.isdigit()


def _check_value(expr: str, name: str, lo: int, hi: int, names: dict[str, int], v: str) -> int:
    if v.lower() in names:
        return names[v.lower()]
    if not ascii_digits(v):
        raise CronError(f"cron '{expr}': {name} '{v}' is not a number"
                        + (f" or a name like '{next(iter(names))}'" if names else ""))
    n = int(v)
    if not lo <= n <= hi:
        raise CronError(f"cron '{expr}': {name} {n} is out of range {lo}-{hi}")
    return n


#: Cron's nicknames, which cronsim does not read: the five fields each stands for.
_NICKNAMES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
              "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
              "@hourly": "0 * * * *"}


def _check_cron(expr: str) -> None:
    if expr.strip().startswith("@"):
        nickname, _, rest = expr.strip().partition(" ")
        fields = _NICKNAMES.get(nickname.lower())
        # a crontab line's command after it: said to go elsewhere
        command = (f"; the command ({rest.strip()!r}) goes in the job's own key (a command "
                   f"job's command)") if rest.strip() and nickname.lower() != "@every" else ""
        if expr.strip().lower().startswith("@every"):
            raise CronError(f"cron '{expr}': for an interval write every = "
                            f"\"{expr.strip()[6:].strip() or '15m'}\" instead of cron")
        if nickname.lower() == "@reboot":  # cron's "at start", which at_login is here
            raise CronError(f"cron '{expr}': for a run each time trayjobs starts write "
                            f"at_login = true instead of cron{command}")
        raise CronError(f"cron '{expr}': write the 5 fields" + (
            f", e.g. '{fields}' for {nickname}" if fields else
            " (minute hour day-of-month month day-of-week), e.g. '0 9 * * mon-fri'")
            + command)
    parts = expr.split()
    zone = next((p for p in parts if re.match(r"(CRON_)?TZ=|[A-Za-z_]+/[A-Za-z_]|UTC$|GMT$",
                                              p)), None)
    if zone is not None and len(parts) != 5:  # "0 9 * * * Europe/Paris", "CRON_TZ=UTC ..."
        raise CronError(f"cron '{expr}': '{zone}' is a time zone, which cron here does not "
                        f"take: it runs in the computer's local time; write the 5 fields "
                        f"alone, e.g. '0 9 * * *'")
    line = crontab_line(expr) if len(parts) > 5 else None
    if line is not None and not re.fullmatch(r"[\d*?/,\-LW#]+", parts[5]):
        import json  # the TOML to write, quoted as TOML's basic strings are
        raise CronError(f"cron '{expr}': the time fields are followed by a command "
                        f"({parts[5]!r}): write the 5 fields alone, cron = "
                        f"{json.dumps(line[0])}, and the command as the job's own "
                        f"(a command job's command = {json.dumps(line[1])})")
    if len(parts) != 5:
        raise CronError(f"cron '{expr}': expected 5 fields (minute hour day-of-month month "
                        f"day-of-week), found {len(parts)}" + (
                            ": no field of seconds (for runs seconds apart write every = "
                            "\"30s\") and none of years here" if len(parts) in (6, 7) else ""))
    for part, (name, lo, hi, names) in zip(parts, _FIELDS):
        for item in part.split(","):
            body, _, step = item.partition("/")
            if step:
                if not ascii_digits(step) or not 1 <= int(step) <= hi:
                    raise CronError(f"cron '{expr}': step '/{step}' in the {name} field "
                                    f"must be 1-{hi}")
            if body == "*" or (name == "day of month" and body.upper() in ("L", "LW")):
                continue
            if name == "day of month" and re.fullmatch(r"(?i)L-\d+|\d+W", body):
                raise CronError(f"cron '{expr}': day of month '{body}' ("
                                + ("days before the month's last" if body[0] in "lL"
                                   else "the weekday nearest a day")
                                + ") is not supported here; 'L' is the month's last day and "
                                  "'LW' its last weekday")
            nth = re.fullmatch(r"(\w+)#(\d+)", body) if name == "day of week" else None
            if nth and not 1 <= int(nth.group(2)) <= 5:
                raise CronError(f"cron '{expr}': '{body}' asks for week {nth.group(2)} of the "
                                f"month; write #1 to #5")
            if name == "day of week" and re.fullmatch(r"\w+(#\d|L)", body):
                body = body.rstrip("L").split("#")[0]
            if not item:
                raise CronError(f"cron '{expr}': the {name} field has an empty item (two "
                                f"commas in a row, or one at its end)")
            if body.startswith("-"):
                raise CronError(f"cron '{expr}': {name} '{item}' is not a number")
            a, dash, b = body.partition("-")
            first = _check_value(expr, name, lo, hi, names, a)
            if dash:
                last = _check_value(expr, name, lo, hi, names, b)
                if last < first:
                    raise CronError(f"cron '{expr}': range '{body}' in the {name} field "
                                    f"runs backwards" + (
                                        f"; Sunday is 7 too, so write '{a}-7' for it at the "
                                        f"end" if name == "day of week" and last == 0 else ""))


def crontab_line(text: str) -> tuple[str | None, str] | None:
    """``(fields, command)`` when ``text`` is a whole line of a crontab, its five time
    fields (or a nickname such as ``@daily``) before the command: ``"0 2 * * *
    ~/bin/backup.sh"``; the fields are None for ``@reboot`` (at_login here). None for
    anything else. Run as a shell line, it would run a program named "0", or the first
    file in the folder for a ``*``."""
    words = text.split(None, 1)
    if len(words) == 2 and words[0].lower() in (*_NICKNAMES, "@reboot"):
        return _NICKNAMES.get(words[0].lower()), words[1].strip()
    parts = text.split(None, 5)
    if len(parts) != 6:
        return None
    fields = " ".join(parts[:5])
    try:
        _check_cron(_any_day(fields))
    except CronError:
        return None
    return fields, parts[5].strip()


@dataclass(frozen=True)
class Interval:
    seconds: float

    def next_after(self, after: datetime, anchor: datetime | None = None,
                   tz: tzinfo | None = None) -> datetime:
        """The next time strictly after ``after``, on the grid that starts at ``anchor``."""
        if anchor is None or anchor > after:
            return after + timedelta(seconds=self.seconds)
        # Interval schedules count real elapsed time (UTC), so DST does not shift them.
        steps = int((after - anchor).total_seconds() // self.seconds) + 1
        return (anchor + timedelta(seconds=steps * self.seconds)).astimezone(after.tzinfo)

    def last_by(self, now: datetime, first: datetime, tz: tzinfo | None = None) -> datetime:
        """The last slot of the grid that starts at ``first`` (a slot) not after ``now``."""
        steps = int((now - first).total_seconds() // self.seconds)
        return (first + timedelta(seconds=max(steps, 0) * self.seconds)).astimezone(first.tzinfo)

    def count(self, first: datetime, last: datetime, tz: tzinfo | None = None) -> int:
        """How many slots from the slot ``first`` to the slot ``last``, both counted."""
        return int(round((last - first).total_seconds() / self.seconds)) + 1

    def describe(self) -> str:
        from .durations import format_duration
        s = self.seconds
        for unit, n in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
            if s >= n and s % n == 0:
                k = int(s // n)
                return f"Every {unit}" if k == 1 else f"Every {k} {unit}s"
        return f"Every {format_duration(s)}"


def _any_day(expr: str) -> str:
    """``expr`` with a "?" in a day field (Quartz's, Spring's and AWS's "no particular
    value": ``0 9 ? * mon-fri``) as the "*" it means here, which cronsim reads."""
    parts = expr.split()
    if len(parts) != 5 or "?" not in (parts[2], parts[4]):
        return expr
    return " ".join("*" if p == "?" and i in (2, 4) else p for i, p in enumerate(parts))


@dataclass(frozen=True)
class Cron:
    expr: str

    def __post_init__(self) -> None:
        from cronsim import CronSim, CronSimError  # only where a job has a cron schedule
        object.__setattr__(self, "expr", _any_day(self.expr))
        _check_cron(self.expr)
        try:
            next(CronSim(self.expr, datetime(2000, 1, 1)))
        except CronSimError as exc:
            msg = str(exc)
            if "day-of-month" in msg:
                msg = "that day of the month never occurs in the months given"
            raise CronError(f"cron '{self.expr}': {msg}") from None
        except StopIteration:
            raise CronError(f"cron '{self.expr}' never matches a real date") from None

    def next_after(self, after: datetime, anchor: datetime | None = None,
                   tz: tzinfo | None = None) -> datetime:
        # cronsim walks wall-clock time in a real zone and handles DST gaps and overlaps
        # the way Debian's cron does (a 02:30 job in a skipped hour runs at 03:00).
        zone = tz or local_zone()
        if _odd_change_near(after, zone):
            return self._next_by_wall_clock(after, zone)
        return self._next(after, zone)

    def _next(self, after: datetime, zone: tzinfo) -> datetime:
        from cronsim import CronSim
        times = CronSim(self.expr, after.astimezone(zone).replace(microsecond=0))
        due = next(times)
        # From the second pass of an hour the clocks repeat, cronsim (which reads the wall
        # clock, not which pass) gives the first pass's time, already gone: a fixed-time
        # job set in that hour ran then, and runs next on the following day.
        while due.timestamp() <= after.timestamp():  # not by wall clock, as one zone would
            due = next(times)
        return due

    def _next_by_wall_clock(self, after: datetime, zone: tzinfo) -> datetime:
        """As cron near a change of the clocks by half an hour (Lord Howe Island), where
        cronsim, stepping whole hours of real time, passes over the slots of a whole hour
        ('*/15 2 * * *' ran at 02:30, not 02:00) and runs a '45 1 * * *' job in both passes
        of the repeated half hour. Walk the wall clock and place each slot: one in the
        skipped time runs as the clocks change; one in the repeated time in its first pass,
        or in both for a job whose minute or hour is a wildcard (as Debian's cron)."""
        from cronsim import CronSim
        both = self.expr.split()[0].startswith("*") or self.expr.split()[1].startswith("*")
        after_utc = after.astimezone(timezone.utc)
        offsets = [after_utc.astimezone(zone).utcoffset(),
                   (after_utc + timedelta(days=1)).astimezone(zone).utcoffset()]
        start = (after_utc + min(offsets)).replace(tzinfo=None, microsecond=0)
        best = None
        for wall in CronSim(self.expr, start):
            if best is not None and wall - max(offsets) > best.replace(tzinfo=None):
                break
            first = wall.replace(tzinfo=zone).astimezone(timezone.utc)
            second = wall.replace(tzinfo=zone, fold=1).astimezone(timezone.utc)
            if first > second:  # skipped: runs as the clocks change
                found = [_offset_change(second, first, zone)]
            elif first < second and both:
                found = [first, second]
            else:
                found = [first]
            for t in found:
                if t > after_utc and (best is None or t < best):
                    best = t
        return best.astimezone(zone)

    def last_by(self, now: datetime, first: datetime, tz: tzinfo | None = None) -> datetime:
        """The last slot not after ``now``, from the slot ``first`` on (``first`` if none
        later is). Found by halving the time between them, not by walking every slot: a
        minute's cron a year behind has half a million of them (seconds per look)."""
        # In UTC throughout: datetimes of one zone subtract and compare by wall clock.
        end = now.timestamp()
        lo, hi = first.astimezone(timezone.utc), now.astimezone(timezone.utc)
        # a slot comes after lo by now; none after hi
        if self.next_after(lo, tz=tz).timestamp() > end:
            return first
        while (hi - lo).total_seconds() > 1:  # slots are whole minutes apart, or one instant
            mid = lo + (hi - lo) / 2
            if self.next_after(mid, tz=tz).timestamp() <= end:
                lo = mid
            else:
                hi = mid
        return self.next_after(lo, tz=tz)

    def count(self, first: datetime, last: datetime, tz: tzinfo | None = None) -> int:
        """How many slots from ``first`` to ``last``, both counted, as :meth:`next_after`
        walks them: a day at a time from the fields (its matching minutes and hours), and
        slot by slot only within two hours of a change of the clocks."""
        from bisect import bisect_left, bisect_right

        from cronsim import CronSim
        zone = tz or local_zone()
        lo_ts, hi_ts = first.timestamp(), last.timestamp() + 1  # slots in [lo_ts, hi_ts)
        if hi_ts <= lo_ts:
            return 0
        fields = CronSim(self.expr, datetime(2000, 1, 1))
        minutes = sorted(h * 60 + m for h in fields.hours for m in fields.minutes)

        def by_fields(a: float, b: float) -> int:  # [a, b): one offset, one local date
            if b <= a:
                return 0
            w = datetime.fromtimestamp(a, zone)
            low = w.hour * 60 + w.minute + (1 if w.second or w.microsecond else 0)
            w = datetime.fromtimestamp(b - 1, zone)
            return max(0, bisect_right(minutes, w.hour * 60 + w.minute)
                       - bisect_left(minutes, low))

        # The local days up to last's; near each change of the clocks (two hours
        # either side) the slots are walked, as next_after places them: one in skipped
        # time runs as the clocks change, which may be the next day's first moment.
        # (From the day before first's: a change that ends it may be first's own moment.)
        day = first.astimezone(zone).date() - timedelta(days=1)
        spans, changes = [], set()
        begin = _day_start(day, zone).timestamp()
        while begin < hi_ts:
            after = _day_start(day + timedelta(days=1), zone).timestamp()
            spans.append((day, begin, after))
            if not _steady(begin, after, zone):
                change = _offset_change(utc(begin - 1), utc(after), zone)
                if change is not None:
                    changes.add(change.timestamp())
            day, begin = day + timedelta(days=1), after
        near: list[tuple[float, float]] = []
        for c in sorted(changes):  # two changes within hours of each other: one stretch
            if near and c - 7200 <= near[-1][1]:
                near[-1] = (near[-1][0], c + 7200)
            else:
                near.append((c - 7200, c + 7200))
        total = sum(self._walk(max(a, lo_ts), min(b, hi_ts), zone) for a, b in near)
        days = CronSim("0 0 " + " ".join(self.expr.split()[2:]),
                       datetime.combine(spans[0][0], time()) - timedelta(minutes=1))
        matching = next(days).date()
        for day, begin, after in spans:
            while matching < day:
                matching = next(days).date()
            if matching != day:
                continue
            cursor, end = max(begin, lo_ts), min(after, hi_ts)
            for a, b in near:  # the parts of the day away from every change
                if a < end and b > cursor:
                    total += by_fields(cursor, min(a, end))
                    cursor = max(cursor, b)
            total += by_fields(cursor, end)
        return total

    def _walk(self, begin: float, before: float, zone: tzinfo) -> int:
        """How many slots from ``begin`` on and before ``before`` (timestamps), one by one."""
        if before <= begin:
            return 0
        n, t = 0, self.next_after(utc(begin - 1), tz=zone)
        while t.timestamp() < before:
            n, t = n + 1, self.next_after(t, tz=zone)
        return n

    def describe(self) -> str:
        return describe_cron(self.expr)


Schedule = Interval | Cron


def _day_start(day, zone: tzinfo) -> datetime:
    """The first moment of the local date ``day`` in ``zone`` (where midnight is skipped,
    the end of the gap)."""
    return _instants(day, time(), zone)[0]


def _steady(begin: float, after: float, zone: tzinfo) -> bool:
    """Whether the day from ``begin`` to ``after`` (timestamps) keeps one offset from UTC:
    24 hours long, the same offset at both ends."""
    return (after - begin == 86400
            and utc(begin).astimezone(zone).utcoffset()
            == utc(after - 1).astimezone(zone).utcoffset())


def _odd_change_near(moment: datetime, zone: tzinfo) -> bool:
    """Whether ``zone`` changes its clocks by other than whole hours within a day of
    ``moment``."""
    a, b = ((moment + timedelta(days=d)).astimezone(zone).utcoffset() for d in (-1, 2))
    return a != b and (b - a).seconds % 3600 != 0


def _offset_change(start: datetime, end: datetime, zone: tzinfo) -> datetime | None:
    """The moment (to the second) between ``start`` and ``end`` when ``zone``'s offset from
    UTC changes, if it differs at the two ends."""
    a, b = start.astimezone(zone), end.astimezone(zone)
    if a.utcoffset() == b.utcoffset():
        return None
    lo, hi = int(start.timestamp()), int(end.timestamp())
    while hi - lo > 1:  # the offset at lo is start's, at hi end's
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == a.utcoffset():
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, zone)


def describe_cron(expr: str) -> str:
    """Plain words for common crons ("Weekdays at 09:00"), else cron-descriptor's sentence."""
    parts = expr.split()
    if len(parts) == 5:
        minute, hour, dom, month, dow = (p.lower() for p in parts)
        if ascii_digits(minute) and ascii_digits(hour) and dom == "*" and month == "*":
            at = f"at {int(hour):02d}:{int(minute):02d}"
            days = _describe_dow(dow)
            if days:
                return f"{days} {at}"
        if ascii_digits(minute) and hour == "*" and dom == month == dow == "*":
            return f"Every hour at :{int(minute):02d}"
        if minute.startswith("*/") and hour == dom == month == dow == "*":
            return f"Every {minute[2:]} minutes"
        if (ascii_digits(minute) and ascii_digits(hour) and ascii_digits(dom) and month == "*"
                and dow == "*"):
            return f"Monthly on day {int(dom)} at {int(hour):02d}:{int(minute):02d}"
    try:
        from cron_descriptor import get_description
        return get_description(expr)
    except Exception:
        return f"cron {expr}"


def _describe_dow(dow: str) -> str | None:
    names = {d[:3].lower(): i for i, d in enumerate(_DAYS)}
    if dow in ("*", "?"):
        return "Daily"
    if dow in ("1-5", "mon-fri"):
        return "Weekdays"
    if dow in ("0,6", "6,0", "sat,sun", "sun,sat", "6-7"):
        return "Weekends"
    days = []
    for item in dow.split(","):
        v = names.get(item, None)
        if v is None and ascii_digits(item):
            v = int(item) % 7
        if v is None:
            return None
        days.append(_DAYS[v])
    return ", ".join(days) if days else None


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


#: How far ahead a one-off run may be asked for.
MAX_AHEAD = timedelta(days=3660)


class NotLater(ValueError):
    """A one-off's time that is not later than now: ``--in 0s``, ``--in -5m``, a time
    passed. Running now is asked for otherwise, which the caller says how."""


def _no_such_date(text: str) -> str | None:
    """Why a date written in the right shape is no date ("2026-02-30": February has 28
    days that year), where "not a time" would send one looking for a typo."""
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})(?:[ T]|$)", text)
    if not m:
        return None
    year, month, day = (int(g) for g in m.groups())
    if not 1 <= month <= 12:
        return f"there is no month {month}"
    import calendar
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        return f"{calendar.month_name[month]} {year} has no day {day} (it has {days})"
    return None


def _instants(day, at: time, tz: tzinfo) -> list[datetime]:
    """The real moments a wall-clock time on ``day`` names in ``tz``, earliest first: two in
    the hour that is repeated when clocks go back; in the hour skipped when they go forward,
    none exists, and the end of the gap stands for it (02:30 runs at 03:00, as cron runs a
    job set for then)."""
    first = datetime.combine(day, at, tzinfo=tz)
    second = first.replace(fold=1)
    a, b = first.astimezone(timezone.utc), second.astimezone(timezone.utc)
    if a == b:
        return [first]
    if a < b:  # the repeated hour: fold 0 is its first pass, fold 1 its second
        return [a.astimezone(tz), b.astimezone(tz)]
    # A skipped time: b (read with the later offset) is before the change, a after it.
    while b < a and b.astimezone(tz).utcoffset() != a.astimezone(tz).utcoffset():
        b += timedelta(minutes=1)
    return [b.astimezone(tz)]


def _later(now: datetime, seconds: float) -> datetime:
    """``now`` plus that much real time: wall-clock arithmetic would make ``--in 2h`` one
    hour when clocks go forward meanwhile, and a time past when they go back."""
    return (now.astimezone(timezone.utc) + timedelta(seconds=seconds)).astimezone(now.tzinfo)


def one_off_time(*, at: str | None = None, within: str | None = None,
                 now: datetime | None = None) -> datetime:
    """When a one-off run asked for ``at`` a time or ``within`` a duration should start,
    as an aware datetime. ``at``: ``"18:00"`` (today, or tomorrow once it has passed), ``"tomorrow 9:00"``,
    ``"2026-12-24 18:00"`` or ISO 8601 (``"2026-12-24T18:00:00+01:00"``), local time unless
    it gives an offset; ``within``: a duration, ``"2h"``, ``"90s"``. ``ValueError`` with
    what to write for anything else, a time already past or one too far ahead."""
    from .durations import parse_duration
    now = now or local_now()
    if (at is None) == (within is None):
        raise ValueError("give either a time (--at) or a duration (--in)")
    if within is not None:
        if not within.strip():
            raise ValueError("--in: give a duration, e.g. 2h, 90s or 1h30m")
        if within.strip().startswith("-"):  # "-5m", mistyped for "5m", say: not a run now
            raise NotLater(f"--in {within}: that is before now, not later")
        try:
            seconds = parse_duration(within, limit=float("inf"))  # bounded below, in its words
        except ValueError as exc:  # the bare message would not say which option it is about
            raise ValueError(f"--in: {exc}") from None
        if seconds <= 0:
            raise NotLater(f"--in {within}: that is now, not later")
        if seconds > MAX_AHEAD.total_seconds():
            raise ValueError(f"--in {within}: at most {MAX_AHEAD.days} days ahead")
        return _later(now, seconds)
    text = at.strip()
    m = re.fullmatch(r"(?i)(tomorrow\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    if m:
        tomorrow, *hms = m.groups()
        hour, minute, second = int(hms[0]), int(hms[1]), int(hms[2] or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError(f"--at {at}: not a time of day; write e.g. 18:00 or 07:30")
        # A zone (not a fixed offset) as tzinfo: the offset of that day applies (DST).
        # Compared as timestamps: datetimes in one zone compare by wall clock, which in the
        # repeated hour takes its first pass, already gone, for a time still ahead.
        wall = time(hour, minute, second)
        days = [now.date() + timedelta(days=1)]
        if not tomorrow:  # today, or tomorrow once it has passed
            days.insert(0, now.date())
        return next(t for day in days
                    for t in _instants(day, wall, now.tzinfo)
                    if t.timestamp() > now.timestamp())
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(f"--at {at}: give a time too, e.g. '{text} 18:00'")
    if text.casefold() == "now":
        raise NotLater(f"--at {at}: that is now, not later")
    if text.casefold() == "tomorrow":
        raise ValueError(f"--at {at}: give a time too, e.g. 'tomorrow 9:00'")
    m = re.fullmatch(r"(?i)(\d{1,2}:\d{2}(?::\d{2})?)\s+tomorrow", text)
    if m:
        raise ValueError(f"--at {at}: write the day first: 'tomorrow {m.group(1)}'")
    try:
        due = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--at {at}: {_no_such_date(text) or 'not a time'}; write e.g. 18:00, "
                         f"'2026-12-24 18:00' or 2026-12-24T18:00:00+01:00") from None
    if due.tzinfo is None:
        # Of the two passes of a repeated hour, the one still ahead.
        found = _instants(due.date(), due.time(), now.tzinfo)
        due = next((t for t in found if t.timestamp() > now.timestamp()), found[-1])
    if due.timestamp() <= now.timestamp():
        raise NotLater(f"--at {at}: that time has passed")
    if due.timestamp() - now.timestamp() > MAX_AHEAD.total_seconds():
        raise ValueError(f"--at {at}: at most {MAX_AHEAD.days} days ahead")
    return due
