"""Audit log (admins): who looked at which customer or connection, and every action, with its
outcome. `/audit?actor=…&action=…&subject=…&days=…&before=…` (`before`: the page starts just after
that line)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import streamlit as st

from console import audit
from console.access import AccessDenied, require
from console.audit import (
    ACTIONS,
    PAGE_SIZE,
    AuditEntry,
    audit_page,
    audit_rows,
    export_csv,
    subject_query,
)
from console.formatting import literal_md
from console.masking import mask_text
from console.refreshes import pixels_for
from console.runtime import get_store
from console.store import StoreUnavailable
from console.ui_access import audit_view, current_actor

DAY_CHOICES = (1, 7, 30, 90, 365)

st.title("Audit log")
try:
    require(current_actor(), "see_audit_log")
except AccessDenied as exc:
    # The page is not in an admin's navigation only; a pasted link gets this sentence.
    st.error(str(exc), icon=":material/lock:")
    st.stop()
st.caption(
    "Every lookup of a customer or bank connection and every action (create, refresh, verify, "
    "reveal, sync, export) with who, when and the outcome. Lines are only ever added."
)

params = st.query_params
try:
    preset_days = int(params.get("days", "7"))
except ValueError:
    preset_days = 7
if preset_days not in DAY_CHOICES:
    preset_days = 7
action_names = ["", *ACTIONS]
preset_action = params.get("action", "")
with st.form("audit_filters", border=False):
    who_col, what_col, subject_col, days_col, button_col = st.columns(
        [3, 3, 3, 2, 2], vertical_alignment="bottom"
    )
    who = who_col.text_input("Who (e-mail)", value=params.get("actor", ""))
    action = what_col.selectbox(
        "Did",
        action_names,
        index=action_names.index(preset_action) if preset_action in action_names else 0,
        format_func=lambda name: ACTIONS.get(name, "anything"),
    )
    subject = subject_col.text_input(
        "Subject",
        value=params.get("subject", ""),
        help="A customer, entity or refresh id, or its first characters as tables show them; "
        "or an app_user_id the book index knows. A customer brings its bank connections' lines.",
    )
    days = days_col.selectbox(
        "In the last", DAY_CHOICES, index=DAY_CHOICES.index(preset_days),
        format_func=lambda n: f"{n} day{'s' if n != 1 else ''}",
    )  # fmt: skip
    if button_col.form_submit_button("Search", type="primary", width="stretch"):
        st.query_params.clear()
        for name, value in (("actor", who), ("action", action), ("subject", subject)):
            if value.strip():
                st.query_params[name] = value.strip()
        st.query_params["days"] = str(days)
        st.rerun()


def masked(entry: AuditEntry) -> AuditEntry:
    """A reason or subject may quote a customer's e-mail, phone or IBAN: masked on screen and in
    the CSV."""
    return replace(
        entry,
        subject=mask_text(entry.subject) if entry.subject else entry.subject,
        detail=mask_text(entry.detail) if entry.detail else entry.detail,
        reason=mask_text(entry.reason) if entry.reason else entry.reason,
    )


def unknown_page() -> None:
    """Say the link's page is not found and let the address name the first page, shown instead."""
    st.warning(
        "The link names a page this screen cannot find; showing the first page.",
        icon=":material/first_page:",
    )
    st.query_params.pop("before", None)


def page_from_link() -> int | None:
    """`before=N` from the URL: a line's id (the page starts just after it), else the first page
    (said, and the address then names the first page)."""
    raw = params.get("before", "")
    if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 18 and int(raw) > 0:
        return int(raw)
    if raw:
        unknown_page()
    return None


# When, who, what and of which subject first, whole at 1280 px (an action that was denied or
# failed says so in "Did" too); the outcome, detail, reason, role and the kind of subject (the
# "Did" words name it) follow to the right, and a selected line shows it all.
AUDIT_COLUMNS = (
    "When (UTC)",
    "Who",
    "Did",
    "Subject",
    "Outcome",
    "Detail",
    "Reason given",
    "Role",
    "Subject kind",
)


def on_screen(row: dict[str, str]) -> dict[str, str]:
    """A line as the table shows it: "Did" carries the outcome when it was not ok."""
    if row["Outcome"] == "ok":
        return row
    return {**row, "Did": f"{row['Did']} — {row['Outcome']}"}


TABLE_PIXELS, WHEN_PIXELS = 755, 130  # beside the selection boxes at 1280 px


def audit_column_config(rows: list[dict[str, str]]) -> dict[str, object]:
    """Widths that fit the page's own text at 1280 px: what was done and the id whole (a UUID is
    36 characters); a long e-mail address gets what they leave (the selected line shows it
    whole), then the rest follows to the right."""

    def fit(name: str, least: int, most: int) -> int:
        return pixels_for((row[name] for row in rows), least=least, most=most)

    did, subject = fit("Did", 80, 280), fit("Subject", 60, 260)
    who = min(fit("Who", 80, 260), max(100, TABLE_PIXELS - WHEN_PIXELS - did - subject))
    return {
        "When (UTC)": st.column_config.TextColumn(width=WHEN_PIXELS),
        "Who": st.column_config.TextColumn(width=who),
        "Did": st.column_config.TextColumn(width=did),
        "Subject": st.column_config.TextColumn(width=subject),
        "Outcome": st.column_config.TextColumn(width=70),
        "Detail": st.column_config.TextColumn(width=fit("Detail", 70, 300)),
        "Reason given": st.column_config.TextColumn(width=fit("Reason given", 110, 300)),
    }


def go_to(before: int | None) -> None:
    """The same filters, another page (the URL says which, for a ticket)."""
    if before:
        st.query_params["before"] = str(before)
    else:
        st.query_params.pop("before", None)
    st.rerun()


filters = {
    "actor": who or None,
    "action": action or None,
    "since": datetime.now(UTC) - timedelta(days=days),
}
# Logged before the page is read, so this search's own line never shifts the rows between
# the reader's clicks.
audit_view(
    "view_audit_log",
    "audit_log",
    f"who: {who or 'any'} · did: {action or 'any'} · what: {subject or 'any'} · {days} d",
)
searched = None
try:
    searched = subject_query(get_store(), subject) if subject.strip() else None
    page = audit_page(
        get_store(), **filters, subject=searched, before=page_from_link(), page_size=PAGE_SIZE
    )
except StoreUnavailable as exc:
    st.error(f"The console's database is not answering: {literal_md(str(exc))}")
    st.stop()

if searched is not None and searched.customer_id:
    named = (
        f"the app_user_id of customer {literal_md(searched.customer_id)}"
        if searched.by_app_user_id
        else "a customer"
    )
    connections = (
        f" and its {searched.connections} bank connection{'s' if searched.connections != 1 else ''}"
        if searched.connections
        else ""
    )
    st.caption(
        f"{literal_md(searched.text)} is {named} in the book index: shown with the lines of "
        f"that customer{connections}, and of any subject starting with it."
    )
elif subject.strip():
    st.caption(
        f"Lines whose subject is {literal_md(subject.strip())} or starts with it (the first "
        "characters of an id will do). An app_user_id is found when the book index knows it."
    )

if page.cursor_unknown:
    # A mistyped link, or one from another console's log: its line is not in this one.
    unknown_page()

if not page.entries:
    st.info("Nothing in the audit log matches." if not page.start else "No older lines match.")
    if params.get("before") and st.button("First page", icon=":material/first_page:"):
        go_to(None)
else:
    lines = audit_rows([masked(e) for e in page.entries])
    shown = [on_screen(line) for line in lines]
    picked = st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key=f"audit_table_{params.get('before', '')}",  # a selection belongs to its page
        column_order=AUDIT_COLUMNS,
        column_config=audit_column_config(shown),
    )
    newer_col, label_col, older_col = st.columns([1, 3, 1], vertical_alignment="center")
    if newer_col.button("◀ Newer", disabled=page.newer is None, width="stretch", key="audit_newer"):
        go_to(page.newer)
    label_col.caption(
        f"Newest first: {page.position_words} ({PAGE_SIZE} a page; the address names the "
        "page, for a ticket). Select a line to read it whole. Customers' e-mail addresses, "
        "phone numbers, IBANs, card numbers and national IDs quoted in a line are masked (•••), "
        "here and in the CSV."
    )
    if older_col.button("Older ▶", disabled=page.older is None, width="stretch", key="audit_older"):
        go_to(page.older)
    selected = picked.selection.rows if picked else []
    if selected and 0 <= selected[0] < len(lines):
        with st.container(border=True):
            st.subheader("The line", anchor=False)
            st.dataframe(
                [{"Field": name, "Value": value} for name, value in lines[selected[0]].items()],
                hide_index=True,
                width="stretch",
                key="audit_line",
            )
    st.download_button(
        "Download CSV",
        lambda: export_csv(get_store(), **filters, subject=searched, masked=masked),
        file_name="audit-log.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click=lambda: audit.record(
            get_store(), current_actor(), "export", subject_kind="csv", subject="audit-log.csv"
        ),
        help="Every matching line (not only this page), at most 50,000. Exports are always "
        "masked: customers' e-mail addresses, phone numbers, IBANs and national IDs quoted in a "
        "reason are masked as on screen. The download is audited.",
    )
