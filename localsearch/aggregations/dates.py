"""Dates as aggregations read them: time zones, calendar and fixed rounding, time values, date math."""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from localsearch.datemath import parse_date_millis
from searchcore.errors import IllegalArgument

DEFAULT_DATE_FORMAT = "strict_date_optional_time"


UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
CALENDAR_UNITS = {"year": "y", "1y": "y", "quarter": "q", "1q": "q", "month": "M", "1M": "M", "week": "w", "1w": "w",
                  "day": "d", "1d": "d", "hour": "h", "1h": "h", "minute": "m", "1m": "m", "second": "s", "1s": "s"}
_TIME_UNITS_MS = {"nanos": 1e-6, "micros": 1e-3, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_time_zone(value: Any) -> dt.tzinfo:
    """`time_zone` as OpenSearch reads it: UTC, a fixed offset (+01:00) or a region id (Europe/Paris)."""
    if value is None:
        return UTC
    text = str(value).strip()
    if text.upper() in ("UTC", "Z", "GMT", "UT"):
        return UTC
    match = re.fullmatch(r"(?:UTC|GMT|UT)?([+-])(\d{1,2})(?::?(\d{2}))?", text)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        offset = dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
        return UTC if not offset else dt.timezone(sign * offset)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise IllegalArgument(f"Unknown time-zone ID: {text}") from exc


def _local(millis: int, zone: dt.tzinfo) -> dt.datetime:
    return (EPOCH + dt.timedelta(milliseconds=millis)).astimezone(zone).replace(tzinfo=None)


def _millis(local: dt.datetime, zone: dt.tzinfo) -> int:
    return (local.replace(tzinfo=zone) - EPOCH) // dt.timedelta(milliseconds=1)


def _truncate(moment: dt.datetime, unit: str) -> dt.datetime:
    moment = moment.replace(microsecond=0)
    if unit == "s":
        return moment
    moment = moment.replace(second=0)
    if unit == "m":
        return moment
    moment = moment.replace(minute=0)
    if unit in ("h", "H"):
        return moment
    moment = moment.replace(hour=0)
    if unit == "d":
        return moment
    if unit == "w":
        return moment - dt.timedelta(days=moment.weekday())
    if unit == "M":
        return moment.replace(day=1)
    if unit == "q":
        return moment.replace(month=(moment.month - 1) // 3 * 3 + 1, day=1)
    return moment.replace(month=1, day=1)


def _add(moment: dt.datetime, amount: int, unit: str) -> dt.datetime:
    if unit in ("y", "q", "M"):
        months = amount * {"y": 12, "q": 3, "M": 1}[unit]
        total = moment.year * 12 + moment.month - 1 + months
        year, month = divmod(total, 12)
        days = (dt.date(year + (month == 11), (month + 1) % 12 + 1, 1) - dt.timedelta(days=1)).day
        return moment.replace(year=year, month=month + 1, day=min(moment.day, days))
    seconds = {"w": 604_800, "d": 86_400, "h": 3_600, "H": 3_600, "m": 60, "s": 1}[unit]
    return moment + dt.timedelta(seconds=amount * seconds)


@dataclass(frozen=True)
class DateRounding:
    """Rounds epoch millis down to calendar units or fixed intervals in a time zone, with an offset."""

    zone: dt.tzinfo
    unit: str | None = None
    interval: int | None = None
    offset: int = 0

    def round(self, millis: int) -> int:
        t = millis - self.offset
        if self.unit is not None:
            return _millis(_truncate(_local(t, self.zone), self.unit), self.zone) + self.offset
        assert self.interval is not None
        shift = _zone_offset_ms(t, self.zone)
        local = t + shift
        return local - local % self.interval - shift + self.offset

    def next(self, key: int) -> int:
        if self.unit is not None:
            t = key - self.offset
            return self.round(_millis(_add(_local(t, self.zone), 1, self.unit), self.zone) + self.offset)
        assert self.interval is not None
        candidate = self.round(key + self.interval)
        return candidate if candidate > key else key + self.interval


def _zone_offset_ms(millis: int, zone: dt.tzinfo) -> int:
    moment = (EPOCH + dt.timedelta(milliseconds=millis)).astimezone(zone)
    offset = moment.utcoffset() or dt.timedelta(0)
    return offset // dt.timedelta(milliseconds=1)


def parse_time_value(text: str, setting: str) -> float:
    """OpenSearch's TimeValue syntax ("30s", "5m", "3h", "1d", "500ms") to milliseconds."""
    normalized = text.lower().strip()
    for unit in ("nanos", "micros", "ms", "s", "m", "h", "d"):
        if normalized.endswith(unit) and (unit != "m" or text.strip().endswith("m")):
            number = normalized[: -len(unit)].strip()
            try:
                return int(number) * _TIME_UNITS_MS[unit]
            except ValueError as exc:
                try:
                    float(number)
                except ValueError:
                    raise IllegalArgument(f"failed to parse [{text}]") from exc
                raise IllegalArgument(f"failed to parse [{text}], fractional time values are not supported") from exc
    if re.fullmatch(r"0+", normalized):
        return 0
    raise IllegalArgument(f"failed to parse setting [{setting}] with value [{text}] as a time value: unit is missing "
                          "or unrecognized")


_DATE_MATH = re.compile(r"^(?P<anchor>now|.+?\|\|)(?P<ops>([+-]\d+[yMwdhHms]|/[yMwdhHms])*)$")


def parse_date_value(value: Any, zone: dt.tzinfo = UTC) -> int:
    """A date bound: epoch millis, a date string, or date math ("now-7d/d", "2024-01-01||+1M")."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    match = _DATE_MATH.match(text)
    if match is None:
        try:
            return parse_date_millis(text)
        except ValueError as exc:
            raise IllegalArgument(f"failed to parse date field [{text}] with format [{DEFAULT_DATE_FORMAT}"
                                  "||epoch_millis]") from exc
    anchor = match.group("anchor")
    millis = int(time.time() * 1000) if anchor == "now" else parse_date_value(anchor[:-2], zone)
    moment = _local(millis, zone)
    for sign, amount, unit, rounded in re.findall(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])", match.group("ops")):
        if rounded:
            moment = _truncate(moment, rounded)
        else:
            moment = _add(moment, int(amount) * (1 if sign == "+" else -1), unit)
    return _millis(moment, zone)
