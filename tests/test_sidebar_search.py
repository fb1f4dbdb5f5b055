"""The sidebar search widget in AppTest: candidates with their evidence, bad input says why.

AppTest loses the sidebar of an `st.navigation` app on reruns, so the widget runs here in the
main area of a small app that declares the console's pages (its links need them); landing on a
screen is proven in a real browser (tests/e2e/test_search_browser.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from console.formatting import literal_md
from console.store import EventStore
from tests.console.test_identifiers import AT, CUSTOMER
from tests.console.test_store_bank_health import stored

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import streamlit as st
from console.ui_search import sidebar_search

sidebar_search()
pages = [st.Page(lambda: None, title="Search", url_path="search", default=True)] + [
    st.Page(f"pages/{name}.py", url_path=name)
    for name in ("customers", "entities", "refreshes", "webhooks", "triage")
]
st.navigation(pages, position="hidden")
"""


@pytest.fixture
def widget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    url = f"sqlite:///{tmp_path / 'search.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    both = {"id": "b2c45b62-0182-4fd8-85e0-f70ca5297eb5", "customer_id": CUSTOMER,
            "app_user_id": CUSTOMER}  # fmt: skip
    EventStore(url).write_events([stored("entity.created", both, AT, "evt-<b>odd</b>")])
    (tmp_path / "pages").symlink_to(ROOT / "pages")
    (tmp_path / "search_app.py").write_text(SCRIPT)
    monkeypatch.syspath_prepend(str(ROOT))
    yield AppTest.from_file(str(tmp_path / "search_app.py"), default_timeout=30).run()


def search(at: AppTest, text: str) -> AppTest:
    at.text_input(key="sidebar_search_text").input(text)
    at.button[0].click()
    return at.run()


def texts(elements: object) -> str:
    return " ".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def test_an_ambiguous_uuid_lists_each_meaning_with_its_evidence(widget: AppTest) -> None:
    at = search(widget, CUSTOMER)
    assert not at.exception
    captions = texts(at.caption)
    assert f"{literal_md(CUSTOMER)} may be:" in captions
    assert "named as customer_id" in captions
    assert "the app_user_id of a customer" in captions or "named as app_user_id" in captions
    links = [str(link.proto) for link in at.get("page_link")]
    assert len(links) == 3  # both meanings, then the triage of whatever it is
    assert "triage" in links[-1] and CUSTOMER in links[-1]


def test_an_unknown_uuid_lists_the_lookups_to_ask_lean(widget: AppTest) -> None:
    at = search(widget, "11111111-2222-4333-8444-555555555555")
    assert not at.exception
    captions = texts(at.caption)
    assert "Ask Lean for it as" in captions
    assert "ask Lean for a customer with it" in captions


def test_a_mistyped_iban_says_why(widget: AppTest) -> None:
    at = search(widget, "SA0380000000608010167518")
    assert not at.exception
    assert f"{literal_md('SA0380000000608010167518')} looks like an IBAN" in texts(at.error)
    assert not at.get("page_link")


def test_a_stopped_database_is_a_sentence_not_a_traceback(
    widget: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    at = search(widget, CUSTOMER)
    assert not at.exception
    assert "database is not answering" in texts(at.error)
