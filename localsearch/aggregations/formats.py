"""How aggregations print keys and values: OpenSearch's date formats and Java's Double.toString."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

from localsearch.aggregations.dates import DEFAULT_DATE_FORMAT, EPOCH, UTC
from searchcore.errors import IllegalArgument

# Java DateTimeFormatter patterns of OpenSearch's named formats (printing side)
_NAMED_FORMATS = {
    "date_optional_time": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "date_time": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
    "date_optional_time_nanos": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSXXX",
    "date_time_no_millis": "yyyy-MM-dd'T'HH:mm:ssXXX", "date": "yyyy-MM-dd", "basic_date": "yyyyMMdd",
    "basic_date_time": "yyyyMMdd'T'HHmmss.SSSXX", "basic_date_time_no_millis": "yyyyMMdd'T'HHmmssXX",
    "date_hour": "yyyy-MM-dd'T'HH", "date_hour_minute": "yyyy-MM-dd'T'HH:mm",
    "date_hour_minute_second": "yyyy-MM-dd'T'HH:mm:ss", "date_hour_minute_second_millis": "yyyy-MM-dd'T'HH:mm:ss.SSS",
    "date_hour_minute_second_fraction": "yyyy-MM-dd'T'HH:mm:ss.SSS", "hour": "HH", "hour_minute": "HH:mm",
    "hour_minute_second": "HH:mm:ss", "hour_minute_second_millis": "HH:mm:ss.SSS", "time": "HH:mm:ss.SSSXXX",
    "time_no_millis": "HH:mm:ssXXX", "year": "yyyy", "year_month": "yyyy-MM", "year_month_day": "yyyy-MM-dd",
    "ordinal_date": "yyyy-DDD",
}
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class DateFormatter:
    """Prints epoch millis with an OpenSearch date format (a named one or a Java pattern) in a zone."""

    def __init__(self, spec: str | None, zone: dt.tzinfo = UTC) -> None:
        name = (spec or DEFAULT_DATE_FORMAT).split("||")[0].strip()
        self.zone = zone
        self.epoch = name if name in ("epoch_millis", "epoch_second") else None
        self.pattern = _NAMED_FORMATS.get(name.removeprefix("strict_"), name)
        self.tokens = _pattern_tokens(self.pattern) if self.epoch is None else []

    def __call__(self, millis: int) -> str:
        if self.epoch == "epoch_millis":
            return str(millis)
        if self.epoch == "epoch_second":
            return str(millis // 1000) if millis % 1000 == 0 else str(millis / 1000)
        moment = (EPOCH + dt.timedelta(milliseconds=millis)).astimezone(self.zone)
        return "".join(text if letter is None else _print_field(moment, letter, text) for letter, text in self.tokens)


def _pattern_tokens(pattern: str) -> list[tuple[str | None, str]]:
    """(letter, run) for pattern letters and (None, literal) for quoted or other text."""
    tokens: list[tuple[str | None, str]] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            end = pattern.find("'", i + 1)
            end = len(pattern) if end < 0 else end
            tokens.append((None, pattern[i + 1:end] if end > i + 1 else "'"))
            i = end + 1
        elif char.isascii() and char.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == char:
                j += 1
            if char not in "yuYMLdDHhkKmsSaEeZXxzV":
                raise IllegalArgument(f"Invalid format: [{pattern}]: Unknown pattern letter: {char}")
            tokens.append((char, pattern[i:j]))
            i = j
        else:
            tokens.append((None, char))
            i += 1
    return tokens


def _print_field(moment: dt.datetime, letter: str, run: str) -> str:
    width = len(run)
    if letter in "yuY":
        return f"{moment.year % 100:02d}" if width == 2 else f"{moment.year:0{max(width, 4) if width > 1 else 1}d}"
    if letter in "ML":
        if width >= 3:
            name = _MONTHS[moment.month - 1]
            return name if width == 4 else name[:3]
        return f"{moment.month:0{width}d}"
    if letter in "Ee":
        name = _DAYS[moment.weekday()]
        return name if width >= 4 else name[:3]
    numbers = {"d": moment.day, "D": moment.timetuple().tm_yday, "H": moment.hour, "k": moment.hour or 24,
               "h": (moment.hour % 12) or 12, "K": moment.hour % 12, "m": moment.minute, "s": moment.second}
    if letter in numbers:
        return f"{numbers[letter]:0{width}d}"
    if letter == "S":
        return f"{moment.microsecond:06d}{'0' * 3}"[:width]
    if letter == "a":
        return "AM" if moment.hour < 12 else "PM"
    if letter in "zV":
        return moment.tzname() or "UTC"
    offset = moment.utcoffset() or dt.timedelta(0)
    if not offset and letter == "X":
        return "Z"
    total = int(offset.total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    hours, minutes = divmod(abs(total), 60)
    if letter == "Z" and width <= 3:
        return f"{sign}{hours:02d}{minutes:02d}"
    if width == 1:
        return f"{sign}{hours:02d}" + (f"{minutes:02d}" if minutes else "")
    if width == 2:
        return f"{sign}{hours:02d}{minutes:02d}"
    return f"{sign}{hours:02d}:{minutes:02d}"


def java_double(value: float) -> str:
    """Java's Double.toString, which OpenSearch uses for range keys ("100.0", "1.7040672E12")."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        return repr(float(value))  # Python prints this range in plain notation too
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(map(str, digits))
    power = len(text) - 1 + int(exponent)
    mantissa = text[0] + "." + (text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{power}"
