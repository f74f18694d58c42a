"""UTC times as OCPP writes them ("2026-12-04T03:59:07Z"), from and to
seconds since 1970, without the platform's epoch (2000 on an ESP32, 1970 on
unix) or its time zone: the central system's clock is the only one the
charger trusts."""


def _days_from_civil(y, m, d):
    # Howard Hinnant's algorithm: days since 1970-01-01 of a Gregorian date.
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z):
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def parse(text):
    """Seconds since 1970 of an RFC 3339 time ("...Z" or "+hh:mm"), or None."""
    try:
        date, _, clock = text.partition("T")
        y, m, d = (int(p) for p in date.split("-"))
        zone = 0
        if clock.endswith("Z"):
            clock = clock[:-1]
        else:
            for sign in "+-":
                i = clock.rfind(sign)
                if i > 0:
                    hh, mm = clock[i + 1 :].split(":")
                    zone = (int(hh) * 3600 + int(mm) * 60) * (1 if sign == "+" else -1)
                    clock = clock[:i]
                    break
        hh, mm, ss = clock.split(":")
        secs = int(hh) * 3600 + int(mm) * 60 + int(float(ss))
        if not (1 <= m <= 12 and 1 <= d <= 31):
            return None
        return _days_from_civil(y, m, d) * 86400 + secs - zone
    except (ValueError, AttributeError):
        return None


def format(epoch_s, ms=None):
    """``ms``: milliseconds to show (two messages in one second stay apart)."""
    days, secs = divmod(int(epoch_s), 86400)
    y, m, d = _civil_from_days(days)
    text = "%04d-%02d-%02dT%02d:%02d:%02d" % (y, m, d, secs // 3600, secs // 60 % 60, secs % 60)
    return text + ("Z" if ms is None else ".%03dZ" % ms)
