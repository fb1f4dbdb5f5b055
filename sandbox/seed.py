"""Deterministic seed data for the embedded Lean sandbox.

Same `seed` and same `anchor` (the sandbox's "now", by default today's midnight UTC) give the same
data, byte for byte. Consent expiries are relative to the anchor, so "expiring within days" stays
true whenever the sandbox is started.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from lean_api.models import ACCOUNT_DATA_TYPES, PERMISSIONS

# Lean's own vocabulary: the nine data permissions and the per-account data types.
PERMISSION_NAMES = PERMISSIONS
# Which permission each per-account data type needs.
PERMISSION_FOR = {
    "balance": "balance",
    "identity": "identities",
    "transactions": "transactions",
    "beneficiaries": "beneficiaries",
    "direct_debits": "direct_debits",
    "scheduled_payments": "scheduled_payments",
    "standing_orders": "standing_orders",
}

# --------------------------------------------------------------------------------------------
# Banks: identifier, English, Arabic, IBAN bank code, SWIFT, colour, availability, failure profile
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BankProfile:
    """A seeded bank and how reliably each data type refreshes there."""

    identifier: str
    name: str
    arabic_name: str
    iban_code: str
    swift: str
    color: str
    active_data: bool = True
    enabled_data: bool = True
    active_payments: bool = True
    enabled_payments: bool = True
    mock: bool = False
    # Probability that a data type fails at this bank; unsupported types never work there.
    failure_rate: float = 0.04
    unsupported: tuple[str, ...] = ()
    partial_transactions_rate: float = 0.05


BANKS: tuple[BankProfile, ...] = (
    BankProfile("LEA1_SAMAOB_SAU", "Lean Mockbank 1", "البنك التجريبي ١", "01", "MOCKSA01", "#1beb75", mock=True, failure_rate=0.02),
    BankProfile("LEA2_SAMAOB_SAU", "Lean Mockbank 2", "البنك التجريبي ٢", "02", "MOCKSA03", "#0f9d58", mock=True, failure_rate=0.06, unsupported=("scheduled_payments",)),
    BankProfile("RJHI_SAMAOB_SAU", "Al Rajhi Bank", "مصرف الراجحي", "80", "RJHISARI", "#1b3d8f", failure_rate=0.03),
    BankProfile("SNB_SAMAOB_SAU", "Saudi National Bank", "البنك الأهلي السعودي", "10", "NCBKSAJE", "#00843d", failure_rate=0.05, unsupported=("standing_orders",)),
    BankProfile("RIBL_SAMAOB_SAU", "Riyad Bank", "بنك الرياض", "20", "RIBLSARI", "#005eb8", active_data=False, active_payments=False, failure_rate=0.25, partial_transactions_rate=0.2),
    BankProfile("SABB_SAMAOB_SAU", "Saudi Awwal Bank", "البنك السعودي الأول", "45", "SABBSARI", "#db0011", failure_rate=0.08, unsupported=("direct_debits",)),
    BankProfile("ALIN_SAMAOB_SAU", "Alinma Bank", "مصرف الإنماء", "05", "INMASARI", "#8a5a2b", enabled_data=False, failure_rate=0.06),
    BankProfile("ALBI_SAMAOB_SAU", "Bank Albilad", "بنك البلاد", "15", "ALBISARI", "#c8102e", active_payments=False, failure_rate=0.1, unsupported=("scheduled_payments", "standing_orders")),
    BankProfile("BJAZ_SAMAOB_SAU", "Bank AlJazira", "بنك الجزيرة", "60", "BJAZSAJE", "#00a3e0", failure_rate=0.07, partial_transactions_rate=0.12),
    BankProfile("ARNB_SAMAOB_SAU", "Arab National Bank", "البنك العربي الوطني", "30", "ARNBSARI", "#0a6e3c", enabled_data=False, enabled_payments=False, failure_rate=0.05),
)  # fmt: skip

# --------------------------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------------------------

MALE_NAMES = (
    ("Mohammed", "محمد"), ("Abdullah", "عبدالله"), ("Fahad", "فهد"), ("Faisal", "فيصل"),
    ("Khalid", "خالد"), ("Saud", "سعود"), ("Sultan", "سلطان"), ("Turki", "تركي"),
    ("Nasser", "ناصر"), ("Omar", "عمر"), ("Ahmed", "أحمد"), ("Yousef", "يوسف"),
    ("Ibrahim", "إبراهيم"), ("Abdulaziz", "عبدالعزيز"), ("Bandar", "بندر"), ("Majed", "ماجد"),
    ("Saleh", "صالح"), ("Hamad", "حمد"), ("Waleed", "وليد"), ("Rayan", "ريان"),
)  # fmt: skip
FEMALE_NAMES = (
    ("Noura", "نورة"), ("Sara", "سارة"), ("Reem", "ريم"), ("Lama", "لمى"), ("Haya", "هيا"),
    ("Maha", "مها"), ("Amal", "أمل"), ("Fatimah", "فاطمة"), ("Aisha", "عائشة"), ("Hessa", "حصة"),
    ("Lulwa", "لولوة"), ("Dana", "دانة"), ("Jawaher", "جواهر"), ("Nouf", "نوف"),
    ("Ghada", "غادة"), ("Razan", "رزان"), ("Shahad", "شهد"), ("Abeer", "عبير"),
)  # fmt: skip
FAMILY_NAMES = (
    ("Al-Otaibi", "العتيبي"), ("Al-Qahtani", "القحطاني"), ("Al-Ghamdi", "الغامدي"),
    ("Al-Zahrani", "الزهراني"), ("Al-Harbi", "الحربي"), ("Al-Dosari", "الدوسري"),
    ("Al-Shammari", "الشمري"), ("Al-Mutairi", "المطيري"), ("Al-Anazi", "العنزي"),
    ("Al-Subaie", "السبيعي"), ("Al-Shehri", "الشهري"), ("Al-Malki", "المالكي"),
    ("Al-Rashid", "الراشد"), ("Al-Sulaiman", "السليمان"), ("Al-Juhani", "الجهني"),
    ("Al-Yami", "اليامي"), ("Al-Shahrani", "الشهراني"), ("Al-Tamimi", "التميمي"),
    ("Al-Amri", "العمري"), ("Al-Asmari", "الأسمري"),
)  # fmt: skip
# Residents (national ID starting with 2) with their own names.
RESIDENTS = (
    (("Rahul", "راهول"), ("Sharma", "شارما"), "M"), (("Imran", "عمران"), ("Khan", "خان"), "M"),
    (("Maria", "ماريا"), ("Santos", "سانتوس"), "F"), (("Ahmed", "أحمد"), ("Hassan", "حسن"), "M"),
    (("Layla", "ليلى"), ("Haddad", "حداد"), "F"), (("Joseph", "جوزيف"), ("Mathew", "ماثيو"), "M"),
)  # fmt: skip
EMPLOYERS = ("SAUDI ARAMCO", "SABIC", "STC", "MINISTRY OF EDUCATION", "ALMARAI", "ELM CO", "MOH")
CITIES = ("RIYADH", "JEDDAH", "DAMMAM", "KHOBAR", "MAKKAH", "MADINAH", "ABHA", "TABUK")
MERCHANTS = (
    ("PANDA HYPERMARKET", "5411", 60, 900),
    ("TAMIMI MARKETS", "5411", 40, 700),
    ("JARIR BOOKSTORE", "5942", 25, 4500),
    ("HUNGERSTATION", "5814", 25, 180),
    ("JAHEZ", "5814", 20, 150),
    ("CAREEM", "4121", 15, 120),
    ("UBER", "4121", 15, 140),
    ("ALDREES PETROL", "5541", 40, 160),
    ("NAHDI PHARMACY", "5912", 15, 400),
    ("NOON.COM", "5999", 50, 2500),
    ("AMAZON.SA", "5999", 40, 1800),
    ("STARBUCKS", "5814", 18, 60),
    ("EXTRA STORES", "5732", 150, 6000),
    ("IKEA", "5712", 100, 3500),
)
BILLS = (
    ("SADAD - SAUDI ELECTRICITY CO", 150, 1200),
    ("SADAD - STC BILL", 100, 450),
    ("SADAD - NATIONAL WATER CO", 40, 250),
    ("SADAD - MOBILY BILL", 80, 350),
)


@dataclass(frozen=True)
class Person:
    """The human behind a customer, in English and Arabic."""

    first_en: str
    last_en: str
    first_ar: str
    last_ar: str
    gender: str
    national_id: str
    birth_date: date
    email: str
    mobile: str
    city: str

    @property
    def name_en(self) -> str:
        """Full English name."""
        return f"{self.first_en} {self.last_en}"

    @property
    def name_ar(self) -> str:
        """Full Arabic name."""
        return f"{self.first_ar} {self.last_ar}"


@dataclass
class SeedCustomer:
    """A customer as the sandbox stores it."""

    customer_id: str
    app_user_id: str
    person: Person
    created_at: datetime


@dataclass(eq=False)  # hashed by identity: the transaction cache keys on it
class SeedAccount:
    """A bank account behind an entity."""

    account_id: str
    entity_id: str
    sub_type: str
    iban: str
    bban: str
    opening_date: date
    balance: Decimal
    holder: Person
    status: str = "ENABLED"

    @property
    def masked_pan(self) -> str | None:
        """A card account's number as Lean shows it (`************7401`); None for other accounts."""
        if self.sub_type not in CARD_SUB_TYPES:
            return None
        last4 = stable_rng("pan", self.account_id).randint(0, 9999)
        return f"{'*' * 12}{last4:04d}"


# Sub-types that are cards: Lean adds a masked card number beside their IBAN.
CARD_SUB_TYPES = frozenset({"CREDIT", "CHARGE_CARD", "PREPAID"})


def reports_national_id(entity_id: str) -> bool:
    """Some banks list the holder's national ID among a consent's account identifiers.

    Lean's entity examples show it (`NATIONAL_ID`, with a null name) for one bank connection and
    not for another; about a third of the sandbox's connections do it, decided per entity so the
    seed's own random stream is untouched.
    """
    return stable_rng("national-id-scheme", entity_id).random() < 0.35


@dataclass
class SeedConsent:
    """A consent with its window."""

    id: str
    bank_consent_id: str
    status: str
    permissions: dict[str, bool]
    created: datetime
    status_updated: datetime
    expires: datetime
    transactions_from: datetime
    transactions_to: datetime


@dataclass
class SeedRefresh:
    """A refresh: when it started, when it finishes, and the final per-type outcomes."""

    refresh_id: str
    entity_id: str
    customer_id: str
    app_user_id: str
    created_at: datetime
    finishes_at: datetime | None  # None: stuck pending
    entity_statuses: dict[str, str]
    account_statuses: list[dict[str, Any]]


@dataclass
class SeedEntity:
    """A bank connection with its consents, accounts and refreshes."""

    entity_id: str
    customer_id: str
    bank: BankProfile
    created_at: datetime
    permissions: dict[str, bool]
    consents: list[SeedConsent]
    accounts: list[SeedAccount] = field(default_factory=list)
    refreshes: list[SeedRefresh] = field(default_factory=list)

    @property
    def current_consent(self) -> SeedConsent:
        """The newest consent."""
        return max(self.consents, key=lambda c: c.created)


@dataclass
class SandboxData:
    """Everything the sandbox serves."""

    seed: int
    anchor: datetime
    banks: tuple[BankProfile, ...]
    customers: dict[str, SeedCustomer]
    entities: dict[str, SeedEntity]

    def __post_init__(self) -> None:
        self.by_app_user_id = {c.app_user_id: c for c in self.customers.values()}
        self.entities_by_customer: dict[str, list[SeedEntity]] = {}
        self.accounts: dict[str, SeedAccount] = {}
        self.refreshes: dict[str, SeedRefresh] = {}
        for entity in list(self.entities.values()):
            self.add_entity(entity)
        self.banks_by_id = {b.identifier: b for b in self.banks}

    def add_entity(self, entity: SeedEntity) -> None:
        """Index an entity with its accounts and refreshes (seeded, or connected at run time)."""
        self.entities[entity.entity_id] = entity
        self.entities_by_customer.setdefault(entity.customer_id, []).append(entity)
        for account in entity.accounts:
            self.accounts[account.account_id] = account
        for refresh in entity.refreshes:
            self.refreshes[refresh.refresh_id] = refresh


def default_anchor() -> datetime:
    """Today at midnight UTC: the day the sandbox's data is relative to."""
    today = datetime.now(UTC).date()
    return datetime(today.year, today.month, today.day, tzinfo=UTC)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def stable_rng(*parts: object) -> random.Random:
    """A generator seeded from `parts`, the same on every Python and platform."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def saudi_iban(rng: random.Random, bank_code: str) -> tuple[str, str]:
    """A Saudi IBAN with valid check digits, and its BBAN."""
    account = "".join(rng.choice("0123456789") for _ in range(18))
    bban = f"{bank_code}{account}"
    numeric = "".join(str(int(ch, 36)) for ch in f"{bban}SA00")
    check = 98 - int(numeric) % 97
    return f"SA{check:02d}{bban}", bban


def _person(rng: random.Random, index: int) -> Person:
    if rng.random() < 0.12:
        (first_en, first_ar), (last_en, last_ar), gender = rng.choice(RESIDENTS)
        national_id = "2" + "".join(rng.choice("0123456789") for _ in range(9))
    else:
        gender = rng.choice("MF")
        first_en, first_ar = rng.choice(MALE_NAMES if gender == "M" else FEMALE_NAMES)
        last_en, last_ar = rng.choice(FAMILY_NAMES)
        national_id = "1" + "".join(rng.choice("0123456789") for _ in range(9))
    birth = date(1960, 1, 1) + timedelta(days=rng.randint(0, 365 * 43))
    handle = f"{first_en}.{last_en.replace('Al-', '')}{index}".lower()
    domain = rng.choice(("gmail.com", "hotmail.com", "outlook.sa", "icloud.com"))
    mobile = "+9665" + "".join(rng.choice("0123456789") for _ in range(8))
    return Person(
        first_en, last_en, first_ar, last_ar, gender, national_id, birth,
        f"{handle}@{domain}", mobile, rng.choice(CITIES),
    )  # fmt: skip


def _permissions(rng: random.Random) -> dict[str, bool]:
    granted = set(PERMISSION_NAMES) if rng.random() < 0.6 else {
        "identity", "accounts", "balance", "transactions", "identities",
    } | {p for p in ("beneficiaries", "direct_debits", "standing_orders", "scheduled_payments") if rng.random() < 0.5}  # fmt: skip
    return {name: name in granted for name in PERMISSION_NAMES}


# The latest consent's status and days to expiry relative to the anchor, with weights. Only the
# consent words Lean's own examples and notes use (ACTIVE, REVOKED, EXPIRED): the sandbox speaks
# Lean's words; the console's handling of words it has never seen is tested on constructed data.
CONSENT_OUTCOMES = (
    ("ACTIVE", (30, 360), 55),
    ("ACTIVE_EXPIRING", (1, 6), 10),
    ("EXPIRED", (-120, -1), 13),
    ("REVOKED", (20, 300), 22),
)


def new_active_consent(
    rng: random.Random, permissions: dict[str, bool], now: datetime
) -> SeedConsent:
    """A consent granted `now` for a year, covering a year of transaction history."""
    year = timedelta(days=365)
    return SeedConsent(
        str(uuid.UUID(int=rng.getrandbits(128), version=4)), str(rng.randint(100000, 999999)),
        "ACTIVE", dict(permissions), now, now, now + year, now - year, now + year,
    )  # fmt: skip


def _consents(
    rng: random.Random, anchor: datetime, created: datetime, permissions: dict[str, bool]
) -> list[SeedConsent]:
    outcome, (lo, hi), _ = rng.choices(CONSENT_OUTCOMES, weights=[w for *_, w in CONSENT_OUTCOMES])[
        0
    ]
    consents: list[SeedConsent] = []
    start = created
    # Some customers reconnected: an older consent that lapsed, then the current one.
    if rng.random() < 0.18 and (anchor - created).days > 60:
        old_expiry = created + timedelta(days=rng.randint(20, 45))
        consents.append(
            SeedConsent(
                _uuid(rng), str(rng.randint(100000, 999999)), rng.choice(("EXPIRED", "REVOKED")),
                dict(permissions), created, old_expiry, old_expiry,
                created - timedelta(days=365), old_expiry,
            )
        )  # fmt: skip
        start = old_expiry + timedelta(hours=rng.randint(1, 200))
    expires = anchor + timedelta(days=rng.randint(lo, hi), hours=rng.randint(0, 23))
    if expires <= start:
        # The consent started after the planned expiry: keep the outcome (past or future) true.
        expires = (
            start + (anchor - start) * rng.uniform(0.3, 0.9)
            if outcome == "EXPIRED"
            else start + timedelta(days=rng.randint(10, 40))
        )
    status = "ACTIVE" if outcome == "ACTIVE_EXPIRING" else outcome
    if status == "EXPIRED":
        status_updated = expires
    elif status in ("REVOKED", "SUSPENDED"):
        status_updated = start + (min(anchor, expires) - start) * rng.uniform(0.3, 0.95)
    else:
        status_updated = start
    history_months = rng.choice((3, 6, 12, 12, 12, 24))
    consents.append(
        SeedConsent(
            _uuid(rng), str(rng.randint(100000, 999999)), status, dict(permissions), start,
            status_updated, expires, start - timedelta(days=30 * history_months), expires,
        )
    )  # fmt: skip
    return consents


def _accounts(
    rng: random.Random, entity_id: str, bank: BankProfile, person: Person, created: datetime
) -> list[SeedAccount]:
    # Lean's account sub-types (its accounts example: CURRENT, SAVINGS, CREDIT, ...).
    kinds = ["CURRENT"] + [k for k in ("SAVINGS", "CREDIT") if rng.random() < 0.45]
    accounts = []
    for kind in kinds:
        iban, bban = saudi_iban(rng, bank.iban_code)
        if kind == "CURRENT":
            balance = Decimal(rng.lognormvariate(9.3, 1.0))
        elif kind == "SAVINGS":
            balance = Decimal(rng.lognormvariate(10.8, 1.1))
        else:
            balance = -Decimal(rng.uniform(0, 18000))
        opened = (created - timedelta(days=rng.randint(200, 4000))).date()
        accounts.append(
            SeedAccount(
                _uuid(rng), entity_id, kind, iban, bban, opened,
                balance.quantize(Decimal("0.01"), ROUND_HALF_UP), person,
                "DISABLED" if rng.random() < 0.03 else "ENABLED",
            )
        )  # fmt: skip
    return accounts


def refresh_outcome(
    rng: random.Random, entity: SeedEntity, at: datetime
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Final statuses of a refresh started at `at`: entity-level and per account."""
    bank = entity.bank
    consent = entity.current_consent
    entity_level = {
        "accounts": "FAILED" if rng.random() < bank.failure_rate / 3 else "SUCCESS",
        "identity": "FAILED" if rng.random() < bank.failure_rate else "SUCCESS",
    }
    per_account = []
    for account in entity.accounts:
        row: dict[str, Any] = {"account_id": account.account_id}
        for data_type in ACCOUNT_DATA_TYPES:
            if not entity.permissions.get(PERMISSION_FOR[data_type]):
                continue
            if data_type in bank.unsupported:
                row[data_type] = "UNSUPPORTED"
            elif rng.random() < bank.failure_rate:
                row[data_type] = "FAILED"
            elif data_type == "transactions" and rng.random() < bank.partial_transactions_rate:
                row[data_type] = "PARTIAL"
            else:
                row[data_type] = "SUCCESS"
        if "transactions" in row:
            window_start = max(consent.transactions_from, at - timedelta(days=365 * 2))
            if row["transactions"] == "PARTIAL":
                window_start = at - timedelta(days=30 * rng.randint(1, 5))
            months = max(0, (at.year - window_start.year) * 12 + at.month - window_start.month - 1)
            availability: dict[str, Any] = {
                "start": window_start.date().isoformat(),
                "end": at.date().isoformat(),
            }
            if rng.random() < 0.85:  # complete_months is sometimes missing in real payloads
                availability["complete_months"] = months
            row["transaction_availability"] = availability
        per_account.append(row)
    return entity_level, per_account


def _refreshes(
    rng: random.Random, entity: SeedEntity, customer: SeedCustomer, anchor: datetime
) -> list[SeedRefresh]:
    consent = entity.current_consent
    # Refreshes run only while the consent allowed them.
    last_possible = min(
        anchor, consent.status_updated if consent.status != "ACTIVE" else anchor, consent.expires
    )
    first_possible = max(entity.created_at, anchor - timedelta(days=30))
    if last_possible <= first_possible:
        return []
    refreshes = []
    count = rng.randint(1, 5)
    span = (last_possible - first_possible).total_seconds()
    starts = sorted(first_possible + timedelta(seconds=rng.uniform(0, span)) for _ in range(count))
    for i, started in enumerate(starts):
        started = started.replace(microsecond=rng.randint(0, 999) * 1000)
        stuck = i == count - 1 and rng.random() < 0.04
        entity_level, per_account = refresh_outcome(rng, entity, started)
        refreshes.append(
            SeedRefresh(
                _uuid(rng), entity.entity_id, customer.customer_id, customer.app_user_id, started,
                None if stuck else started + timedelta(seconds=rng.uniform(4, 90)),
                entity_level, per_account,
            )
        )  # fmt: skip
    return refreshes


def generate(
    seed: int = 2026, anchor: datetime | None = None, customers: int = 220, min_entities: int = 300
) -> SandboxData:
    """Build the sandbox's whole world from `seed`, relative to `anchor`."""
    anchor = anchor or default_anchor()
    rng = random.Random(seed)
    seeded_customers: dict[str, SeedCustomer] = {}
    for index in range(1, customers + 1):
        person = _person(rng, index)
        created = anchor - timedelta(days=rng.randint(5, 540), seconds=rng.randint(0, 86399))
        app_user_id = rng.choice(("prod_usr_{n}", "usr_{n}", "app-user-{n}")).format(n=1000 + index)
        customer = SeedCustomer(_uuid(rng), app_user_id, person, created)
        seeded_customers[customer.customer_id] = customer

    entities: dict[str, SeedEntity] = {}
    customer_list = list(seeded_customers.values())
    plan: list[SeedCustomer] = []
    for customer in customer_list:
        plan.extend([customer] * rng.choices((0, 1, 2, 3), weights=(10, 50, 30, 10))[0])
    while len(plan) < min_entities:
        plan.append(rng.choice(customer_list))
    for customer in plan:
        bank = rng.choices(BANKS, weights=(6, 4, 18, 16, 8, 9, 7, 6, 6, 5))[0]
        created = customer.created_at + timedelta(
            seconds=rng.uniform(
                60, max(120.0, (anchor - customer.created_at).total_seconds() - 3600)
            )
        )
        permissions = _permissions(rng)
        entity_id = _uuid(rng)
        entity = SeedEntity(
            entity_id, customer.customer_id, bank, created, permissions,
            _consents(rng, anchor, created, permissions),
        )  # fmt: skip
        entity.accounts = _accounts(rng, entity_id, bank, customer.person, created)
        entity.refreshes = _refreshes(rng, entity, customer, anchor)
        entities[entity_id] = entity
    return SandboxData(seed, anchor, BANKS, seeded_customers, entities)


# --------------------------------------------------------------------------------------------
# Per-account records, generated on demand (transactions would be ~100k rows up front)
# --------------------------------------------------------------------------------------------


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)


@lru_cache(maxsize=256)
def transactions_for(
    account: SeedAccount, start: datetime, end: datetime
) -> tuple[dict[str, Any], ...]:
    """The account's transactions between two instants, newest first (deterministic)."""
    rng = stable_rng("transactions", account.account_id)
    salary = _money(rng.uniform(7000, 42000))
    employer = rng.choice(EMPLOYERS)
    rent = _money(rng.uniform(2000, 7000)) if rng.random() < 0.5 else None
    rows: list[dict[str, Any]] = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    running = account.balance
    while day < end:
        day_rng = stable_rng("tx-day", account.account_id, day.date().isoformat())
        events: list[tuple[str, str, Decimal, str]] = []
        if account.sub_type == "CURRENT" and day.day == 27:
            events.append(("CREDIT", f"SALARY - {employer}", salary, "SALARY"))
        if account.sub_type == "CURRENT" and day.day == 10 and day_rng.random() < 0.3:
            events.append(
                (
                    "CREDIT",
                    "GOVT-PMT:- CITIZEN ACCOUNT PROGRAM",
                    _money(day_rng.uniform(300, 2100)),
                    "GOVERNMENT",
                )
            )
        if rent is not None and day.day == 1 and account.sub_type == "CURRENT":
            events.append(("DEBIT", "RENT - EJAR PLATFORM", rent, "RENT"))
        if account.sub_type == "SAVINGS":
            if day.day == 28:
                events.append(
                    (
                        "CREDIT",
                        "TRANSFER FROM CURRENT ACCOUNT",
                        _money(day_rng.uniform(500, 5000)),
                        "TRANSFER",
                    )
                )
        else:
            for _ in range(day_rng.choices((0, 1, 2, 3), weights=(35, 35, 20, 10))[0]):
                merchant, mcc, lo, hi = day_rng.choice(MERCHANTS)
                city = day_rng.choice(CITIES)
                events.append(
                    (
                        "DEBIT",
                        f"POS PURCHASE - {merchant} {city} MCC{mcc}",
                        _money(day_rng.uniform(lo, hi)),
                        "PURCHASE",
                    )
                )
            if day_rng.random() < 0.06:
                bill, lo, hi = day_rng.choice(BILLS)
                events.append(("DEBIT", bill, _money(day_rng.uniform(lo, hi)), "BILL_PAYMENTS"))
            if day_rng.random() < 0.04:
                events.append(
                    (
                        "DEBIT",
                        "ATM WITHDRAWAL",
                        _money(day_rng.choice((200, 500, 1000, 1500))),
                        "CASH_WITHDRAWAL",
                    )
                )
        for n, (indicator, info, amount, kind) in enumerate(events):
            moment = day + timedelta(hours=day_rng.randint(6, 23), minutes=day_rng.randint(0, 59))
            if moment >= end:
                continue
            rows.append(
                {
                    "transaction_id": str(
                        uuid.UUID(
                            int=stable_rng("tx", account.account_id, day.date(), n).getrandbits(
                                128
                            ),
                            version=4,
                        )
                    ),
                    "credit_debit_indicator": indicator,
                    "amount": amount,
                    "transaction_information": info,
                    "transaction_type": kind,
                    "booking_date_time": moment,
                    "status": "BOOKED" if moment < end - timedelta(days=1) else "PENDING",
                }
            )
        day += timedelta(days=1)
    rows.sort(key=lambda r: r["booking_date_time"], reverse=True)
    # Running balances backwards from today's balance, so the history adds up.
    for row in rows:
        row["balance_after"] = running
        running = (
            running - row["amount"]
            if row["credit_debit_indicator"] == "CREDIT"
            else running + row["amount"]
        )
    return tuple(rows)


def _agent(bank: BankProfile, with_address: bool = False) -> dict[str, Any]:
    """A bank as a payment's agent, the way Lean's records name it (`KSAOB.<code>`)."""
    agent: dict[str, Any] = {"scheme_name": "BICFI", "identification": f"KSAOB.{bank.swift[:4]}"}
    if with_address:
        agent["name"] = bank.name
        agent["postal_address"] = {
            "address_line": "King Fahd Road, Riyadh",
            "address_type": "BUSINESS",
            "building_number": "8001",
            "country": "Saudi Arabia",
            "department": None,
            "post_code": "11586",
            "street_name": None,
            "sub_department": None,
            "town_name": "Riyadh",
            "country_sub_division": None,
        }
    return agent


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def beneficiaries_for(account: SeedAccount) -> list[dict[str, Any]]:
    """Saved beneficiaries of an account, with the keys of Lean's beneficiaries example."""
    rng = stable_rng("beneficiaries", account.account_id)
    rows = []
    for n in range(rng.randint(0, 4)):
        (first, _), (last, _) = rng.choice(MALE_NAMES + FEMALE_NAMES), rng.choice(FAMILY_NAMES)
        bank = rng.choice(BANKS)
        iban, _ = saudi_iban(rng, bank.iban_code)
        rows.append(
            {
                "account_holder_name": f"{first} {last}",
                "account_holder_short_name": first,
                "beneficiary_id": str(100000 + rng.randint(0, 899999)),
                # Lean's examples know only OTHER here.
                "beneficiary_type": "OTHER",
                "creditor_agent": _agent(bank, with_address=True),
                "creditor_account": {
                    "scheme_name": "IBAN",
                    "identification": iban,
                    "name": f"{first} {last}",
                },
                "reference": f"BEN-{n + 1}",
                "supplementary_data": None,
                "regional_data": None,
            }
        )
    return rows


def direct_debits_for(account: SeedAccount) -> list[dict[str, Any]]:
    """Direct debit mandates of an account."""
    rng = stable_rng("direct-debits", account.account_id)
    rows = []
    for _ in range(rng.randint(0, 2)):
        paid = _midnight(account.opening_date) + timedelta(days=rng.randint(30, 900))
        rows.append(
            {
                "direct_debit_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "status_code": rng.choice(("ACTIVE", "ACTIVE", "INACTIVE")),
                "frequency": rng.choice(("MONTHLY", "MONTHLY", "HALF_YEARLY")),
                "mandate_identification": f"MND{rng.randint(10**7, 10**8 - 1)}",
                "name": rng.choice(("TAMARA", "TABBY", "BUPA ARABIA", "TAWUNIYA INSURANCE")),
                "previous_payment_date_time": paid,
                "previous_payment_amount": {
                    "currency": "SAR",
                    "amount": _money(rng.uniform(100, 1500)),
                },
                "regional_data": None,
            }
        )
    return rows


def standing_orders_for(account: SeedAccount) -> list[dict[str, Any]]:
    """Standing orders of an account (monthly, so Lean's `OTHER` frequency with an interval)."""
    rng = stable_rng("standing-orders", account.account_id)
    rows = []
    for _ in range(rng.randint(0, 2)):
        first = _midnight(account.opening_date) + timedelta(days=rng.randint(10, 300), hours=9)
        payments = rng.choice((12, 24, 36))
        amount = {"currency": "SAR", "amount": _money(rng.uniform(300, 5000))}
        bank = rng.choice(BANKS)
        iban, _ = saudi_iban(rng, bank.iban_code)
        rows.append(
            {
                "standing_order_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "standing_order_status_code": "ACTIVE",
                "first_payment_date_time": first,
                "last_payment_date_time": first + timedelta(days=30 * (payments // 2)),
                "next_payment_date_time": first + timedelta(days=30 * (payments // 2 + 1)),
                "final_payment_date_time": first + timedelta(days=30 * (payments - 1)),
                "frequency": {"frequency_type": "OTHER", "interval": f"IntervalDay:{30}"},
                "number_of_payments": payments,
                "reference": None,
                "standing_order_type": "LOCAL_BANK_TRANSFER",
                "purpose": rng.choice(("FAMILY SUPPORT", "SAVINGS", "RENT")),
                "first_payment_amount": amount,
                "last_payment_amount": amount,
                "next_payment_amount": amount,
                "final_payment_amount": amount,
                "creditor_agent": _agent(bank),
                "creditor_account": {"scheme_name": "IBAN", "identification": iban, "name": None},
                "regional_data": None,
            }
        )
    return rows


def scheduled_payments_for(account: SeedAccount) -> list[dict[str, Any]]:
    """Scheduled payments of an account."""
    rng = stable_rng("scheduled-payments", account.account_id)
    rows = []
    for _ in range(rng.randint(0, 2)):
        bank = rng.choice(BANKS)
        iban, _ = saudi_iban(rng, bank.iban_code)
        when = _midnight(account.opening_date) + timedelta(days=rng.randint(30, 1200))
        rows.append(
            {
                "scheduled_payment_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "scheduled_type": rng.choice(("EXECUTION", "ARRIVAL")),
                "scheduled_payment_date_time": when,
                "debtor_reference": f"REF{rng.randint(10**6, 10**7 - 1)}",
                "reference": rng.choice(("SCHOOL FEES", "CAR INSTALMENT", "GYM", None)),
                "instructed_amount": {"currency": "SAR", "amount": _money(rng.uniform(100, 3000))},
                "creditor_agent": _agent(bank),
                "creditor_account": {"scheme_name": "IBAN", "identification": iban, "name": None},
                "regional_data": None,
            }
        )
    return rows
