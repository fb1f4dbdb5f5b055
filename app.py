"""The console's entry: navigation over the screens and the sidebar. Nothing else."""

import streamlit as st

from console.access import AccessDenied
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
# Screens a role may not use are not in its menu. Their address still answers, with the role
# they need and who to ask, and nothing of the screen runs (Streamlit would say "Page not found").


def refused(action: str, url_path: str) -> st.Page:
    """A hidden page at `url_path` that only says which role `action` needs."""

    def refuse() -> None:
        st.title("Not available to your role")
        st.error(str(AccessDenied(actor, action)), icon=":material/lock:")

    return st.Page(
        refuse, title="Not available", icon=":material/lock:", url_path=url_path,
        visibility="hidden",
    )  # fmt: skip


if actor.may("create_customer"):
    pages["Lookup"].append(
        st.Page(
            "pages/connect.py",
            title="Connect a bank",
            icon=":material/add_link:",
            url_path="connect",
        )
    )
else:
    pages[""].append(refused("create_customer", "connect"))
if actor.may("see_audit_log"):
    pages["Admin"] = [
        st.Page("pages/audit.py", title="Audit log", icon=":material/policy:", url_path="audit")
    ]
else:
    pages[""].append(refused("see_audit_log", "audit"))
if actor.may("see_request_log"):
    pages.setdefault("Admin", []).append(
        st.Page(
            "pages/request_log.py",
            title="Request log",
            icon=":material/receipt_long:",
            url_path="requests",
        )
    )
else:
    pages[""].append(refused("see_request_log", "requests"))
navigation = st.navigation(pages)

with st.sidebar:
    backend = backend_or_stop()
    # First under the screens' names: a laptop's sidebar shows it without scrolling.
    sidebar_search()
    sidebar_user(actor)
    environment_badge(backend)
    webhook_badge()

configuration_banner()
# Everything a screen asks of Lean in one run shares one budget: the operator waits at most that.
# Every call to Lean is recorded as asked by this screen, for the person signed in.
with (
    overall_deadline(backend.settings.call_budget),
    calling_as(navigation.title or navigation.url_path, actor.email or actor.name),
):
    navigation.run()
