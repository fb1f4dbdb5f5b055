"""The sidebar's search box: paste any identifier from a ticket and land on the right screen."""

from __future__ import annotations

import streamlit as st

from console.formatting import literal_md
from console.identifiers import TRIAGE_PAGE, InvalidSearch, Resolution, resolve
from console.runtime import get_store
from console.store import StoreUnavailable


def sidebar_search() -> None:
    """A form in the sidebar; one match opens at once, several are listed with their evidence
    in a dialog over the screen (under the box, they fell below the fold of a laptop's sidebar)."""
    with st.form("sidebar_search", border=False, clear_on_submit=False):
        raw = st.text_input(
            "Find anything",
            placeholder="customer, entity, refresh, event or results id, app_user_id, IBAN",
            help="Paste an identifier from a ticket. The console looks in the stored webhooks and "
            "the book index first, and tells you what it found it as.",
            key="sidebar_search_text",
        )
        submitted = st.form_submit_button("Find", icon=":material/search:", width="stretch")
    if not submitted:
        return
    try:
        found = resolve(get_store(), raw)
    except InvalidSearch as exc:
        _found_dialog(None, str(exc))
        return
    except StoreUnavailable as exc:
        _found_dialog(
            None,
            "The console's database is not answering, so identifiers cannot be matched. "
            f"Look the customer up on the Customers screen instead. ({literal_md(str(exc))})",
        )
        return
    if (only := found.single) is not None:
        st.switch_page(only.page, query_params=only.query)
    _found_dialog(found)


@st.dialog("Find anything", width="large")
def _found_dialog(found: Resolution | None, refused: str | None = None) -> None:
    """The answer over the screen: under the box, in a laptop's sidebar, it was out of sight."""
    if refused is not None:
        st.error(refused)
    if found is not None:
        _candidates(found)


def _candidates(found: Resolution) -> None:
    if not found.candidates:
        where = (
            "IBANs are matched against the accounts in stored entity webhooks' consents; open "
            "the customer's bank connections to look further."
            if found.shape == "iban"
            else "Check the identifier: tables show ids cut short (…); paste the whole id."
        )
        st.warning(f"Nothing stored names {literal_md(found.text)}. {where}")
        return
    known = any(c.known for c in found.candidates)
    st.caption(
        f"{literal_md(found.text)} may be:"
        if known
        else f"Nothing stored names {literal_md(found.text)}. Ask Lean for it as:"
    )
    for candidate in found.candidates:
        st.page_link(
            candidate.page,
            label=candidate.label,
            icon=":material/arrow_forward:",
            query_params=candidate.query,
        )
        st.caption(candidate.evidence)
    if not known or all(c.page == TRIAGE_PAGE for c in found.candidates):
        return
    # Whatever it turns out to be, the triage screen says what happened to its customer. An IBAN
    # is personal data: the link names the bank connection instead, never the IBAN.
    subjects = [c.value for c in found.candidates] if found.shape == "iban" else [found.text]
    for subject in subjects[:5]:
        st.page_link(
            TRIAGE_PAGE,
            label="Triage: what happened, and what to do",
            icon=":material/troubleshoot:",
            query_params={"q": subject},
        )
