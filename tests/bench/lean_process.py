"""A sandbox with a wide customer in a process of its own, as Lean is to the console (bench only).

    python -m tests.bench.lean_process wide_customer

An embedded sandbox answers in the console's own process: its request handling takes the same
interpreter lock as the console's client, so a customer view's 29 calls queue for one core's worth
of Python on both sides. Lean answers from elsewhere. This process starts a sandbox, gives it the
wide customer of `tests.wide_customer`, and prints one JSON line: the sandbox's environment for
the console and the customer's ids. It then reads commands, one JSON line each, and answers each
with one JSON line:

    {"do": "faults", "latency_ms": 50}               -> {"ok": true}
    {"do": "requests"}                               -> {"requests": 1234}
    {"do": "add_to_balance", "entity_id": "…", "amount": "777.00"} -> {"balance": "1777.00"}

It stops when its input closes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from typing import Any

from lean_api import LeanClient, LeanSettings
from sandbox.app import SandboxConfig
from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer
from tests.wide_customer import add_wide_customer


def serve(app_user_id: str) -> None:
    """Start, create the customer, announce, then answer commands until stdin closes."""
    sandbox = SandboxServer(SandboxConfig()).start()
    env = sandbox.env()
    client = LeanClient(LeanSettings.from_env(env, dotenv_path=None))
    customer = add_wide_customer(sandbox, client, app_user_id)
    client.close()
    entities = sandbox.state.data.entities_by_customer[customer.customer_id]
    announce = {
        "env": env,
        "customer_id": customer.customer_id,
        "app_user_id": customer.app_user_id,
        "entity_ids": [e.entity_id for e in entities],
    }
    print(json.dumps(announce), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        answer: dict[str, Any]
        if command["do"] == "faults":
            sandbox.faults.set(FaultConfig(latency_ms=int(command["latency_ms"])))
            answer = {"ok": True}
        elif command["do"] == "requests":
            answer = {"requests": sandbox.state.stats["requests"]}
        elif command["do"] == "add_to_balance":
            with sandbox.state.lock:
                entity = next(e for e in entities if e.entity_id == command["entity_id"])
                entity.accounts[0].balance += Decimal(command["amount"])
                answer = {"balance": str(entity.accounts[0].balance)}
        else:
            answer = {"error": f"unknown command {command['do']!r}"}
        print(json.dumps(answer), flush=True)
    sandbox.stop()


class LeanProcess:
    """The console's side: start the process, read its announcement, send it commands."""

    def __init__(self, app_user_id: str) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.lean_process", app_user_id],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        first = self._process.stdout.readline() if self._process.stdout else ""
        if not first:
            self.stop()
            raise RuntimeError("The sandbox process did not start.")
        announced = json.loads(first)
        self.env: dict[str, str] = announced["env"]
        self.customer_id: str = announced["customer_id"]
        self.app_user_id: str = announced["app_user_id"]
        self.entity_ids: list[str] = announced["entity_ids"]

    def ask(self, **command: Any) -> dict[str, Any]:
        """Send one command and return its answer."""
        assert self._process.stdin and self._process.stdout
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()
        return json.loads(self._process.stdout.readline())

    def set_latency(self, latency_ms: int) -> None:
        """Add `latency_ms` to every answer."""
        self.ask(do="faults", latency_ms=latency_ms)

    def requests(self) -> int:
        """How many requests the sandbox has answered."""
        return int(self.ask(do="requests")["requests"])

    def add_to_balance(self, entity_id: str, amount: str) -> str:
        """Change the first account's balance of `entity_id` in Lean's data; the new balance."""
        return str(self.ask(do="add_to_balance", entity_id=entity_id, amount=amount)["balance"])

    def stop(self) -> None:
        """Close its input (it stops) and wait for it."""
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


if __name__ == "__main__":
    serve(sys.argv[1])
