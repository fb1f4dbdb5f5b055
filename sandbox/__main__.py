"""`python -m sandbox --port N`: run the Lean sandbox on its own."""

from __future__ import annotations

import argparse
import os
import signal
import threading

from sandbox.app import SandboxConfig
from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, start the sandbox, print how to point the console at it, wait."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8601)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--client-id", default=SandboxConfig.client_id)
    parser.add_argument("--client-secret", default=os.environ.get("LEAN_SANDBOX_CLIENT_SECRET"))
    parser.add_argument("--token-ttl", type=int, default=3599)
    parser.add_argument("--refresh-seconds", type=float, default=8.0)
    parser.add_argument(
        "--faults",
        default=os.environ.get("LEAN_SANDBOX_FAULTS", ""),
        help="e.g. 'latency_ms=300,error_rate=0.2,error_code=INTERNAL_SERVER_ERROR'",
    )
    args = parser.parse_args(argv)
    config = SandboxConfig(
        client_id=args.client_id,
        token_ttl=args.token_ttl,
        refresh_seconds=args.refresh_seconds,
        seed=args.seed,
        faults=FaultConfig.parse(args.faults),
    )
    if args.client_secret:
        config.client_secret = args.client_secret
    # Handlers first: a stop that arrives as soon as the server answers still ends cleanly.
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = SandboxServer(config, host=args.host, port=args.port).start()
    state = server.state
    lines = [
        f"Lean sandbox on {server.url}: {len(state.data.customers)} customers, "
        f"{len(state.data.entities)} entities, {len(state.data.banks)} banks (seed {args.seed}).",
        "Point the console at it with:",
        *(f"  export {key}={value}" for key, value in server.env().items()),
    ]
    print("\n".join(lines), flush=True)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
