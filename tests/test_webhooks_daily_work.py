"""The webhook inbox for daily work, in AppTest over a real store: filters in the URL, pages that
stay put while events arrive, times with their zone, dead letters and rejections by role."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console import audit
from console.events import (
    InboxView,
    Refused,
    check_event_id,
    export_inbox_csv,
    parse_inbox_query,
)
from console.store import EventRecord, EventStore
from sandbox.server import SandboxServer

APP = str(Path(__file__).resolve().parents[1] / "app.py")
NOW = datetime.now(UTC).replace(microsecond=0)
ENTITY_A = "5d4a1c36-8f0b-4f1e-9d55-0b3f7c1b2a10"
ENTITY_B = "9a0c2e11-47d3-4c55-8e2b-1f6b3d2c4e77"
CUSTOMER = "0b3f7c1b-2a10-4f1e-9d55-5d4a1c368f0b"


def refresh(
    n: int, minutes_ago: float, *, entity: str = ENTITY_A, status: str = "FINISHED",
    verified: bool = True, received_minutes_ago: float | None = None,
) -> EventRecord:  # fmt: skip
    """The n-th refresh event, `minutes_ago` by Lean's clock."""
    event_id = f"ev-{n:04d}"
    payload = {
        "refresh_id": f"r-{n:04d}",
        "entity_id": entity,
        "customer_id": CUSTOMER,
        "status": status,
    }
    body = json.dumps(
        {"type": "entity.data.refresh.updated", "payload": payload, "event_id": event_id}
    )
    received = minutes_ago if received_minutes_ago is None else received_minutes_ago
    return EventRecord(
        event_id=event_id,
        type="entity.data.refresh.updated",
        message="m",
        lean_timestamp=NOW - timedelta(minutes=minutes_ago),
        received_at=NOW - timedelta(minutes=received),
        verified=verified,
        source_ip="127.0.0.1",
        payload=body,
        size=len(body),
        customer_id=CUSTOMER,
        entity_id=entity,
        refresh_id=f"r-{n:04d}",
        status=status,
    )


@pytest.fixture
def db(tmp_path: Path, sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> EventStore:
    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    store = EventStore(url)
    store.migrate()
    return store


def open_inbox(query: dict[str, str | list[str]] | None = None) -> AppTest:
    """The Webhooks screen as a browser opens a pasted link."""
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("pages/webhooks.py")
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def shown_ids(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["event_id"])


def url(at: AppTest) -> dict[str, list[str]]:
    return {k: list(v) if isinstance(v, list) else [v] for k, v in at.query_params.items()}


def texts(elements: object) -> str:
    return " ".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def button(at: AppTest, label: str) -> object:
    (found,) = [b for b in at.button if b.label == label]
    return found


# -- filters live in the URL -----------------------------------------------------------------------


EVERY_FILTER = InboxView(
    types=("entity.data.refresh.updated", "entity.created"),
    status="FINISHED",
    customer_id=CUSTOMER,
    entity_id=ENTITY_A,
    refresh_id="r-0007",
    bank="RJHI_SAMAOB_SAU",
    verified=False,
    date_from=date(2026, 11, 1),
    date_to=date(2026, 11, 20),
    text="SA44 2000",
    asof=812,
    before=640,
)


@pytest.mark.parametrize(
    "view",
    [
        EVERY_FILTER,
        InboxView(),
        InboxView(range="24h", verified=True, text="<b>x</b> & `y`"),
        InboxView(date_from=date(2026, 1, 31)),
    ],
)
def test_every_filter_round_trips_through_the_url(view: InboxView) -> None:
    query = view.to_query()
    params = {k: v if isinstance(v, list) else [v] for k, v in query.items()}
    assert parse_inbox_query(params) == (view, [])


def test_filters_chosen_on_screen_are_written_to_the_url(db: EventStore) -> None:
    db.write_events([refresh(1, 10), refresh(2, 20, entity=ENTITY_B, status="PENDING")])
    at = open_inbox()
    at.multiselect(key="wh_types").set_value(["entity.data.refresh.updated"]).run()
    at.selectbox(key="wh_status").set_value("PENDING")
    at.selectbox(key="wh_verified").set_value("Verified only")
    at.selectbox(key="wh_range").set_value("Last 7 days")
    at.text_input(key="wh_entity").set_value(ENTITY_B)
    at.text_input(key="wh_customer").set_value(CUSTOMER)
    at.text_input(key="wh_refresh").set_value("r-0002")
    at.text_input(key="wh_text").set_value("PENDING").run()
    assert not at.exception
    assert url(at) == {
        "type": ["entity.data.refresh.updated"],
        "status": ["PENDING"],
        "verified": ["yes"],
        "range": ["7d"],
        "entity_id": [ENTITY_B],
        "customer_id": [CUSTOMER],
        "refresh_id": ["r-0002"],
        "q": ["PENDING"],
    }
    assert shown_ids(at) == ["ev-0002"]
    assert "Occurred (UTC)" in at.dataframe[0].value.columns
    assert "Received (UTC)" in at.dataframe[0].value.columns


def test_custom_dates_are_written_to_the_url(db: EventStore) -> None:
    db.write_events([refresh(1, 10)])
    at = open_inbox()
    at.selectbox(key="wh_range").set_value("Custom dates").run()
    day = NOW.date()
    at.date_input(key="wh_dates").set_value((day - timedelta(days=2), day)).run()
    assert url(at) == {"from": [(day - timedelta(days=2)).isoformat()], "to": [day.isoformat()]}
    assert shown_ids(at) == ["ev-0001"]


def test_a_pasted_url_opens_the_same_rows(db: EventStore) -> None:
    db.write_events(
        [refresh(n, 10 * n, entity=ENTITY_A if n % 2 else ENTITY_B) for n in range(1, 9)]
        + [refresh(9, 5, verified=False)]
    )
    mine = open_inbox()
    mine.text_input(key="wh_entity").set_value(ENTITY_A).run()
    mine.selectbox(key="wh_verified").set_value("Verified only").run()
    link = url(mine)

    theirs = open_inbox(link)

    assert shown_ids(theirs) == shown_ids(mine) == ["ev-0001", "ev-0003", "ev-0005", "ev-0007"]
    assert theirs.text_input(key="wh_entity").value == ENTITY_A
    assert theirs.selectbox(key="wh_verified").value == "Verified only"


def test_a_link_to_an_entitys_or_refreshs_events_fills_the_filters(db: EventStore) -> None:
    db.write_events([refresh(1, 10), refresh(2, 20, entity=ENTITY_B)])
    at = open_inbox({"entity_id": ENTITY_B, "type": "entity.data.refresh.updated"})
    assert shown_ids(at) == ["ev-0002"]
    assert at.multiselect(key="wh_types").value == ["entity.data.refresh.updated"]
    at = open_inbox({"refresh_id": "r-0001"})
    assert shown_ids(at) == ["ev-0001"]
    assert at.text_input(key="wh_refresh").value == "r-0001"


def test_an_events_links_open_the_inbox_filtered_by_url(db: EventStore) -> None:
    db.write_events([refresh(1, 10)])
    at = open_inbox({"event_id": "ev-0001"})
    links = {
        link.proto.label.split(" ")[2]: parse_qs(link.proto.query_string)
        for link in at.get("page_link")
        if link.proto.label.startswith("Events of")
    }
    assert links == {"entity": {"entity_id": [ENTITY_A]}, "refresh": {"refresh_id": ["r-0001"]}}
    # Following one is a pasted URL like any other.
    assert shown_ids(open_inbox({"refresh_id": "r-0001"})) == ["ev-0001"]


HOSTILE = [
    ({"customer_id": "<script>alert(1)</script>"}, "customer_id"),
    ({"entity_id": "x" * 5000}, "entity_id"),
    ({"refresh_id": "r-1' OR '1'='1"}, "refresh_id"),
    ({"type": "';DROP TABLE webhook_events;--"}, "type"),
    ({"type": [f"t{n}" for n in range(50)]}, "type is given 50 times"),
    ({"bank": "**bold** [x](javascript:alert(1))"}, "bank"),
    ({"status": "\u202eDENIED"}, "status"),
    ({"verified": "maybe"}, "neither yes nor no"),
    ({"range": "forever"}, "range"),
    ({"from": "9999-12-31"}, "outside 2000–2100"),
    ({"from": "2026-13-45"}, "YYYY-MM-DD"),
    ({"from": "2026-11-20", "to": "2026-11-01"}, "to is before from"),
    ({"to": "2026-11-20"}, "to is given without from"),
    ({"q": "a" * 5000}, "at most 200"),
    ({"q": "line\nbreak\x00"}, "control characters"),
    ({"asof": "-1"}, "asof"),
    ({"asof": "99999999999999999999999"}, "asof"),
    ({"before": "5"}, "before is given without asof"),
    ({"customer_id": ["a", "b"]}, "customer_id is given 2 times"),
]


@pytest.mark.parametrize(("query", "said"), HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_url_values_are_refused_with_a_reason(
    query: dict[str, str | list[str]], said: str
) -> None:
    params = {k: v if isinstance(v, list) else [v] for k, v in query.items()}
    view, problems = parse_inbox_query(params)
    assert said in " ".join(problems)
    # A refused value filters nothing.
    assert view.filters == InboxView() or view == InboxView(date_from=date(2026, 11, 20))


def test_a_hostile_link_shows_its_reasons_and_the_rows(db: EventStore) -> None:
    db.write_events([refresh(1, 10)])
    query: dict[str, str | list[str]] = {}
    for values, _ in HOSTILE[:12]:
        query.update(values)
    at = open_inbox(query)
    assert not at.exception
    errors = texts(at.error)
    assert "This link has values the inbox refuses" in errors
    for _, said in HOSTILE[:9]:
        assert said in errors
    # Shown as literal text only: no markup of the link's survives into the page.
    assert "` <script>alert(1)</script> `" in errors
    assert "<script>" not in texts(at.markdown)
    assert shown_ids(at) == ["ev-0001"]


@pytest.mark.parametrize("event_id", ["x" * 10_000, "bad\x00id", " "])
def test_hostile_event_ids_are_refused(event_id: str) -> None:
    with pytest.raises(Refused, match="is not an event id"):
        check_event_id(event_id)


def test_hostile_event_ids_and_page_positions_never_crash(db: EventStore) -> None:
    db.write_events([refresh(1, 10)])
    at = open_inbox({"event_id": "bad\x00id" + "x" * 5000})
    assert not at.exception
    assert "This link names no event" in texts(at.error)
    at = open_inbox({"asof": "5", "before": "999999", "section": "<b>Rejected</b>"})
    assert not at.exception
    assert "names an event this store does not have" in texts(at.warning)
    assert shown_ids(at) == ["ev-0001"]


def test_an_invalid_typed_id_is_refused_and_kept_in_the_box(db: EventStore) -> None:
    db.write_events([refresh(1, 10)])
    at = open_inbox()
    at.text_input(key="wh_customer").set_value("not an id!").run()
    assert "Not applied: customer_id" in texts(at.error)
    assert at.text_input(key="wh_customer").value == "not an id!"
    assert "customer_id" not in url(at)
    assert shown_ids(at) == ["ev-0001"]


def test_the_csv_export_is_the_readers_list_masked(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'export.db'}")
    store.migrate()
    iban = "SA0420000001234567891234"
    pending = refresh(1, 10, status="PENDING")
    body = json.dumps({"type": pending.type, "payload": {"iban": iban}, "event_id": "ev-0001"})
    store.write_events(
        [
            EventRecord(**{**pending.__dict__, "payload": body, "size": len(body)}),
            refresh(2, 20),
            refresh(3, 30, status="PENDING", verified=False),
        ]
    )
    exported = export_inbox_csv(store, InboxView(status="PENDING", verified=True))
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [r["event_id"] for r in rows] == ["ev-0001"]
    assert iban not in exported
    # Every page of the list, not only the one shown.
    store.write_events([refresh(n, 40 + n) for n in range(10, 1110)])
    assert len(list(csv.DictReader(io.StringIO(export_inbox_csv(store, InboxView()))))) == 1103
    store.dispose()


# -- live refresh never moves the rows under a reader ----------------------------------------------


def test_page_two_stays_the_same_rows_when_new_events_are_stored(db: EventStore) -> None:
    db.write_events([refresh(n, 10 * n) for n in range(1, 121)])  # 120 events, 50 a page
    at = open_inbox()
    assert shown_ids(at)[0] == "ev-0001"
    button(at, "Older ▶").click().run()  # type: ignore[attr-defined]
    page_two = shown_ids(at)
    assert page_two == [f"ev-{n:04d}" for n in range(51, 101)]
    assert {"asof", "before"} <= set(url(at))
    assert "51–100 of 120" in texts(at.markdown)

    # New events: some newest, some arriving late with Lean times right inside page two.
    db.write_events(
        [refresh(n, 1) for n in range(200, 210)]
        + [refresh(n, 10 * 60 + (n - 300), received_minutes_ago=0) for n in range(300, 302)]
    )
    at.run()

    assert shown_ids(at) == page_two
    assert "12 new events" in texts(at.info)
    assert "51–100 of 120" in texts(at.markdown)
    # The same page from a pasted link is the same rows too.
    assert shown_ids(open_inbox(url(at))) == page_two

    button(at, "Show them").click().run()  # type: ignore[attr-defined]
    assert "asof" not in url(at) and "before" not in url(at)
    # (Same Lean time: the later stored comes first.)
    assert shown_ids(at)[:10] == [f"ev-{n:04d}" for n in range(209, 199, -1)]


def test_newer_goes_back_a_page_over_the_same_list(db: EventStore) -> None:
    db.write_events([refresh(n, 10 * n) for n in range(1, 121)])
    at = open_inbox()
    button(at, "Older ▶").click().run()  # type: ignore[attr-defined]
    button(at, "Older ▶").click().run()  # type: ignore[attr-defined]
    assert shown_ids(at) == [f"ev-{n:04d}" for n in range(101, 121)]
    db.write_events([refresh(500, 1)])
    button(at, "◀ Newer").click().run()  # type: ignore[attr-defined]
    assert shown_ids(at) == [f"ev-{n:04d}" for n in range(51, 101)]
    button(at, "◀ Newer").click().run()  # type: ignore[attr-defined]
    # The first page of the reader's list: the new event is announced, not slipped in.
    assert shown_ids(at)[0] == "ev-0001"
    assert "1 new event" in texts(at.info)


def test_the_live_first_page_shows_new_events_at_the_top(db: EventStore) -> None:
    db.write_events([refresh(1, 10)])
    at = open_inbox()
    db.write_events([refresh(2, 1)])
    at.run()
    assert shown_ids(at) == ["ev-0002", "ev-0001"]
    assert "new event" not in texts(at.info)


def test_back_from_an_open_event_is_the_same_rows(db: EventStore) -> None:
    db.write_events([refresh(1, 10), refresh(2, 20)])
    at = open_inbox({"entity_id": ENTITY_A})
    asof = str(db.count_events())
    # Opening a row pins the list (what selecting a row writes to the URL).
    at.query_params["asof"] = asof
    at.query_params["event_id"] = "ev-0002"
    at.run()
    db.write_events([refresh(3, 1)])
    button(at, "← Back to the inbox").click().run()  # type: ignore[attr-defined]
    assert shown_ids(at) == ["ev-0001", "ev-0002"]
    assert "1 new event" in texts(at.info)
    assert url(at)["entity_id"] == [ENTITY_A]


# -- dead letters and rejections, by role ----------------------------------------------------------


def seed_failures(db: EventStore) -> None:
    body = json.dumps(
        {"type": "entity.created", "event_id": "ev-late", "payload": {"id": ENTITY_A}}
    ).encode()
    db.record_dead_letter(source_ip="127.0.0.1", reason="old parser refused it", verified=True,
                          body=body)  # fmt: skip
    db.record_dead_letter(source_ip="127.0.0.1", reason="body is not valid JSON", verified=True,
                          body=b"{oops")  # fmt: skip
    db.record_rejections(
        [
            {
                "source_ip": "198.51.100.4",
                "status_code": 401,
                "reason": "signature does not match the body",
                "size": 99,
                "signature": "sha512=bad",
                "claimed_type": "entity.created",
                "claimed_customer_id": CUSTOMER,
                "claimed_entity_id": ENTITY_A,
                "claimed_event_id": "forged-1",
            }
        ]
    )


def test_viewers_see_no_rejections_and_no_dead_letter_bodies_or_actions(
    db: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_failures(db)
    monkeypatch.setenv("CONSOLE_DEFAULT_ROLE", "viewer")
    at = open_inbox({"section": "Rejected"})
    assert [t.label for t in at.tabs] == ["Inbox", "Dead letters"]
    assert "signature does not match" not in " ".join(
        str(df.value.to_dict()) for df in at.dataframe
    )
    at = open_inbox({"section": "Dead letters"})
    letters = at.dataframe[0].value
    assert set(letters["Reason"]) == {"old parser refused it", "body is not valid JSON"}
    assert not [b for b in at.button if "Reprocess" in b.label]
    assert not at.get("download_button") or all(
        "dead" not in str(d.proto) for d in at.get("download_button")
    )
    assert not at.code  # no bodies
    assert "need the admin role" in texts(at.caption)


def test_admins_see_what_refused_deliveries_claimed_labelled_unverified(db: EventStore) -> None:
    seed_failures(db)
    at = open_inbox({"section": "Rejected"})
    assert [t.label for t in at.tabs] == ["Inbox", "Rejected", "Dead letters"]
    assert at.dataframe[0].value.iloc[0]["Reason"] == "signature does not match the body"
    row = at.dataframe[1].value.iloc[0]
    assert row["Type claimed (unverified)"] == "entity.created"
    assert row["customer_id claimed (unverified)"] == CUSTOMER
    assert row["entity_id claimed (unverified)"] == ENTITY_A
    assert "Received (UTC)" in at.dataframe[0].value.columns
    assert "claimed (unverified)" in texts(at.caption)


def test_an_admin_reprocesses_dead_letters_from_the_screen(db: EventStore) -> None:
    started = datetime.now(UTC)
    seed_failures(db)
    at = open_inbox({"section": "Dead letters"})
    (reprocess_all,) = [b for b in at.button if b.label.startswith("Reprocess all 2")]
    reprocess_all.click().run()
    assert not at.exception
    assert "1 stored as events, 0 already stored (counted), 1 still failing" in texts(at.warning)
    states = dict(zip(at.dataframe[0].value["Reason"], at.dataframe[0].value["State"],
                      strict=True))  # fmt: skip
    assert states == {
        "old parser refused it": "Reprocessed: stored",
        "body is not valid JSON": "Still failing",
    }
    assert db.get_event("ev-late") is not None
    (line,) = audit.search(db, action="reprocess_dead_letter", since=started)
    assert line.subject == "all dead letters" and line.outcome == "ok"
    # Still on the dead letters, and the one left can be tried again.
    assert url(at).get("section") == ["Dead letters"]
    assert [b.label for b in at.button if b.label.startswith("Reprocess all")] == [
        "Reprocess all 1 not yet stored"
    ]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    st.cache_data.clear()
    yield
