"""Support triage (`/triage?q=…`): paste any identifier from a ticket; the screen says what
happened to that customer, why, and what to do next — diagnosis first, then the timeline, then
the permalink, a summary for the ticket and a debug bundle for Lean."""

from __future__ import annotations

import streamlit as st

from console.actions import audited
from console.formatting import literal_md
from console.identifiers import InvalidSearch, check_length
from console.insights.triage import Finding, diagnose, stamp
from console.refreshes import pixels_for
from console.runtime import get_store
from console.store import StoreRejected, StoreUnavailable
from console.triage import (
    TIME_COLUMN,
    Subject,
    debug_bundle,
    find_subject,
    permalink,
    short_id,
    summary_text,
    timeline,
    with_bank_names,
)
from console.ui import backend_or_stop, own_page_link
from console.ui_access import audit_view, current_actor
from console.ui_banks import bank_names
from console.ui_loaders import load_triage

backend = backend_or_stop()
client = backend.client
KIND_WORDS = {
    "customer_id": "a customer_id",
    "app_user_id": "an app_user_id",
    "entity_id": "a bank connection (entity_id)",
    "refresh_id": "a data refresh (refresh_id)",
    "event_id": "a webhook (event_id)",
    "results_id": "a Lean results_id",
}
PASTE_HINT = (
    "Paste one identifier from the ticket: a customer_id, app_user_id, entity_id, refresh_id, a "
    "webhook's event_id, a Lean results_id, or an IBAN. Tables elsewhere show ids cut short (…): "
    "copy the whole id."
)


st.title("Triage")
st.caption(
    "Any identifier from a ticket → what happened to that customer, why, and what to do next. "
    "The diagnosis comes from rules over Lean's answers, the stored webhooks (refused and "
    "unreadable ones included), bank availability and the console's own calls to Lean."
)

with st.form("triage_form", border=False):
    text_col, button_col = st.columns([6, 1], vertical_alignment="bottom")
    typed = text_col.text_input(
        "Identifier",
        value=st.query_params.get("q", ""),
        key="triage_q",
        placeholder="customer, entity, refresh, event or results id, app_user_id, IBAN",
    )
    if button_col.form_submit_button("Diagnose", type="primary", width="stretch"):
        # No `max_chars`: a longer paste was dropped whole in the browser, the box left empty
        # without a word. It is kept in the box and refused here (the link is left as is).
        try:
            check_length(typed.strip())
        except InvalidSearch as exc:
            st.error(f"{exc} Paste one identifier.")
            st.stop()
        st.query_params.clear()
        if typed.strip():
            st.query_params["q"] = typed.strip()

raw = st.query_params.get("q", "")
if not raw.strip():
    st.info(PASTE_HINT)
    st.stop()

try:
    with st.spinner("Looking the identifier up…"):
        subject: Subject = find_subject(get_store(), client, raw)
except InvalidSearch as exc:
    st.error(str(exc))
    st.caption(PASTE_HINT)
    st.stop()
except (StoreUnavailable, StoreRejected) as exc:
    st.error(
        "The console's database is not answering, so the identifier cannot be matched and the "
        f"webhooks cannot be read. Try again shortly. ({literal_md(str(exc))})"
    )
    st.stop()

if subject.ambiguous:
    st.warning(
        f"{literal_md(subject.text)} leads to {len(subject.customers)} different customers. "
        "Pick the one the ticket is about:"
    )
    for meaning in subject.meanings:
        if not meaning.customer_id:
            continue
        with st.container(border=True):
            own_page_link(
                "pages/triage.py",
                f"As {KIND_WORDS.get(meaning.kind, meaning.kind)} → customer "
                f"{literal_md(meaning.customer_id)}",
                {"q": meaning.customer_id},
            )
            st.caption(literal_md(meaning.evidence))
    st.stop()

if subject.customer_id is None:
    if subject.meanings:
        kinds = ", ".join(KIND_WORDS.get(m.kind, m.kind) for m in subject.meanings)
        st.warning(
            f"{literal_md(subject.text)} is {kinds}, but nothing says which customer it belongs "
            "to (a bank availability webhook is about a bank, not a customer). Open it instead:"
        )
        for meaning in subject.meanings:
            st.caption(literal_md(meaning.evidence))
        if any(m.kind == "event_id" for m in subject.meanings):
            own_page_link("pages/webhooks.py", "The webhook", {"event_id": subject.text})
    else:
        st.warning(
            f"Nothing stored names {literal_md(subject.text)}, and Lean has no customer with it "
            "as customer_id or app_user_id."
        )
        st.caption(PASTE_HINT)
    if subject.problem:
        st.error(
            "Lean could not be asked, so a customer only Lean knows may exist: "
            f"{literal_md(subject.problem)}"
        )
    st.stop()

customer_id = subject.customer_id
audit_view("triage", "customer", customer_id)
with st.spinner(
    "Gathering the customer's history from Lean and the stored webhooks…", show_time=True
):
    try:
        gathered = load_triage(backend.key, customer_id)
    except (StoreUnavailable, StoreRejected) as exc:
        st.error(
            f"The console's database is not answering, so the history cannot be read. "
            f"({literal_md(str(exc))})"
        )
        st.stop()
history = gathered.history
findings: list[Finding] = diagnose(history)
# Banks by name where Lean's banks list knows them; identifiers stay beside, for support.
names = bank_names(backend)

# -- Who -------------------------------------------------------------------------------------
who = f"**Customer** {literal_md(customer_id)}"
if history.app_user_id:
    who += f" · **app_user_id** {literal_md(history.app_user_id)}"
st.markdown(who)
pasted = sorted({KIND_WORDS.get(m.kind, m.kind) for m in subject.meanings})
if pasted and subject.meanings[0].kind != "customer_id":
    st.caption(f"You pasted {' and '.join(pasted)} of this customer.")
if history.customer_found is False:
    st.warning("Lean has no customer with this customer_id: everything below is from the store.")
for note in gathered.notes:
    st.warning(literal_md(note), icon=":material/cloud_off:")

# -- The diagnosis ---------------------------------------------------------------------------
st.subheader("Diagnosis", anchor=False)
for finding in findings:
    with st.container(border=True):
        badge_col, title_col = st.columns([1, 5], vertical_alignment="center")
        with badge_col:
            st.badge(finding.severity.word, color=finding.severity.color)
        # Titles are the console's own words (numbers at most); evidence is shown literally.
        title_col.markdown(f"**{finding.title}**")
        st.markdown(
            "\n".join(f"- {literal_md(with_bank_names(line, names))}" for line in finding.evidence)
        )
        st.markdown(f"**Next:** {finding.next_action}")
        since = f" · since {stamp(finding.since)}" if finding.since else ""
        st.caption(f"Rule fired: {literal_md(finding.rule)}{since}")

# -- The timeline ----------------------------------------------------------------------------
st.subheader("Timeline", anchor=False)
# Newest first: what went wrong last is what the ticket is about, and the table scrolls after
# fifteen rows (oldest first put it below them).
rows = timeline(history, names)[::-1]
window = "the last 30 days of webhooks, bank availability and calls to Lean"
if not history.request_log_available:
    st.caption("The request log is not available in this console: Lean calls are not shown.")
if rows:
    st.caption(f"{len(rows):,} moments, newest first, times in UTC ({window}).")
    # Whole ids are in the summary and the bundle; here their start (as every table shows them),
    # so the table fits 1280 px without cutting a column.
    shown = [{**row, "Id": short_id(row["Id"])} for row in rows]
    st.dataframe(
        shown,
        height=min(36 + 35 * len(shown), 480),
        hide_index=True,
        width="stretch",
        column_config={
            TIME_COLUMN: st.column_config.DatetimeColumn(
                TIME_COLUMN, format="YYYY-MM-DD HH:mm:ss", width=150
            ),
            # Each column as wide as its longest text, so nothing is cut at 1280–1440 px.
            "Kind": st.column_config.TextColumn(width=pixels_for(r["Kind"] for r in rows)),
            "What happened": st.column_config.TextColumn(
                width=pixels_for((r["What happened"] for r in rows), most=380)
            ),
            "Id": st.column_config.TextColumn(width=pixels_for(r["Id"] for r in shown)),
            "Open": st.column_config.LinkColumn("Open", display_text="Open", width=60),
        },
    )
else:
    st.info(f"Nothing on record for this customer in {window}.")

# -- For the ticket and for Lean ---------------------------------------------------------------
st.subheader("Share", anchor=False)
link = permalink(st.context.url, subject.link_text or customer_id)
link_col, bundle_col = st.columns([3, 1], vertical_alignment="center")
with link_col:
    own_page_link("pages/triage.py", "Permalink to this triage", {"q": subject.link_text})
    st.caption(f"Link for the ticket: {literal_md(link)}")
summary = summary_text(history, findings, link, names)
bundle = debug_bundle(gathered, findings)
with bundle_col:
    st.download_button(
        "Download debug bundle",
        bundle,
        file_name=f"triage-{customer_id[:8]}.json",
        mime="application/json",
        icon=":material/download:",
        on_click=lambda: audited(
            current_actor(),
            "export",
            "customer",
            customer_id,
            lambda: None,
            detail=lambda _: "triage debug bundle",
        ),
        help="Ids, statuses, results_ids, timings and the rules that fired, for an escalation "
        "to Lean. No personal data (no names, IBANs or national IDs).",
    )
st.caption("Copy summary (the button at the code block's corner copies it): no personal data.")
st.code(summary, language=None, wrap_lines=True)
