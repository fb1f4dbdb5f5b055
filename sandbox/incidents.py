"""Bank outages as incidents: a few a week per bank, minutes to hours long, deterministic from the seed.

The schedule is laid on the wall clock (weeks since the epoch), not on the day the sandbox
started, so the 30-day back-fill, the live feed and `GET /banks/v1/` agree on what a bank's
availability was at any moment, and a repeated back-fill yields the same events.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sandbox.seed import stable_rng

WEEK = timedelta(days=7)
EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday, so incident weeks start on Mondays
# How many incidents a bank has in one week, drawn uniformly from this tuple.
INCIDENTS_PER_WEEK = (1, 2, 2, 3, 3, 4)
SHORTEST = timedelta(minutes=5)
LONGEST = timedelta(hours=6)
# Share of incidents in which Lean switches off payments along with data.
PAYMENTS_TOO = 0.3

Flags = dict[str, dict[str, bool]]


@dataclass(frozen=True)
class Incident:
    """One outage of a bank: Lean switched it off at `start` and on again at `end`."""

    bank_identifier: str
    start: datetime
    end: datetime
    payments_too: bool


def _week_index(at: datetime) -> int:
    return math.floor((at - EPOCH) / WEEK)


def _week_incidents(seed: int, bank_identifier: str, week: int) -> list[Incident]:
    rng = stable_rng("outage", seed, bank_identifier, week)
    week_start = EPOCH + week * WEEK
    incidents = []
    for _ in range(rng.choice(INCIDENTS_PER_WEEK)):
        start = week_start + timedelta(seconds=rng.uniform(0, WEEK.total_seconds()))
        # Log-uniform: most incidents last minutes, a few last hours.
        minutes = math.exp(
            rng.uniform(
                math.log(SHORTEST.total_seconds() / 60), math.log(LONGEST.total_seconds() / 60)
            )
        )
        start = start.replace(microsecond=0)
        incidents.append(
            Incident(
                bank_identifier,
                start,
                start + timedelta(seconds=round(minutes * 60)),
                rng.random() < PAYMENTS_TOO,
            )
        )
    return incidents


def incidents_between(
    seed: int, bank_identifier: str, since: datetime, until: datetime
) -> list[Incident]:
    """The bank's incidents overlapping [since, until), oldest first, overlapping ones merged."""
    found: list[Incident] = []
    # An incident is shorter than a week, so one that began the week before may still be on.
    for week in range(_week_index(since) - 1, _week_index(until) + 1):
        found.extend(_week_incidents(seed, bank_identifier, week))
    found.sort(key=lambda i: i.start)
    merged: list[Incident] = []
    for incident in found:
        if merged and incident.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Incident(
                bank_identifier,
                last.start,
                max(last.end, incident.end),
                last.payments_too or incident.payments_too,
            )
        else:
            merged.append(incident)
    return [i for i in merged if i.end > since and i.start < until]


def has_incidents(base: Flags) -> bool:
    """Only banks that are switched on have outages; a bank that is off stays off."""
    return bool(base["active"]["data"] and base["enabled"]["data"])


def _down(base: Flags, incident: Incident) -> Flags:
    flags = {key: dict(values) for key, values in base.items()}
    flags["active"]["data"] = False
    if incident.payments_too:
        flags["active"]["payments"] = False
    return flags


def availability_at(seed: int, bank_identifier: str, base: Flags, at: datetime) -> Flags:
    """The bank's availability at `at`: its configured flags, with Lean's switch off during an incident."""
    if has_incidents(base):
        for incident in incidents_between(seed, bank_identifier, at, at + timedelta(seconds=1)):
            if incident.start <= at < incident.end:
                return _down(base, incident)
    return {key: dict(values) for key, values in base.items()}


def transitions(
    seed: int, bank_identifier: str, base: Flags, since: datetime, until: datetime
) -> Iterator[tuple[datetime, Flags]]:
    """Every change of the bank's availability in (since, until], as (when, flags after), in order."""
    if not has_incidents(base):
        return
    for incident in incidents_between(seed, bank_identifier, since, until):
        if since < incident.start <= until:
            yield incident.start, _down(base, incident)
        if since < incident.end <= until:
            yield incident.end, {key: dict(values) for key, values in base.items()}
