"""Dates as OpenSearch reads them: `strict_date_optional_time||epoch_millis`, date math (`now-1d/d`,
`2024-01-05||+1M/M`) and the rounding that range bounds use.

A bound that rounds up (`lte`, `gt`) fills the fields a date leaves out with their largest value, so
`lte: 2024-01-10` means the end of that day, and `/d` rounds to the day's last millisecond; `gte` and `lt`
round down. This is JavaDateMathParser's behaviour.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from searchcore.errors import ParsingError, SearchError

DEFAULT_FORMAT = "strict_date_optional_time||epoch_millis"
SUPPORTED_FORMATS = {"strict_date_optional_time", "date_optional_time", "epoch_millis", "strict_date_time",
                     "date_time", "strict_date_optional_time_nanos"}
_DATE = re.compile(
    r"(?P<y>[+-]?\d{4,9})(?:-(?P<M>\d{2})(?:-(?P<d>\d{2})(?:T(?P<h>\d{2})(?::(?P<m>\d{2})"
    r"(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?)?)?)?(?P<z>Z|[+-]\d{2}(?::?\d{2})?)?")
_MATH = re.compile(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])")
_EPOCH = re.compile(r"-?\d+(\.\d+)?")


def supported_format(text: str) -> bool:
    return all(part.strip() in SUPPORTED_FORMATS for part in text.split("||"))


def zone(name: str | None) -> dt.tzinfo:
    if name is None or name in ("Z", "UTC", "+00:00"):
        return dt.UTC
    offset = re.fullmatch(r"([+-])(\d{1,2})(?::?(\d{2}))?", name)  # java.time's ZoneOffset forms: +1, +01, +0130
    if offset and int(offset.group(2)) <= 18:
        sign = 1 if offset.group(1) == "+" else -1
        return dt.timezone(sign * dt.timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3) or 0)))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SearchError(f"Unknown time-zone ID: {name}", status=400, error_type="illegal_argument_exception") from exc


def parse_date(text: str, *, round_up: bool = False, tz: dt.tzinfo = dt.UTC) -> int | None:
    """A strict_date_optional_time string to epoch millis (None when it is not one)."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        return None
    parts = match.groupdict()
    year = int(parts["y"])
    month = int(parts["M"]) if parts["M"] else (12 if round_up else 1)
    if not 1 <= month <= 12:
        return None
    last_day = calendar.monthrange(year, month)[1] if 1 <= year <= 9999 else 31
    day = int(parts["d"]) if parts["d"] else (last_day if round_up else 1)
    hour = int(parts["h"]) if parts["h"] else (23 if round_up else 0)
    minute = int(parts["m"]) if parts["m"] else (59 if round_up else 0)
    second = int(parts["s"]) if parts["s"] else (59 if round_up else 0)
    if parts["f"]:
        micros = int(parts["f"][:6].ljust(6, "0"))
    else:
        micros = 999_000 if round_up else 0
    try:
        moment = dt.datetime(year, month, day, hour, minute, second, micros,
                             tzinfo=zone(parts["z"]) if parts["z"] else tz)
    except ValueError:
        return None
    return _millis(moment)


def _millis(moment: dt.datetime) -> int:
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def parse_bound(value: object, *, round_up: bool, time_zone: str | None = None, now_ms: int | None = None) -> int:
    """A range bound on a date field: a date, epoch millis, or date math, rounded as the bound requires."""
    tz = zone(time_zone)
    if isinstance(value, bool):
        raise _failed(value)
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if text.startswith("now"):
        anchor = now_ms if now_ms is not None else int(time.time() * 1000)
        math_text = text[3:]
    elif "||" in text:
        date_text, math_text = text.split("||", 1)
        anchor_or_none = parse_date(date_text, tz=tz)
        if anchor_or_none is None:
            raise _failed(value)
        anchor = anchor_or_none
    else:
        parsed = parse_date(text, round_up=round_up, tz=tz)
        if parsed is None:
            if _EPOCH.fullmatch(text):
                return int(float(text))
            raise _failed(value)
        return parsed
    return _apply_math(anchor, math_text, round_up, tz, value)


def _apply_math(millis: int, text: str, round_up: bool, tz: dt.tzinfo, original: object) -> int:
    moment = dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC).astimezone(tz)
    position = 0
    while position < len(text):
        match = _MATH.match(text, position)
        if match is None:
            raise ParsingError(f"failed to parse date field [{original}]: operator not supported for date math "
                               f"[{text[position:]}]")
        sign, amount, unit, rounding = match.groups()
        if rounding:
            moment = _round(moment, rounding, round_up)
        else:
            moment = _add(moment, (1 if sign == "+" else -1) * int(amount), unit)
        position = match.end()
    return _millis(moment)


def _add(moment: dt.datetime, amount: int, unit: str) -> dt.datetime:
    if unit in ("y", "M"):
        months = moment.month - 1 + amount * (12 if unit == "y" else 1)
        year, month = moment.year + months // 12, months % 12 + 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        return moment.replace(year=year, month=month, day=day)
    seconds = {"w": 604_800, "d": 86_400, "h": 3600, "H": 3600, "m": 60, "s": 1}[unit]
    return moment + dt.timedelta(seconds=seconds * amount)


def _round(moment: dt.datetime, unit: str, round_up: bool) -> dt.datetime:
    start = {
        "y": lambda m: m.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0),
        "M": lambda m: m.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
        "w": lambda m: (m - dt.timedelta(days=m.weekday())).replace(hour=0, minute=0, second=0, microsecond=0),
        "d": lambda m: m.replace(hour=0, minute=0, second=0, microsecond=0),
        "h": lambda m: m.replace(minute=0, second=0, microsecond=0),
        "H": lambda m: m.replace(minute=0, second=0, microsecond=0),
        "m": lambda m: m.replace(second=0, microsecond=0),
        "s": lambda m: m.replace(microsecond=0),
    }[unit](moment)
    if not round_up:
        return start
    return _add(start, 1, unit) - dt.timedelta(milliseconds=1)


def _failed(value: object) -> SearchError:
    return ParsingError(f"failed to parse date field [{value}] with format [{DEFAULT_FORMAT}]")


def parse_date_millis(value: Any) -> int:
    """strict_date_optional_time||epoch_millis, OpenSearch's default date format, to epoch millis."""
    if isinstance(value, bool):
        raise ValueError(f"failed to parse date field [{value}]")
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value)
    # strict_date_optional_time; the slash form is what dynamic mapping detects as a date too
    parsed = parse_date(text) if "/" not in text else parse_date_or_none(text)
    if parsed is None:
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        raise ValueError(f"failed to parse date field [{value}] with format "
                         "[strict_date_optional_time||epoch_millis]")
    return parsed


def parse_date_or_none(text: str) -> int | None:
    candidate = text.strip().replace("/", "-")
    if candidate.endswith("Z"):
        candidate = candidate[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)
