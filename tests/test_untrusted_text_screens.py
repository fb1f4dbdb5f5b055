"""Hostile text from webhooks, Lean, query parameters and forms is shown literally (AppTest).

Every string a screen hands to Streamlit's Markdown renderer (Markdown, captions, alerts,
headings, metric labels and values, expander, tab, widget and page-link labels, help) is read
back from the element tree. Outside inline code spans none of it may carry hostile text: that is
where links, images, HTML, colours, icons and LaTeX would come alive.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console.formatting import literal_md
from console.store import EventRecord, EventStore, StoredEvent
from sandbox.faults import FaultConfig
from sandbox.seed import SeedCustomer
from sandbox.server import SandboxServer

APP = str(Path(__file__).resolve().parents[1] / "app.py")
NOW = datetime.now(UTC)

# Each fits the shortest column it is stored in (64 characters) and says EVIL, so any part of it
# rendered outside a code span is found.
HOSTILE = {
    "link+image": "EVIL[a](http://evil.example/a)![i](http://evil.example/i.png)",
    "html img": "EVIL<img src=http://evil.example/i.png onerror=alert(1)>",
    "html a+url": "EVIL <a href='http://evil.example/'>x</a> https://evil.example",
    "autolinks": "EVIL www.evil.example mallory@evil.example <https://evil.ex>",
    "backticks+st": "EVIL`` ``` :red[r] :blue-background[b] :material/home: :smile:",
    "blocks+latex": "EVIL $x^2$ **b** _i_\n# h\n\n> q\n| a | b |\n- li",
}
# Element types whose text Streamlit shows as it is (not Markdown).
LITERAL_TYPES = {"code", "json", "text", "dataframe", "arrow_data_frame", "table"}
# Fields of an element's message that Streamlit renders as Markdown.
MARKDOWN_FIELDS = ("body", "label", "help", "delta")


def outside_code_spans(markdown: str) -> str:
    """`markdown` without its inline code spans (CommonMark: a run of N backticks opens a span
    that the next run of exactly N backticks closes; an unmatched run is literal text)."""
    runs = list(re.finditer(r"`+", markdown))
    kept, cursor, index = [], 0, 0
    while index < len(runs):
        opening = runs[index]
        closing = next(
            (j for j in range(index + 1, len(runs)) if runs[j].group() == opening.group()), None
        )
        if closing is None:
            index += 1
            continue
        kept.append(markdown[cursor : opening.start()])
        cursor = runs[closing].end()
        index = closing + 1
    kept.append(markdown[cursor:])
    return "".join(kept)


def markdown_sources(at: AppTest) -> list[tuple[str, str]]:
    """(element type, Markdown source) for everything on screen that Streamlit renders as Markdown."""
    sources = []
    for node in at:
        if node.type in LITERAL_TYPES:
            continue
        if node.type == "exception":
            raise AssertionError(f"the screen raised: {node.value}")
        for name in MARKDOWN_FIELDS:
            try:
                value = getattr(node.proto, name, None)
            except (AttributeError, ValueError):
                value = None
            if isinstance(value, str) and value:
                sources.append((node.type, value))
    return sources


def assert_shown_literally(at: AppTest, *expected: str | None) -> None:
    """No hostile text outside code spans; each expected value is on screen as a code span."""
    assert not at.exception
    sources = markdown_sources(at)
    live = [(kind, src) for kind, src in sources if "evil" in outside_code_spans(src).lower()]
    assert not live, f"hostile text rendered as Markdown: {live}"
    everything = "\n".join(src for _, src in sources)
    for value in expected:
        assert value and literal_md(value) in everything, f"{value!r} is not on screen literally"


def record(event_id: str, text: str, type_: str | None = None) -> EventRecord:
    """An event whose every text field is `text` (the payload too)."""
    payload = {
        "id": text,
        "customer_id": text,
        "app_user_id": text,
        "refresh_id": text,
        "status": text,
        "bank_details": {"identifier": text, "name": text},
    }
    body = json.dumps(
        {"type": type_ or text, "message": text, "payload": payload, "event_id": event_id}
    )
    return EventRecord(
        event_id=event_id,
        type=type_ or text,
        message=text,
        lean_timestamp=NOW - timedelta(minutes=5),
        received_at=NOW - timedelta(minutes=4),
        verified=True,
        source_ip=text,
        payload=body,
        size=len(body),
        customer_id=text,
        entity_id=text,
        app_user_id=text,
        bank_identifier=text,
        refresh_id=text,
        status=text,
    )


@pytest.fixture
def db(tmp_path: Path, sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> EventStore:
    url = f"sqlite:///{tmp_path / 'hostile.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    store = EventStore(url)
    store.migrate()
    return store


@pytest.fixture
def webhooks(db: EventStore) -> Iterator[AppTest]:
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("pages/webhooks.py")
    yield at


@pytest.fixture
def customers(sandbox_env: SandboxServer) -> Iterator[AppTest]:
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("pages/customers.py")
    yield at


def seed(db: EventStore, text: str) -> StoredEvent:
    """A hostile event (hostile event_id and type too), a rejection and a dead letter."""
    db.write_events([record(text, text), record("ev-refresh", text, "entity.data.refresh.updated")])
    db.record_rejection(
        source_ip=text, status_code=401, reason=text, size=10, signature=f"sha512={text}"
    )
    db.record_dead_letter(source_ip=text, reason=text, verified=True, body=text.encode())
    stored = db.get_event(text)
    assert stored is not None
    return stored


# -- Webhooks: stored events, rejections, dead letters ------------------------------------------


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_event_page_shows_every_webhook_field_literally(
    webhooks: AppTest, db: EventStore, text: str
) -> None:
    event = seed(db, text)
    webhooks.query_params["event_id"] = event.event_id
    webhooks.run()
    # type (subheader and details), status (metric), source ip, and the links' subjects
    assert_shown_literally(
        webhooks,
        event.type,
        event.status,
        event.source_ip,
        event.app_user_id,
        event.bank_identifier,
    )
    labels = [link.value for link in webhooks.get("page_link")]
    # Customer, bank connection, Data refreshes, and events of the entity, refresh and bank.
    assert len(labels) == 6
    assert all(label.count("`") >= 2 for label in labels)


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_refresh_event_with_hostile_fields_is_shown_literally(
    webhooks: AppTest, db: EventStore, text: str
) -> None:
    seed(db, text)
    webhooks.query_params["event_id"] = "ev-refresh"
    webhooks.run()
    refresh = db.get_event("ev-refresh")
    assert refresh is not None
    assert_shown_literally(webhooks, refresh.status, refresh.source_ip)


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("section", ["Inbox", "Rejected", "Dead letters"])
def test_inbox_rejections_and_dead_letters_show_webhook_text_literally(
    webhooks: AppTest, db: EventStore, text: str, section: str
) -> None:
    seed(db, text)
    webhooks.query_params["section"] = section
    webhooks.run()
    assert_shown_literally(webhooks)
    # Every list is a table: its cells are text, never Markdown.
    cells = " ".join(
        str(value) for frame in webhooks.dataframe for value in frame.value.to_numpy().ravel()
    )
    expected = {
        "Inbox": text[:20],
        "Rejected": db.list_rejections()[0]["reason"],
        "Dead letters": db.list_dead_letters()[0]["reason"],
    }[section]
    assert expected in cells


# -- Webhooks: query parameters -----------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_unknown_event_id_in_the_url_is_shown_literally(webhooks: AppTest, text: str) -> None:
    webhooks.query_params["event_id"] = text + " (never received)"
    webhooks.run()
    assert_shown_literally(webhooks, text + " (never received)")
    assert "No event with event_id" in webhooks.warning[0].value


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_inbox_filters_from_the_url_are_shown_literally(
    webhooks: AppTest, db: EventStore, text: str
) -> None:
    seed(db, text)
    stored = db.get_event(text)
    assert stored is not None
    for name in ("refresh_id", "customer_id", "entity_id"):
        webhooks.query_params[name] = text
    webhooks.query_params["bank"] = stored.bank_identifier
    webhooks.query_params["type"] = stored.type
    webhooks.run()
    # Ids that are not id-shaped are refused by name, shown literally (shortened), and filter
    # nothing.
    assert_shown_literally(webhooks)
    refusal = " ".join(error.value for error in webhooks.error)
    assert "customer_id" in refusal and "entity_id" in refusal and "EVIL" in refusal
    assert not webhooks.text_input(key="wh_customer").value
    # Bank and type pick options the store already holds: accepted, plain text.
    assert webhooks.selectbox(key="wh_bank").value == stored.bank_identifier
    assert webhooks.multiselect(key="wh_types").value == [stored.type]


# -- Customers: query parameters, forms, Lean's answers and Lean's errors ------------------------


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("kind", ["customer_id", "app_user_id"])
def test_customer_lookup_from_the_url_is_shown_literally(
    customers: AppTest, kind: str, text: str
) -> None:
    customers.query_params[kind] = text
    customers.run()
    assert_shown_literally(customers)
    if kind == "customer_id":  # the reason quotes the operator's text (shortened)
        assert "EVIL" in customers.error[0].value
    elif "\n" in text:
        assert "cannot contain control characters" in customers.error[0].value
    else:  # looked up in Lean, which has no such customer; the input keeps the text as typed
        assert customers.text_input(key="lookup_value").value == text
        assert "Lean has no such customer" in customers.warning[0].value


@pytest.mark.parametrize("status", [400, 403, 409, 418])
@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_leans_hostile_error_message_is_shown_literally(
    customers: AppTest,
    sandbox: SandboxServer,
    some_customer_with_entities: SeedCustomer,
    status: int,
    text: str,
) -> None:
    customers.run()
    sandbox.faults.set(
        FaultConfig(
            error_rate=1.0,
            error_status=status,
            error_code=text,
            error_message=f"Lean says: {text}",
            path_prefix="/customers/v1/",
        )
    )
    customers.query_params["customer_id"] = some_customer_with_entities.customer_id
    customers.run()
    assert_shown_literally(customers, f"Lean says: {text}")
    alert = (customers.warning or customers.error)[0].value
    assert alert.startswith("**Lean ") and "Lean says" not in outside_code_spans(alert)


def test_a_hostile_app_user_id_from_lean_and_the_form_is_shown_literally(
    customers: AppTest,
) -> None:
    # The sandbox, like Lean, lets an app_user_id carry "@", ":", "." and "+".
    app_user_id = f"evil{uuid.uuid4().hex[:6]}@evil.example:smile:+www.evil.example"

    def create() -> AppTest:
        customers.run()
        customers.text_input(key="create_app_user_id").set_value(app_user_id)
        button = next(b for b in customers.button if b.label == "Create customer")
        return button.click().run()

    created = create()
    assert_shown_literally(created, app_user_id)  # the success message
    assert "Created customer" in created.success[0].value

    again = create()
    assert_shown_literally(again, app_user_id)  # the "open the existing customer" button
    assert literal_md(app_user_id) in again.button(key="create_open_existing").label

    customers.query_params["app_user_id"] = app_user_id
    customers.run()
    assert_shown_literally(customers, app_user_id)  # the customer's heading
    assert literal_md(app_user_id) in customers.subheader[0].value
