"""IANA time zone names, as Calendar accepts them."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def is_time_zone(name: str) -> bool:
    return name in _known_zones()
