"""Replay a saved webhook body to a receiver, signed with the configured secret.

    python -m console.replay incident-4711.json [--url http://localhost:8501/webhooks/lean]

Signed with LEAN_WEBHOOK_SECRET; without it (and without Lean credentials) with the embedded
sandbox's secret, so it works against a default `make run` as it is.

For reproducing an incident: the body is sent byte for byte as saved, so its signature is
computed over exactly what the receiver will verify. A dead letter's body downloaded from the
Webhooks screen ("Download its body") is such a file; to turn dead letters into events once their
cause is fixed, use Reprocess on that screen instead (`console.dead_letters`): it keeps the
letter's arrival time and `verified` flag, which a replay cannot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import requests

from console.runtime import embedded_webhook_secret
from lean_api.config import LeanSettings
from lean_api.errors import ConfigurationError
from lean_api.webhooks import SIGNATURE_HEADER, generate_signature_header

DEFAULT_URL = "http://localhost:8501/webhooks/lean"


def replay(body: bytes, url: str, secret: str | None, timeout: float = 10.0) -> requests.Response:
    """POST `body` to `url`, signed when a secret is given."""
    headers = {"Content-Type": "application/json", "User-Agent": "lean-ops-console-replay"}
    if secret:
        headers[SIGNATURE_HEADER] = generate_signature_header(body, secret)
    return requests.post(url, data=body, headers=headers, timeout=timeout)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m console.replay", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("file", type=Path, help="a saved webhook body (JSON)")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"receiver URL (default {DEFAULT_URL})")
    parser.add_argument(
        "--unsigned", action="store_true", help="send without a signature (to test rejection)"
    )
    args = parser.parse_args(argv)

    try:
        body = args.file.read_bytes()
    except OSError as exc:
        print(f"Cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        settings = LeanSettings.from_env()
    except ConfigurationError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    secret = None
    if not args.unsigned:
        if settings.webhook_secret:
            secret = settings.webhook_secret.get_secret_value()
        elif not settings.has_credentials:
            # A default `make run` (embedded sandbox) verifies with the secret kept in data/.
            secret = embedded_webhook_secret()
        else:
            print("LEAN_WEBHOOK_SECRET is not set: sending unsigned.", file=sys.stderr)
    try:
        response = replay(body, args.url, secret)
    except requests.RequestException as exc:
        print(f"Could not reach {args.url}: {type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"{response.status_code} {response.text.strip()}")
    return 0 if response.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
