"""Customers: find one by customer_id or app_user_id, browse them all, create one."""

from __future__ import annotations

import streamlit as st

from console.customers import (
    CustomerQuery,
    InvalidLookup,
    SearchResult,
    bank_directory,
    entity_table,
    fetch_customer_entities,
    looks_like_uuid,
    parse_customer_query,
    parse_new_app_user_id,
    search_customers,
    summarize_customer,
)
from console.formatting import literal_md, styled_table
from console.last_good import Snapshot
from console.messages import describe_error
from console.ui import backend_or_stop, show_error, show_message, wait_for_lean
from lean_api.errors import ConflictError, LeanError
from lean_api.models import Bank, Customer, Entity

backend = backend_or_stop()
client = backend.client
KINDS = ["customer_id", "app_user_id"]


# Loaders return a Snapshot (the answer and when Lean gave it), so the age shown with last good
# data is the age of Lean's answer, not of the cache entry. Failures are never cached.


@st.cache_data(ttl=300, show_spinner=False)
def load_banks(backend_key: str) -> Snapshot[dict[str, Bank]]:
    """Bank directory, cached for five minutes per environment."""
    return Snapshot.now(bank_directory(client))


@st.cache_data(ttl=30, show_spinner=False)
def load_customer(
    backend_key: str, kind: str, value: str
) -> Snapshot[tuple[Customer, list[Entity]]]:
    """A customer and their entities, cached briefly so reruns do not call Lean again."""
    query = CustomerQuery(kind, value)  # type: ignore[arg-type]
    return Snapshot.now(fetch_customer_entities(client, query))


@st.cache_data(ttl=30, show_spinner=False)
def load_page(
    backend_key: str, page_number: int, page_size: int
) -> Snapshot[tuple[list[dict], int, int]]:
    """One page of customers: rows, total customers, total pages."""
    page = client.list_customers(page_number, page_size)
    rows = [{"app_user_id": c.app_user_id, "customer_id": c.customer_id} for c in page.items]
    return Snapshot.now((rows, page.page.total_elements or len(rows), page.page.total_pages or 1))


@st.cache_data(ttl=60, show_spinner=False)
def run_search(backend_key: str, text: str) -> Snapshot[SearchResult]:
    """Customers whose ids contain `text`."""
    return Snapshot.now(search_customers(client, text))


def open_customer(customer_id: str) -> None:
    """Point the page (and its URL) at one customer."""
    st.query_params.clear()
    st.query_params["customer_id"] = customer_id


def selected_query() -> CustomerQuery | None:
    """The customer named in the URL, validated; an invalid one is reported inline."""
    for kind in KINDS:
        if kind in st.query_params:
            try:
                return parse_customer_query(kind, st.query_params[kind])
            except InvalidLookup as exc:
                st.error(f"The link names an invalid {kind}. {exc}")
                return None
    return None


st.title("Customers")
st.caption(
    "Look up a customer by Lean's `customer_id` or your `app_user_id`, browse all customers, or create one."
)

current = selected_query()

with st.form("lookup", border=False):
    kind_col, value_col, button_col = st.columns([1.3, 4, 1], vertical_alignment="bottom")
    kind = kind_col.selectbox(
        "Find by", KINDS, index=KINDS.index(current.kind) if current else 0, key="lookup_kind"
    )
    raw = value_col.text_input(
        "Identifier",
        value=current.value if current else "",
        placeholder="f08fb010-878f-407a-9ac2-a7840fb56185  or  prod_usr_1246",
        key="lookup_value",
    )
    submitted = button_col.form_submit_button("Find", type="primary", width="stretch")

if submitted:
    try:
        query = parse_customer_query(kind, raw)
    except InvalidLookup as exc:
        st.error(str(exc))
        current = None
    else:
        st.query_params.clear()
        st.query_params[query.kind] = query.value
        current = query

if current:
    try:
        found = wait_for_lean(
            f"Loading the customer by `{current.kind}` from Lean…",
            backend,
            ("customer", current.kind, current.value),
            lambda: load_customer(backend.key, current.kind, current.value),
            "customer",
        )
        banks = wait_for_lean(
            "Loading the bank directory from Lean…",
            backend,
            "bank directory",
            lambda: load_banks(backend.key),
            "bank directory",
        )
        overview = summarize_customer(*found.value, banks.value)
    except LeanError as exc:
        show_error(exc, "customer")
        if current.kind == "app_user_id" and looks_like_uuid(current.value):
            st.info(
                "That looks like a customer_id: choose “customer_id” in *Find by* and search again."
            )
        elif current.kind == "app_user_id":
            st.caption("app_user_id lookups are exact and case-sensitive.")
    else:
        customer = overview.customer
        with st.container(border=True):
            st.subheader(literal_md(customer.app_user_id) or "(no app_user_id)", anchor=False)
            st.code(customer.customer_id, language=None)
            counts = overview.counts
            c1, c2, c3, c4 = st.columns(4)
            c1.metric("Connected banks", counts["entities"])
            c2.metric("Active consents", counts["active"])
            c3.metric("Expiring within 7 days", counts["expiring_soon"])
            c4.metric("Need a reconnect", counts["needs_reconnect"])
            if overview.entities:
                st.dataframe(
                    styled_table(entity_table(overview.entities), ["Consent", "Bank available"]),
                    hide_index=True,
                    width="stretch",
                    column_config={
                        "Connected": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
                        "Consent expires": st.column_config.DatetimeColumn(format="YYYY-MM-DD"),
                        "Days left": st.column_config.NumberColumn(format="%.1f"),
                    },
                )
            else:
                st.info("This customer has not connected a bank yet.")
            ticket_link = f"/customers?customer_id={customer.customer_id}"
            st.caption(f"Link for a ticket: {literal_md(ticket_link)}")

st.divider()
browse_tab, create_tab = st.tabs(["Browse customers", "Create customer"])

with browse_tab:
    search_col, size_col = st.columns([4, 1], vertical_alignment="bottom")
    search = search_col.text_input(
        "Search", placeholder="Part of an app_user_id or customer_id", key="browse_search"
    )
    page_size = size_col.selectbox("Rows per page", [25, 50, 100], key="browse_size")
    try:
        if search.strip():
            result = wait_for_lean(
                "Searching the customers in Lean…",
                backend,
                ("search", search.strip()),
                lambda: run_search(backend.key, search.strip()),
                "customer list",
            ).value
            rows = [
                {"app_user_id": c.app_user_id, "customer_id": c.customer_id} for c in result.matches
            ]
            scope = "all" if result.complete else f"the first {result.scanned:,}"
            st.caption(f"{len(rows)} match(es) in {scope} customers.")
        else:
            page_number = st.session_state.setdefault("browse_page", 0)
            rows, total, pages = wait_for_lean(
                "Loading the customer list from Lean…",
                backend,
                ("customer page", page_number, page_size),
                lambda: load_page(backend.key, page_number, page_size),
                "customer list",
            ).value
            if page_number >= pages and pages:
                st.session_state.browse_page = pages - 1
                st.rerun()
    except LeanError as exc:
        show_error(exc, "customer list")
        rows = []
    else:
        if rows:
            selection = st.dataframe(
                rows,
                hide_index=True,
                width="stretch",
                on_select="rerun",
                selection_mode="single-row",
                key="browse_table",
            )
            picked = selection.selection.rows if selection else []
            if picked:
                open_customer(rows[picked[0]]["customer_id"])
                st.rerun()
            st.caption("Select a row to open the customer.")
        elif search.strip():
            st.info("No customer matches that text.")
        if not search.strip() and rows:
            prev_col, label_col, next_col = st.columns([1, 3, 1], vertical_alignment="center")
            if prev_col.button("◀ Previous", disabled=page_number == 0, width="stretch"):
                st.session_state.browse_page -= 1
                st.rerun()
            label_col.markdown(
                f"<div style='text-align:center'>Page {page_number + 1} of {pages} · {total:,} customers</div>",
                unsafe_allow_html=True,
            )
            if next_col.button("Next ▶", disabled=page_number + 1 >= pages, width="stretch"):
                st.session_state.browse_page += 1
                st.rerun()

with create_tab:
    with st.form("create_customer", border=False):
        new_app_user_id = st.text_input(
            "app_user_id",
            placeholder="prod_usr_1246",
            help="Your own identifier for the user. Lean keeps it unique: one customer per app_user_id.",
            key="create_app_user_id",
        )
        create = st.form_submit_button("Create customer", type="primary")
    if create:
        try:
            app_user_id = parse_new_app_user_id(new_app_user_id)
        except InvalidLookup as exc:
            st.error(str(exc))
        else:
            try:
                created = client.create_customer(app_user_id)
            except ConflictError as exc:
                show_message(describe_error(exc, "customer"))
                st.page_link(
                    "pages/customers.py",
                    label=f"Open the customer with app_user_id {literal_md(app_user_id)}",
                    icon=":material/open_in_new:",
                    query_params={"app_user_id": app_user_id},
                )
            except LeanError as exc:
                show_error(exc, "customer", changes_state=True)
            else:
                load_page.clear()
                run_search.clear()
                st.success(
                    f"Created customer {literal_md(created.customer_id)} "
                    f"for app_user_id {literal_md(created.app_user_id)}."
                )
                st.page_link(
                    "pages/customers.py",
                    label="Open the new customer",
                    icon=":material/open_in_new:",
                    query_params={"customer_id": created.customer_id},
                )
