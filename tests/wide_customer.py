"""A customer with many bank connections and accounts, made in a running sandbox (the seed has none
so wide: its customers hold up to three connections of up to three accounts).

The customer is created through the sandbox's own endpoint, like any customer; the connections are
added to its data the way `/_sandbox/link` adds one (a fresh ACTIVE consent, accounts held by the
customer), with exactly `accounts` accounts each and deterministic ids.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from lean_api import LeanClient
from lean_api.models import Customer
from sandbox import seed as seedlib
from sandbox.server import SandboxServer

SUB_TYPES = ("CURRENT", "SAVINGS", "CREDIT", "CURRENT")


def add_wide_customer(
    sandbox: SandboxServer,
    client: LeanClient,
    app_user_id: str,
    *,
    entities: int = 5,
    accounts: int = 4,
) -> Customer:
    """Create `app_user_id` in the sandbox with `entities` ACTIVE connections of `accounts` each."""
    customer = client.create_customer(app_user_id)
    state = sandbox.state
    rng = seedlib.stable_rng("wide-customer", app_user_id)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    with state.lock:
        seeded = state.data.customers[customer.customer_id]
        for index in range(entities):
            bank = seedlib.BANKS[index % len(seedlib.BANKS)]
            permissions = dict.fromkeys(seedlib.PERMISSION_NAMES, True)
            consent = seedlib.new_active_consent(rng, permissions, now - timedelta(hours=index))
            entity = seedlib.SeedEntity(
                str(seedlib.uuid.UUID(int=rng.getrandbits(128), version=4)),
                customer.customer_id,
                bank,
                now - timedelta(hours=index),
                permissions,
                [consent],
            )
            for number in range(accounts):
                iban, bban = seedlib.saudi_iban(rng, bank.iban_code)
                entity.accounts.append(
                    seedlib.SeedAccount(
                        str(seedlib.uuid.UUID(int=rng.getrandbits(128), version=4)),
                        entity.entity_id,
                        SUB_TYPES[number % len(SUB_TYPES)],
                        iban,
                        bban,
                        (now - timedelta(days=400 + number)).date(),
                        Decimal(1000 * (number + 1) + index).quantize(Decimal("0.01")),
                        seeded.person,
                    )
                )
            state.data.add_entity(entity)
    return customer
