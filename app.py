"""The console's entry: navigation over the screens and the sidebar. Nothing else."""

import streamlit as st

from console.ui import backend_or_stop, environment_badge
from console.ui_access import gate, sidebar_user
from console.ui_search import sidebar_search
from console.ui_status import configuration_banner, webhook_badge
from lean_api.calls import calling_as
from lean_api.retry import overall_deadline

st.set_page_config(page_title="Lean Ops Console", page_icon="🏦", layout="wide")

# Nobody reaches a screen, or learns which screens exist, before the gate lets them in.
actor = gate()

pages = {
    "": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    ],
    "Support": [
        st.Page(
            "pages/triage.py", title="Triage", icon=":material/troubleshoot:", url_path="triage"
        ),
    ],
    "Lookup": [
        st.Page(
            "pages/customers.py",
            title="Customers",
            icon=":material/person_search:",
            url_path="customers",
        ),
        st.Page(
            "pages/expiring.py",
            title="Consent expiry",
            icon=":material/event_busy:",
            url_path="expiring",
        ),
        st.Page(
            "pages/entities.py",
            title="Bank connection",
            icon=":material/link:",
            url_path="entities",
        ),
        st.Page(
            "pages/account_data.py",
            title="Accounts & data",
            icon=":material/account_balance_wallet:",
            url_path="data",
        ),
    ],
    "Monitoring": [
        st.Page(
            "pages/webhooks.py", title="Webhooks", icon=":material/webhook:", url_path="webhooks"
        ),
        st.Page(
            "pages/refreshes.py",
            title="Data refreshes",
            icon=":material/sync:",
            url_path="refreshes",
        ),
        st.Page(
            "pages/banks.py", title="Banks", icon=":material/account_balance:", url_path="banks"
        ),
    ],
}
if actor.may("create_customer"):
    pages["Lookup"].append(
        st.Page(
            "pages/connect.py",
            title="Connect a bank",
            icon=":material/add_link:",
            url_path="connect",
        )
    )
if actor.may("see_audit_log"):
    pages["Admin"] = [
        st.Page("pages/audit.py", title="Audit log", icon=":material/policy:", url_path="audit")
    ]
if actor.may("see_request_log"):
    pages.setdefault("Admin", []).append(
        st.Page(
            "pages/request_log.py",
            title="Request log",
            icon=":material/receipt_long:",
            url_path="requests",
        )
    )
navigation = st.navigation(pages)

with st.sidebar:
    backend = backend_or_stop()
    sidebar_user(actor)
    environment_badge(backend)
    webhook_badge()
    sidebar_search()

configuration_banner()
# Everything a screen asks of Lean in one run shares one budget: the operator waits at most that.
# Every call to Lean is recorded as asked by this screen, for the person signed in.
with (
    overall_deadline(backend.settings.call_budget),
    calling_as(navigation.title or navigation.url_path, actor.email or actor.name),
):
    navigation.run()
