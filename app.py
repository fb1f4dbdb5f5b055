"""The console's entry: navigation over the screens and the sidebar. Nothing else."""

import streamlit as st

from console.ui import backend_or_stop, environment_badge
from console.ui_access import gate, sidebar_user
from console.ui_search import sidebar_search
from console.ui_status import configuration_banner, webhook_badge
from lean_api.retry import overall_deadline

st.set_page_config(page_title="Lean Ops Console", page_icon="🏦", layout="wide")

# Nobody reaches a screen, or learns which screens exist, before the gate lets them in.
actor = gate()

pages = {
    "": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
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
if actor.may("see_audit_log"):
    pages["Admin"] = [
        st.Page("pages/audit.py", title="Audit log", icon=":material/policy:", url_path="audit")
    ]
navigation = st.navigation(pages)

with st.sidebar:
    backend = backend_or_stop()
    sidebar_user(actor)
    environment_badge(backend)
    webhook_badge()
    sidebar_search()

configuration_banner()
# Everything a screen asks of Lean in one run shares one budget: the operator waits at most that.
with overall_deadline(backend.settings.call_budget):
    navigation.run()
