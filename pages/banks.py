"""Banks: every bank for personal and business accounts, its availability since when, and its health."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from console.banks import (
    HISTORY_DAYS,
    THRESHOLDS,
    BankReport,
    bank_attributes,
    bank_report,
    describe_outage,
    describe_since,
    health_rows,
    percent,
    report_rows,
    unknown_fields,
)
from console.charts import availability_timeline
from console.formatting import literal_md, shorten, styled_table
from console.insights.bank_health import (
    DEGRADED,
    DOWN,
    HEALTHY,
    NOT_ENOUGH_DATA,
    spans,
    state_word,
)
from console.refreshes import pixels_for
from console.ui import backend_or_stop, show_error, wait_for_lean
from console.ui_banks import bank_history, load_bank_list
from lean_api.errors import LeanError
from lean_api.models import Bank

ACCOUNT_TYPES = ("PERSONAL", "BUSINESS")
LIST_ORDER = (
    "Health", "Bank", "Why", "Open", "Data", "Payments", "Data since", "Uptime 7 d",
    "Uptime 30 d", "Identifier", "SWIFT", "Arabic name",
)  # fmt: skip

backend = backend_or_stop()


st.title("Banks")
st.caption(
    "Lean's flag says a bank is switched on, not that it works: availability comes from Lean now, "
    "its history from the `bank.availability.updated` webhooks, and health from the refresh "
    "webhooks of the last 24 hours and 7 days."
)

banks: dict[str, list[Bank]] = {}
for account_type in ACCOUNT_TYPES:
    try:
        banks[account_type] = wait_for_lean(
            f"Loading the {account_type.lower()} banks from Lean…",
            backend,
            ("banks", account_type),
            lambda account_type=account_type: load_bank_list(backend.key, account_type),
            "bank list",
        ).value
    except LeanError as exc:
        # The second list would wait on the same failing Lean, within the same budget.
        show_error(exc, "bank list")
        break
if not banks:
    st.stop()

history = bank_history()
now = history.now

with st.expander("How health is judged"):
    st.markdown("\n".join(f"- {line}" for line in THRESHOLDS.describe()))
    st.caption(
        "Per data type, a refresh counts as its worst account (failed, then an unknown status "
        "word, partial, success, unsupported). Uptime is the share of the recorded time the bank "
        "was available for data; time before the first recorded change does not count."
    )
if history.without_bank:
    st.caption(
        f"{history.without_bank:,} refreshes of the last 7 days are not counted: their entity's "
        "`entity.created` / `entity.updated` webhook, which names the bank, is not in the store "
        "(the connection is older than the stored history)."
    )
if history.cut:
    st.info(
        f"More than {sum(len(v) for v in history.outcomes.values()):,} refreshes finished in "
        "7 days; health is judged on the newest of them."
    )


def show_report(report: BankReport, account_type: str) -> None:
    """Availability, outage, uptime and health of one bank as one account type sees it."""
    bank = report.bank
    verdict = report.verdict.overall
    st.markdown(f"**{account_type.title()} accounts** · health **{verdict.word}**")
    st.caption(f"Why: {verdict.reason}")  # the console's own words and numbers
    c1, c2, c3 = st.columns(3)
    c1.metric("Uptime 7 days (data)", percent(report.uptime_7d))
    c2.metric("Uptime 30 days (data)", percent(report.uptime_30d))
    c3.metric(
        "Current outage",
        describe_outage(report, now),
        help="How long data has been unavailable, from the stored availability webhooks",
    )
    for capability in ("data", "payments"):
        since = report.data_since if capability == "data" else report.payments_since
        st.markdown(
            f"**{capability.title()}:** {state_word(bank.availability.state(capability))} · "
            f"{describe_since(since, now)}"
        )
    st.dataframe(styled_table(health_rows(report), ["Health"]), hide_index=True, width="stretch")


def show_bank(identifier: str) -> None:
    """One bank: what Lean says of it, its availability timeline and health."""
    if st.button("← All banks"):
        del st.query_params["bank"]
        st.rerun()
    found = {
        account_type: next((b for b in listed if b.identifier == identifier), None)
        for account_type, listed in banks.items()
    }
    found = {k: v for k, v in found.items() if v is not None}
    if not found:
        st.warning(
            f"Lean lists no bank with identifier {literal_md(shorten(identifier))} "
            f"for {' or '.join(t.lower() for t in banks)} accounts."
        )
        return
    first = next(iter(found.values()))
    st.subheader(literal_md(first.display_name), anchor=False)
    arabic = first.commercial_name_arabic or first.arabic_name
    st.markdown(
        f"{literal_md(arabic) or '—'} · identifier {literal_md(first.identifier)} · "
        f"SWIFT {literal_md(first.swift_code) or '—'}"
    )
    changes = history.changes.get(identifier, [])
    since = now - timedelta(days=HISTORY_DAYS)
    timeline = spans(changes, "data", since, now) + spans(changes, "payments", since, now)
    st.markdown(f"**Availability over {HISTORY_DAYS} days**")
    if changes:
        st.plotly_chart(
            availability_timeline(timeline), width="stretch", key=f"timeline_{identifier}"
        )
        st.caption(
            f"{len(changes)} availability change{'s' if len(changes) != 1 else ''} on record. "
            "Grey: before the first change the "
            "console received, the state is not known."
        )
    else:
        st.info(f"No availability change recorded for this bank in {HISTORY_DAYS} days.")
    if len(found) > 1:
        st.caption(
            "Availability is Lean's, per account type. Refresh health is per bank: Lean's refresh "
            "webhooks do not say whether an account is personal or business, so both sections "
            "count the same refreshes. A bank's health word judges whole refreshes; a data type "
            "can be DEGRADED on its own while the bank as a whole stays HEALTHY."
        )
    for account_type, bank in found.items():
        with st.container(border=True):
            show_report(bank_report(bank, history, THRESHOLDS), account_type)
    for account_type, bank in found.items():
        with st.expander(f"What Lean says of this bank ({account_type.lower()} accounts)"):
            st.dataframe(bank_attributes(bank), hide_index=True, width="stretch")
            extra = unknown_fields(bank)
            if extra:
                st.caption("Every other field Lean sent, as it came:")
                st.json(extra, expanded=False)


def show_list() -> None:
    """Every bank, problems first, per account type."""
    tabs = st.tabs([f"{t.title()} ({len(banks[t])})" for t in banks])
    for tab, (account_type, listed) in zip(tabs, banks.items(), strict=True):
        with tab:
            reports = [bank_report(bank, history, THRESHOLDS) for bank in listed]
            words = [r.verdict.overall.word for r in reports]
            columns = st.columns(4)
            for column, word in zip(
                columns, (DOWN, DEGRADED, HEALTHY, NOT_ENOUGH_DATA), strict=True
            ):
                column.metric(word.capitalize(), words.count(word))
            if not reports:
                st.info(f"Lean lists no banks for {account_type.lower()} accounts.")
                continue
            rows = report_rows(reports, now)
            st.dataframe(
                styled_table(rows, ["Health", "Data", "Payments"]),
                hide_index=True,
                width="stretch",
                # What an operator reads first fits 1280 px: the word, the bank and why; the
                # rest follows to the right.
                column_order=LIST_ORDER,
                column_config={
                    "Health": st.column_config.TextColumn(width=85),
                    "Bank": st.column_config.TextColumn(
                        width=pixels_for((r["Bank"] for r in rows), least=100, most=170)
                    ),
                    "Why": st.column_config.TextColumn(
                        width=pixels_for((r["Why"] for r in rows), least=150, most=430),
                        help="Why the bank has this health word (select Open bank for all of it)",
                    ),
                    "Data": st.column_config.TextColumn(width=140),
                    "Open": st.column_config.LinkColumn("Open", display_text="Open bank", width=80),
                },
                key=f"banks_{account_type}",
            )


if bank_param := st.query_params.get("bank"):
    show_bank(bank_param)
else:
    show_list()
