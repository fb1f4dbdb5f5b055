"""Hostile deliveries: every one gets a deliberate answer, none stalls or kills the write path.

Property-based (Hypothesis) over real loopback HTTP, on SQLite and PostgreSQL, plus one test per
failure a review found: lone surrogates, non-ASCII signatures, absurd lengths, deep JSON, odd
timestamps, over-long fields and NUL on PostgreSQL, slow senders, a locked or frozen database.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from console.serving import install_request_deadlines
from console.store import EventFilter, EventStore
from console.webhooks import WEBHOOK_PATH, ReceiverConfig, WebhookReceiver, create_app
from lean_api.webhooks import SIGNATURE_HEADER, generate_signature_header
from sandbox.server import ThreadedServer
from tests.pgcluster import postgres_cluster
from tests.receivers import SECRET, Receiver, event

ALLOWED = {200, 400, 401, 403, 413}
EXAMPLES = int(os.environ.get("HYPOTHESIS_RECEIVER_EXAMPLES", "40"))


def normal_delivery_is_stored(receiver: Receiver) -> None:
    """A plain signed event right after a hostile one is stored within a second."""
    event_id = f"normal-{uuid.uuid4()}"
    started = time.monotonic()
    response = receiver.post(event(event_id))
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert elapsed < 1.0, f"a normal delivery took {elapsed:.2f} s"
    assert receiver.store.get_event(event_id) is not None


# ---------------------------------------------------------------------------------------------
# Property-based
# ---------------------------------------------------------------------------------------------

# Any Unicode, lone surrogates and NUL included (json.dumps escapes them as \ud800, \u0000).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=300)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=30,
)
timestamps = (
    json_values
    | st.datetimes().map(lambda d: d.isoformat() + "Z")
    | st.from_regex(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,12})?([+-]\d{1,2}:\d{2}|Z)?", fullmatch=True
    )
)
envelopes = st.fixed_dictionaries(
    {"type": any_text | json_values},
    optional={
        "message": json_values,
        "payload": st.dictionaries(
            st.sampled_from(
                [
                    "customer_id",
                    "entity_id",
                    "id",
                    "app_user_id",
                    "refresh_id",
                    "status",
                    "bank_details",
                    "identifier",
                    "availability",
                    "x",
                ]
            )
            | any_text,
            json_values | st.text(min_size=60, max_size=5000),
            max_size=8,
        )
        | json_values,
        "event_id": json_values | st.text(min_size=150, max_size=2000),
        "timestamp": timestamps,
    },
)


def deep(depth: int) -> bytes:
    return b'{"type": "x", "payload": {"a": ' + b"[" * depth + b"]" * depth + b"}}"


bodies = (
    envelopes.map(lambda e: json.dumps(e).encode())
    | envelopes.map(lambda e: json.dumps(e, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    | st.binary(max_size=2000)
    | st.integers(min_value=1, max_value=5000).map(deep)
    | st.sampled_from(
        [b"", b"null", b"[]", b"{}", b"\xef\xbb\xbf{}", b'{"type": "x"}'.replace(b"x", b"\x00")]
    )
)
# Header values as an HTTP client can send them (latin-1), anything in them.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=200).map(
    str.lstrip  # an HTTP client cannot send leading whitespace
)
signing = st.sampled_from(["sign", "none", "wrong-secret", "random"])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(body=bodies, how=signing, signature=header_text, content_type=header_text)
def test_any_delivery_gets_a_deliberate_answer_and_the_next_is_stored(
    hostile_receivers: dict[str, Receiver],
    backend: str,
    body: bytes,
    how: str,
    signature: str,
    content_type: str,
) -> None:
    receiver = hostile_receivers[backend]
    headers = {"Content-Type": content_type}
    if how == "sign":
        headers[SIGNATURE_HEADER] = generate_signature_header(body, SECRET)
    elif how == "wrong-secret":
        headers[SIGNATURE_HEADER] = generate_signature_header(body, "another")
    elif how == "random":
        headers[SIGNATURE_HEADER] = signature
    response = requests.post(receiver.url, data=body, headers=headers, timeout=10)
    assert response.status_code in ALLOWED, (response.status_code, response.text)
    if how == "sign" and response.status_code == 200:
        stored = receiver.store.get_event(response.json()["event_id"])
        assert stored is not None and stored.verified
    normal_delivery_is_stored(receiver)


@pytest.fixture(scope="module")
def hostile_receivers(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[dict[str, Receiver]]:
    """One receiver per backend for the whole property run (a server per example is too slow)."""
    stores = {
        "sqlite": EventStore(f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'events.db'}"),
        "postgresql": EventStore(postgres_url),
    }
    served = {}
    for name, store in stores.items():
        store.migrate()
        served[name] = Receiver(store, ReceiverConfig(secret=SECRET))
    yield served
    for receiver in served.values():
        receiver.server.stop()
        receiver.store.dispose()


# ---------------------------------------------------------------------------------------------
# The review's findings, one by one (both backends through the `store` fixture)
# ---------------------------------------------------------------------------------------------


def test_lone_surrogate_is_stored_and_the_writer_survives(receiver: Receiver) -> None:
    body = b'{"type": "entity.created", "event_id": "sur", "message": "\\ud800 x", "payload": {"customer_id": "\\udfff"}}'
    response = receiver.post(body)
    assert response.status_code == 200, response.text
    stored = receiver.store.get_event("sur")
    assert stored is not None and stored.message == "\ufffd x" and stored.customer_id == "\ufffd"
    assert stored.payload == body.decode()  # the raw body is kept whole
    normal_delivery_is_stored(receiver)


def test_long_fields_and_nul_are_stored_on_every_backend(receiver: Receiver) -> None:
    long_id = "e" * 5000
    body = json.dumps(
        {
            "type": "entity.updated" + "x" * 300,
            "event_id": long_id,
            "message": "a\x00b",
            "payload": {"customer_id": "c" * 500, "app_user_id": "u\x00" * 400, "status": "S" * 90},
        }
    ).encode()
    response = receiver.post(body)
    assert response.status_code == 200, response.text
    stored_id = response.json()["event_id"]
    assert len(stored_id) <= 200 and stored_id != long_id[:200]
    stored = receiver.store.get_event(stored_id)
    assert (
        stored is not None and stored.message == "a\ufffdb" and len(stored.customer_id or "") <= 64
    )
    assert json.loads(stored.payload)["event_id"] == long_id
    # Two different long ids sharing a prefix stay two events.
    other = json.dumps({"type": "x", "event_id": long_id + "2"}).encode()
    assert receiver.post(other).json()["event_id"] != stored_id


@pytest.mark.parametrize(
    "timestamp",
    [
        1e300,
        -1,
        2**70,
        True,
        "9999-12-31T23:59:59-01:00",
        "0000-01-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        None,
    ],
)
def test_odd_timestamps_are_stored_without_one(receiver: Receiver, timestamp: object) -> None:
    body = json.dumps(
        {"type": "x", "event_id": f"ts-{timestamp!r}", "timestamp": timestamp}
    ).encode()
    response = receiver.post(body)
    assert response.status_code == 200, response.text
    stored = receiver.store.get_event(response.json()["event_id"])
    assert stored is not None
    if timestamp != -1:
        assert stored.lean_timestamp is None


def test_deep_json_is_a_dead_letter(receiver: Receiver) -> None:
    response = receiver.post(deep(100_000))
    assert response.status_code == 400 and "nested deeper" in response.json()["error"]
    assert receiver.store.list_dead_letters()[0]["reason"].startswith("JSON nested deeper")
    again = receiver.post(deep(100_000))
    assert again.status_code == 400
    letters = receiver.store.list_dead_letters()
    assert len(letters) == 1 and letters[0]["delivery_count"] == 2  # counted, not kept twice


def test_non_ascii_signature_is_401(receiver: Receiver) -> None:
    response = receiver.post(event(), signature="sha512=" + "é" * 128)
    assert response.status_code == 401
    assert receiver.store.list_rejections()[0]["signature"].startswith("sha512=é")


def test_absurd_content_length_is_refused_not_a_500(receiver: Receiver) -> None:
    host, port = receiver.url.split("//")[1].split("/")[0].split(":")
    for length in ["99999999999999999999999999999", "18446744073709551617", "١٢٣"]:
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(
                f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}".encode()
            )
            status = int(sock.recv(100).split()[1])
        assert status in (400, 413), (length, status)
    normal_delivery_is_stored(receiver)


def test_ordering_keeps_nanoseconds_and_untimed_events_never_win(receiver: Receiver) -> None:
    def refresh(event_id: str, at: str | None, status: str) -> bytes:
        return event(
            event_id,
            "entity.data.refresh.updated",
            at,
            refresh_id="r",
            entity_id="e",
            status=status,
        )

    # Same microsecond, the later nanosecond arrives first.
    assert receiver.post(refresh("late", "2026-11-01T10:00:00.123456900Z", "FINISHED")).ok
    assert receiver.post(refresh("early", "2026-11-01T10:00:00.123456100Z", "PENDING")).ok
    assert receiver.post(refresh("untimed", None, "PENDING")).ok
    current = receiver.store.refresh_status("r")
    assert current is not None and current.event_id == "late" and current.status == "FINISHED"
    assert receiver.store.count_events(EventFilter(refresh_id="r")) == 3


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


def test_configuration_errors_become_a_problem_not_a_crash() -> None:
    config = ReceiverConfig.from_env(
        {"LEAN_WEBHOOK_ALLOWED_IPS": "10.0.0.0/8, 10.0.0.300"}, dotenv_path=None
    )
    assert config.problem and "10.0.0.300" in config.problem
    production = ReceiverConfig.from_env(
        {"LEAN_ENV": "production", "LEAN_WEBHOOK_ALLOW_UNSIGNED": "true"}, dotenv_path=None
    )
    assert production.problem and not production.allow_unsigned
    development = ReceiverConfig.from_env({"LEAN_WEBHOOK_ALLOW_UNSIGNED": "yes"}, dotenv_path=None)
    assert development.allow_unsigned and development.problem is None
    assert ReceiverConfig.from_env({}, dotenv_path=None).refuses_unsigned_for_want_of_secret


def test_misconfigured_receiver_answers_503_and_healthz_says_only_down(store: EventStore) -> None:
    config = ReceiverConfig.from_env(
        {"LEAN_WEBHOOK_ALLOWED_IPS": "nope"}, secret=SECRET, dotenv_path=None
    )
    served = Receiver(store, config)
    try:
        response = served.post(event())
        assert response.status_code == 503 and response.headers["Retry-After"]
        health = requests.get(served.server.url + "/healthz", timeout=5)
        assert health.status_code == 503
        assert health.json() == {"status": "down", "failing": ["configuration"]}
    finally:
        served.server.stop()


def test_public_healthz_shows_no_database_details(receiver: Receiver) -> None:
    health = requests.get(receiver.server.url + "/healthz", timeout=5)
    assert health.status_code == 200 and health.json() == {"status": "up"}


# ---------------------------------------------------------------------------------------------
# Slow senders and a database that does not answer
# ---------------------------------------------------------------------------------------------


def test_slow_body_gets_408_within_the_deadline(store: EventStore) -> None:
    served = Receiver(store, ReceiverConfig(secret=SECRET, read_timeout=1.0))
    try:
        host, port = served.server.host, served.server.port
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(
                f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{".encode()
            )
            started = time.monotonic()
            answer = sock.recv(200)
            assert b" 408 " in answer and time.monotonic() - started < 3
        served.receiver.rejections.wait_idle()
        assert store.list_rejections()[0]["status_code"] == 408
    finally:
        served.server.stop()


def test_bodies_in_flight_are_bounded_in_memory(store: EventStore) -> None:
    served = Receiver(
        store, ReceiverConfig(secret=SECRET, max_buffered_bytes=300_000, read_timeout=5)
    )
    sockets = []
    try:
        for _ in range(4):
            sock = socket.create_connection((served.server.host, served.server.port), timeout=5)
            sock.sendall(
                f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\n".encode()
                + b"x" * 100_000
            )
            sockets.append(sock)
        answers = []
        for sock in sockets:
            sock.settimeout(0.5)
            try:
                answers.append(sock.recv(100))
            except TimeoutError:
                answers.append(b"")
        assert any(b" 503 " in answer for answer in answers), answers
    finally:
        for sock in sockets:
            sock.close()
        served.server.stop()


def test_slow_headers_are_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    install_request_deadlines()
    monkeypatch.setattr(HttpToolsProtocol, "header_timeout", 1.0)
    receiver = WebhookReceiver(EventStore("sqlite://"), ReceiverConfig(secret=SECRET))
    with ThreadedServer(create_app(receiver), lifespan="on") as server:
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(b"POST /webhooks/lean HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            for _ in range(10):
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    break
                time.sleep(0.3)
            assert sock.recv(100) == b""  # closed by the server
            assert time.monotonic() - started < 3
        # Headers past the size cap are refused; a normal request is served.
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 70_000)
            assert b" 400 " in sock.recv(100)
        assert requests.get(server.url + "/healthz", timeout=5).status_code in (200, 503)


def test_sqlite_write_lock_does_not_stall_the_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = EventStore(f"sqlite:///{tmp_path / 'locked.db'}", busy_timeout_ms=5000)
    store.migrate()
    served = Receiver(store, ReceiverConfig(secret=SECRET, store_timeout=2.0))
    holder = EventStore(store.url)
    try:
        with holder.engine.connect() as conn:
            conn.exec_driver_sql("BEGIN EXCLUSIVE")
            assert_server_answers_while_store_is_stuck(served)
            conn.rollback()
        normal_delivery_is_stored(served)
    finally:
        holder.dispose()
        served.server.stop()


def test_frozen_postgresql_does_not_stall_the_server() -> None:
    with postgres_cluster() as url:
        store = EventStore(url)
        store.migrate()
        served = Receiver(store, ReceiverConfig(secret=SECRET, store_timeout=2.0))
        port = url.rsplit(":", 1)[1].split("/")[0]
        pids = [
            int(pid)
            for pid in subprocess.run(
                ["pgrep", "-f", f"bin/postgres .*-p {port} "], capture_output=True, text=True
            ).stdout.split()
        ]
        children = subprocess.run(
            ["pgrep", "-P", ",".join(map(str, pids))], capture_output=True, text=True
        ).stdout.split()
        frozen = pids + [int(pid) for pid in children]
        assert frozen, "no PostgreSQL process found to freeze"
        try:
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            assert_server_answers_while_store_is_stuck(served, healthz_down=True)
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        normal_delivery_is_stored(served)
        served.server.stop()
        store.dispose()


def assert_server_answers_while_store_is_stuck(
    served: Receiver, *, healthz_down: bool = False
) -> None:
    """Signed deliveries wait for the store; unsigned ones and /healthz answer within a second."""
    signed_statuses: list[int] = []

    def signed(index: int) -> None:
        body = event(f"stuck-{index}")
        response = requests.post(
            served.url,
            data=body,
            headers={SIGNATURE_HEADER: generate_signature_header(body, SECRET)},
            timeout=15,
        )
        signed_statuses.append(response.status_code)

    threads = [threading.Thread(target=signed, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    for _ in range(10):
        started = time.monotonic()
        refused = requests.post(served.url, data=b'{"type": "x"}', timeout=5)
        assert refused.status_code == 401 and time.monotonic() - started < 1.0
    started = time.monotonic()
    health = requests.get(served.server.url + "/healthz", timeout=5)
    assert time.monotonic() - started < 1.5
    if healthz_down:
        assert health.status_code == 503 and "store" in health.json()["failing"]
    for thread in threads:
        thread.join()
    assert set(signed_statuses) <= {200, 503}
    if 503 in signed_statuses:
        # Reads may still work, but writes were refused: /healthz must not say "up".
        health = requests.get(served.server.url + "/healthz", timeout=5)
        assert health.status_code == 503 and "store" in health.json()["failing"]
    assert datetime.now(UTC)  # the test itself finished: nothing hung


def test_large_signed_body_sent_with_its_headers_is_stored(receiver: Receiver) -> None:
    install_request_deadlines()
    body = json.dumps(
        {"type": "entity.created", "event_id": "big", "message": "a" * 500_000}
    ).encode()
    signature = generate_signature_header(body, SECRET)
    host, port = receiver.server.host, receiver.server.port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
            f"{SIGNATURE_HEADER}: {signature}\r\n\r\n".encode()
            + body
        )
        assert b" 200 " in sock.recv(100)
    assert receiver.store.get_event("big") is not None


def test_slow_bodies_lose_their_connection_on_any_route(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_request_deadlines()
    monkeypatch.setattr(HttpToolsProtocol, "body_timeout", 1.5)
    host, port = receiver.server.host, receiver.server.port
    for request in [b"GET /healthz", b"POST /nowhere"]:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(request + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx")
            started = time.monotonic()
            closed = False
            while time.monotonic() - started < 5:
                try:
                    sock.sendall(b"x")
                    sock.settimeout(0.3)
                    data = sock.recv(4096)
                    while data:
                        data = sock.recv(4096)
                    closed = True
                    break
                except TimeoutError:
                    continue
                except OSError:
                    closed = True
                    break
            assert closed and time.monotonic() - started < 3, request


def test_a_removed_sqlite_file_is_recreated_not_written_into_the_void(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "gone.db"
    store = EventStore(f"sqlite:///{path}")
    served = Receiver(store, ReceiverConfig(secret=SECRET))
    try:
        assert served.post(event("before")).status_code == 200
        for leftover in tmp_path.glob("gone.db*"):
            leftover.unlink()
        assert served.post(event("after")).status_code == 200
        assert path.exists()
        reopened = EventStore(f"sqlite:///{path}")
        assert reopened.get_event("after") is not None
        reopened.dispose()
    finally:
        served.server.stop()


def test_ids_that_cleaning_would_merge_stay_distinct(receiver: Receiver) -> None:
    ids = []
    for raw in ["\\ud800T", "\\ud801T", "\\u0000T", "\\ufffdT"]:
        body = ('{"type": "x", "event_id": "' + raw + '"}').encode()
        response = receiver.post(body)
        assert response.status_code == 200 and response.json()["status"] == "stored", raw
        ids.append(response.json()["event_id"])
    assert len(set(ids)) == 4


def test_production_without_credentials_is_a_configuration_error_not_the_sandbox(
    monkeypatch: pytest.MonkeyPatch, store: EventStore
) -> None:
    from console.runtime import get_backend
    from console.webhooks import receiver_from_env
    from lean_api.errors import ConfigurationError

    for key in ["LEAN_CLIENT_ID", "LEAN_CLIENT_SECRET", "LEAN_WEBHOOK_SECRET"]:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("LEAN_ENV", "production")
    with pytest.raises(ConfigurationError, match="production"):
        get_backend()
    # The receiver alone never falls back to the embedded sandbox's secret in production.
    receiver = receiver_from_env(store)
    assert receiver.config.secret is None and receiver.config.refuses_unsigned_for_want_of_secret


def test_real_credentials_without_a_webhook_secret_refuse_unsigned(
    monkeypatch: pytest.MonkeyPatch, store: EventStore
) -> None:
    from console.webhooks import receiver_from_env

    monkeypatch.setenv("LEAN_CLIENT_ID", "id")
    monkeypatch.setenv("LEAN_CLIENT_SECRET", "secret")
    monkeypatch.delenv("LEAN_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("LEAN_WEBHOOK_ALLOW_UNSIGNED", raising=False)
    served = Receiver(store, receiver_from_env(store).config)
    try:
        response = served.post(event(), signature=None)
        assert response.status_code == 401 and store.count_events() == 0
        health = requests.get(served.server.url + "/healthz", timeout=5).json()
        assert health == {"status": "down", "failing": ["webhook_secret"]}
    finally:
        served.server.stop()


def test_a_configured_webhook_secret_wins_over_the_embedded_one(
    monkeypatch: pytest.MonkeyPatch, store: EventStore
) -> None:
    from console.webhooks import receiver_from_env

    for key in ["LEAN_CLIENT_ID", "LEAN_CLIENT_SECRET", "LEAN_ENV"]:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("LEAN_WEBHOOK_SECRET", "whsec_configured")
    assert receiver_from_env(store).config.secret == "whsec_configured"
    monkeypatch.delenv("LEAN_WEBHOOK_SECRET")
    embedded = receiver_from_env(store).config.secret
    assert embedded and embedded != "whsec_configured"
