"""A mixed webhook load, as a platform with many users sends it: creates, updates and deletes of
timed events in several zones, all-day events, recurring series with exceptions, attendees,
reminders and descriptions. Deterministic for a seed; each webhook distinct (own id and event)."""

from __future__ import annotations

import json
import random
from typing import Any

from tests.helpers import signed_headers, version

ZONES = ("America/Sao_Paulo", "America/New_York", "Europe/Lisbon", "America/Manaus", "Europe/Berlin",
         "Asia/Tokyo", "America/Mexico_City", "Africa/Luanda")
RULES = ("FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10", "FREQ=DAILY;INTERVAL=2;UNTIL=20270131T120000Z",
         "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=12", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH")


def mixed_event(rng: random.Random, event_id: str, updated: int) -> dict[str, Any]:
    day = rng.randrange(1, 28)
    month = rng.randrange(1, 13)
    ev: dict[str, Any] = {"id": event_id, "updated_at": version(updated),
                          "title": rng.choice(["Diagnóstico — Cliente X", "Mentoria 1:1", "Sessão de follow-up",
                                               "Workshop de planejamento estratégico"])}
    if rng.random() < 0.15:  # all-day
        ev["start"] = {"date": f"2026-{month:02d}-{day:02d}"}
        ev["end"] = {"date": f"2026-{month:02d}-{day + 1:02d}"}
        if rng.random() < 0.3:
            ev["recurrence"] = ["RRULE:FREQ=YEARLY;COUNT=3", f"EXDATE;VALUE=DATE:2027{month:02d}{day:02d}"]
    else:
        zone = rng.choice(ZONES)
        hour = rng.randrange(7, 19)
        ev["start"] = {"date_time": f"2026-{month:02d}-{day:02d}T{hour:02d}:00:00", "time_zone": zone}
        ev["end"] = {"date_time": f"2026-{month:02d}-{day:02d}T{hour + 1:02d}:30:00", "time_zone": zone}
        if rng.random() < 0.35:
            ev["recurrence"] = [f"RRULE:{rng.choice(RULES)}",
                                f"EXDATE;TZID={zone}:2026{month:02d}{day:02d}T{hour:02d}0000"]
    if rng.random() < 0.6:
        ev["description"] = "Pauta: " + " ".join(rng.choice(["revisão", "metas", "indicadores", "próximos passos",
                                                             "orçamento"]) for _ in range(rng.randrange(5, 60)))
    if rng.random() < 0.5:
        ev["conference_url"] = f"https://meet.example.com/{rng.getrandbits(40):x}"
    if rng.random() < 0.4:
        ev["url"] = f"https://app.evolutto.example/agenda/{event_id}"
    if rng.random() < 0.5:
        ev["attendees"] = [{"email": f"pessoa{rng.randrange(1000)}@cliente.example", "display_name": "Pessoa",
                            "optional": rng.random() < 0.2} for _ in range(rng.randrange(1, 6))]
    if rng.random() < 0.4:
        ev["reminders_minutes"] = sorted(rng.sample([5, 10, 15, 30, 60, 1440], rng.randrange(1, 3)))
    if rng.random() < 0.3:
        ev["location"] = "Av. Paulista, 1000 — São Paulo"
    return ev


def mixed_payloads(n: int, account: str, users: int = 50, seed: int = 12) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = rng.choices(["event.created", "event.updated", "event.deleted"], [50, 35, 15])[0]
        ev = mixed_event(rng, f"ev-{seed}-{i}", i)
        if kind == "event.deleted":
            ev = {"id": ev["id"], "updated_at": ev["updated_at"]}
        out.append({"type": kind, "account_id": account, "user_id": f"u{i % users}", "event": ev})
    return out


def signed(secret: str, payloads: list[dict[str, Any]]) -> list[tuple[bytes, dict[str, str]]]:
    """(body, headers) for each payload, signed now (the receiver's tolerance is 5 minutes)."""
    out = []
    for p in payloads:
        body = json.dumps(p, ensure_ascii=False)
        out.append((body.encode(), signed_headers(secret, body)))
    return out
