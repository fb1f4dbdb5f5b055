"""`GET /metrics`: counters that move with real deliveries and real Lean calls, a scrape that
Prometheus' own parser reads, and a door closed to anyone but loopback or the token holder."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from console.metrics import METRICS_PATH, may_scrape, observe_lean_call
from lean_api.client import LeanClient
from lean_api.webhooks import SIGNATURE_HEADER
from tests.receivers import Receiver, event


def scrape(url: str, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and labels."""
    response = requests.get(url, headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def metrics_url(receiver: Receiver) -> str:
    return receiver.server.url + METRICS_PATH


def delta(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_counters_move_for_stored_duplicate_and_refused_deliveries(receiver: Receiver) -> None:
    before = scrape(metrics_url(receiver))
    body = event(event_id="metrics-1", type_="entity.updated")
    assert receiver.post(body).json()["status"] == "stored"
    assert receiver.post(body).json()["status"] == "duplicate"
    assert receiver.post(event(event_id="metrics-2"), signature=None).status_code == 401
    assert receiver.post(b"{not json").status_code == 400
    strange = event(event_id="metrics-3", type_="<script>made.up</script>")
    assert receiver.post(strange).status_code == 200
    after = scrape(metrics_url(receiver))

    received = "console_webhooks_received_total"
    assert delta(before, after, received, type="entity.updated") == 2
    assert delta(before, after, "console_webhooks_duplicated_total", type="entity.updated") == 1
    # A type Lean does not send is counted under "other": posted words never become labels.
    assert delta(before, after, received, type="other") == 1
    refused = "console_webhooks_refused_total"
    assert delta(before, after, refused, status="401", reason="signature_missing") == 1
    assert delta(before, after, refused, status="400", reason="unreadable_body") == 1
    assert delta(before, after, "console_webhook_ingest_seconds_count") == 5
    assert not any("script" in str(key) for key in after)


def test_scrape_parses_and_describes_the_process(receiver: Receiver) -> None:
    samples = scrape(metrics_url(receiver))
    names = {name for name, _ in samples}
    assert "process_resident_memory_bytes" in names
    assert "console_rejection_log_sampled_out_total" in names
    assert "console_webhook_ingest_seconds_bucket" in names


def test_lean_calls_and_token_renewals_are_counted(client: LeanClient, receiver: Receiver) -> None:
    client.add_observer(observe_lean_call)
    before = scrape(metrics_url(receiver))
    client.list_banks()
    after = scrape(metrics_url(receiver))
    calls = "console_lean_calls_total"
    assert delta(before, after, calls, route="/banks/v1/", outcome="ok") == 1
    assert delta(before, after, "console_lean_token_renewals_total", outcome="ok") == 1
    assert delta(before, after, "console_lean_call_seconds_count", route="/banks/v1/") == 1


def test_a_bearer_token_opens_metrics_and_a_wrong_one_does_not(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSOLE_METRICS_TOKEN", "metrics-token-1")
    url = metrics_url(receiver)
    wrong = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 403 and "console_" not in wrong.text
    assert scrape(url, Authorization="Bearer metrics-token-1")
    # Through a proxy on this host, a loopback address proves nothing.
    proxied = requests.get(url, headers={"X-Forwarded-For": "203.0.113.7"}, timeout=10)
    assert proxied.status_code == 403
    # The receiver's own path is not widened: metrics only answer GET.
    assert requests.post(url, data=b"x", timeout=10).status_code == 405


@pytest.mark.parametrize(
    ("host", "headers", "token", "allowed"),
    [
        ("127.0.0.1", {}, "", True),
        ("::1", {}, "", True),
        ("::ffff:127.0.0.1", {}, "", True),
        ("203.0.113.5", {}, "", False),
        ("10.0.0.8", {}, "", False),
        (None, {}, "", False),
        ("not-an-address", {}, "", False),
        ("203.0.113.5", {"authorization": "Bearer s3cret"}, "s3cret", True),
        ("203.0.113.5", {"authorization": "bearer s3cret"}, "s3cret", True),
        ("203.0.113.5", {"authorization": "Bearer wrong"}, "s3cret", False),
        ("203.0.113.5", {"authorization": "Bearer s3cret"}, "", False),
        ("127.0.0.1", {"authorization": "Bearer wrong"}, "s3cret", False),
        ("127.0.0.1", {"x-forwarded-for": "203.0.113.5"}, "", False),
        ("127.0.0.1", {"forwarded": "for=203.0.113.5"}, "", False),
        ("127.0.0.1", {"x-real-ip": "203.0.113.5"}, "", False),
        # Present but empty still means a proxy; names are matched whatever their case.
        ("127.0.0.1", {"x-forwarded-for": ""}, "", False),
        ("127.0.0.1", {"X-Client-IP": "203.0.113.5"}, "", False),
        ("127.0.0.1", {"x-forwarded-for": ""}, "s3cret", False),
        ("127.0.0.1", {"x-forwarded-for": "", "authorization": "Bearer s3cret"}, "s3cret", True),
    ],
)
def test_who_may_scrape(host: str | None, headers: dict, token: str, allowed: bool) -> None:
    assert may_scrape(host, headers, token) is allowed


PROXY_HEADER_NAMES = (
    "X-Forwarded-For",
    "X-Client-IP",
    "True-Client-IP",
    "CF-Connecting-IP",
    "X-Real-IP",
    "Forwarded",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "Via",
)


@pytest.mark.parametrize("name", PROXY_HEADER_NAMES)
@pytest.mark.parametrize("value", ["203.0.113.7", ""], ids=["with-value", "empty"])
def test_any_proxy_header_from_loopback_closes_metrics_without_the_token(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """Over real loopback HTTP: the header alone (even empty) shuts the loopback door; the
    bearer token still opens it."""
    monkeypatch.setenv("CONSOLE_METRICS_TOKEN", "metrics-token-2")
    url = metrics_url(receiver)
    assert requests.get(url, timeout=10).status_code == 200  # loopback, no proxy header
    proxied = requests.get(url, headers={name: value}, timeout=10)
    assert proxied.status_code == 403 and "console_" not in proxied.text
    assert scrape(url, **{name: value, "Authorization": "Bearer metrics-token-2"})


def test_metrics_do_not_count_the_signature_header_text(receiver: Receiver) -> None:
    """A sender's own words in a refusal (an odd algorithm name) never become a label."""
    before = scrape(metrics_url(receiver))
    odd = {SIGNATURE_HEADER: "md5-of-<b>evil</b>=abc"}
    response = requests.post(receiver.url, data=event(), headers=odd, timeout=10)
    assert response.status_code == 401
    after = scrape(metrics_url(receiver))
    refused = "console_webhooks_refused_total"
    assert delta(before, after, refused, status="401", reason="signature_algorithm") == 1
    assert not any("evil" in str(key) for key in after)
