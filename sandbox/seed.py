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
CITIES = ("RIYADH", "JEDDAH", "DAMMAM", "KHOBAR", "MAKKAH", "MADINAH", "ABHA", "TABUK")


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


def with_check_digit(first_nine: str, rng: random.Random) -> str:
    """A national ID or iqama number whose tenth digit is its Luhn check digit, as real ones are.

    `rng` still draws the digit it drew before check digits existed, so everything seeded after
    the ID stays as it was.
    """
    rng.choice("0123456789")
    total = 0
    for position, char in enumerate(first_nine):
        digit = int(char)
        if position % 2 == 0:  # from the left, the 1st, 3rd, ... digits are doubled
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return first_nine + str((10 - total % 10) % 10)


def _person(rng: random.Random, index: int) -> Person:
    if rng.random() < 0.12:
        (first_en, first_ar), (last_en, last_ar), gender = rng.choice(RESIDENTS)
        national_id = with_check_digit(
            "2" + "".join(rng.choice("0123456789") for _ in range(8)), rng
        )
    else:
        gender = rng.choice("MF")
        first_en, first_ar = rng.choice(MALE_NAMES if gender == "M" else FEMALE_NAMES)
        last_en, last_ar = rng.choice(FAMILY_NAMES)
        national_id = with_check_digit(
            "1" + "".join(rng.choice("0123456789") for _ in range(8)), rng
        )
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
            # A month of salary or more sits in a current account, so its history stays above zero.
            balance = Decimal(rng.lognormvariate(9.3, 1.0)) + 6000
        elif kind == "SAVINGS":
            balance = Decimal(rng.lognormvariate(10.8, 1.1))
        else:
            balance = -Decimal(rng.uniform(500, 18000))
        opened = (created - timedelta(days=rng.randint(200, 4000))).date()
        accounts.append(
            SeedAccount(
                _uuid(rng), entity_id, kind, iban, bban, opened,
                balance.quantize(Decimal("0.01"), ROUND_HALF_UP), person,
                "DISABLED" if rng.random() < 0.03 else "ENABLED",
            )
        )  # fmt: skip
    return accounts


def new_connection(
    rng: random.Random,
    customer: SeedCustomer,
    bank: BankProfile,
    consent: SeedConsent,
    now: datetime,
) -> SeedEntity:
    """A bank connection made `now` through Link: the consent the customer gave, and the
    accounts the bank holds for them (the same generator as the seed's own connections)."""
    entity_id = _uuid(rng)
    entity = SeedEntity(
        entity_id, customer.customer_id, bank, now, dict(consent.permissions), [consent]
    )
    entity.accounts = _accounts(rng, entity_id, bank, customer.person, now)
    return entity


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

EMPLOYERS = (
    ("SAUDI ARAMCO", "أرامكو السعودية"), ("SABIC", "سابك"), ("STC", "الاتصالات السعودية"),
    ("MINISTRY OF EDUCATION", "وزارة التعليم"), ("ALMARAI", "المراعي"), ("ELM CO", "شركة علم"),
    ("MINISTRY OF HEALTH", "وزارة الصحة"), ("SAUDI ELECTRICITY CO", "الشركة السعودية للكهرباء"),
)  # fmt: skip


@dataclass(frozen=True)
class Merchant:
    """A Saudi merchant: names, its card scheme category (MCC) and a typical basket in SAR."""

    name: str
    arabic_name: str
    mcc: str
    low: float
    high: float
    online: bool = False
    weight: int = 10


MERCHANTS = (
    Merchant("PANDA HYPERMARKET", "بنده", "5411", 60, 900, weight=14),
    Merchant("TAMIMI MARKETS", "أسواق التميمي", "5411", 40, 700),
    Merchant("OTHAIM MARKETS", "أسواق العثيم", "5411", 30, 500),
    Merchant("DANUBE", "الدانوب", "5411", 50, 800, weight=6),
    Merchant("ALBAIK", "البيك", "5814", 20, 90),
    Merchant("KUDU", "كودو", "5814", 25, 110, weight=6),
    Merchant("STARBUCKS", "ستاربكس", "5814", 18, 60, weight=8),
    Merchant("HUNGERSTATION", "هنقرستيشن", "5814", 25, 180, online=True, weight=9),
    Merchant("JAHEZ", "جاهز", "5814", 20, 150, online=True, weight=9),
    Merchant("CAREEM", "كريم", "4121", 15, 120, online=True, weight=6),
    Merchant("UBER", "أوبر", "4121", 15, 140, online=True, weight=4),
    Merchant("ALDREES PETROL", "الدريس للبترول", "5541", 40, 160),
    Merchant("NAHDI PHARMACY", "صيدلية النهدي", "5912", 15, 400, weight=5),
    Merchant("AL DAWAA PHARMACY", "صيدليات الدواء", "5912", 15, 300, weight=3),
    Merchant("JARIR BOOKSTORE", "مكتبة جرير", "5942", 25, 2500, weight=2),
    Merchant("EXTRA STORES", "اكسترا", "5732", 150, 4000, weight=1),
    Merchant("IKEA", "ايكيا", "5712", 100, 2500, weight=1),
    Merchant("NOON.COM", "نون", "5999", 50, 1500, online=True, weight=4),
    Merchant("AMAZON.SA", "أمازون", "5999", 40, 1200, online=True, weight=4),
    Merchant("CENTREPOINT", "سنتربوينت", "5651", 80, 600, weight=3),
)
# SADAD billers: English, Arabic, typical bill in SAR.
BILLERS = (
    ("SAUDI ELECTRICITY CO", "الشركة السعودية للكهرباء", 150, 1200),
    ("STC", "الاتصالات السعودية", 100, 450),
    ("NATIONAL WATER CO", "شركة المياه الوطنية", 40, 250),
    ("MOBILY", "موبايلي", 80, 350),
)
# Where each bank's head office is (building, street, district, post code, town, P.O. box):
# Lean names a payment's agent with its postal address.
BANK_ADDRESSES = {
    "LEA1_SAMAOB_SAU": ("5423", "Al Hawi Street", "Hiteen District", "13516", "Riyadh", "1000"),
    "LEA2_SAMAOB_SAU": ("5423", "Al Hawi Street", "Hiteen District", "13516", "Riyadh", "2000"),
    "RJHI_SAMAOB_SAU": ("8467", "King Fahd Road", "Al Muruj District", "12263", "Riyadh", "28"),
    "SNB_SAMAOB_SAU": ("3208", "King Abdulaziz Road", "Al Aqiq District", "13519", "Riyadh", "3555"),
    "RIBL_SAMAOB_SAU": ("3226", "Al Maather Street", "Al Murabba District", "12731", "Riyadh", "22622"),
    "SABB_SAMAOB_SAU": ("7267", "Olaya Street", "Al Murooj District", "12283", "Riyadh", "9084"),
    "ALIN_SAMAOB_SAU": ("8121", "King Fahd Road", "Al Olaya District", "12214", "Riyadh", "66674"),
    "ALBI_SAMAOB_SAU": ("3952", "Salah Al Din Street", "Al Malaz District", "12629", "Riyadh", "140"),
    "BJAZ_SAMAOB_SAU": ("7670", "King Abdulaziz Road", "Al Nahdah District", "23523", "Jeddah", "6277"),
    "ARNB_SAMAOB_SAU": ("7219", "King Faisal Street", "Al Murabba District", "11564", "Riyadh", "56921"),
}  # fmt: skip
# A bank abroad, for remittances to the UAE (Lean's example sends them to AE IBANs in AED).
FOREIGN_BANK = ("EBILAEAD", "Emirates NBD", "Baniyas Road", "Deira", "Dubai", "777")
SAR_TO_AED = 0.9793
CARD_SUB_TYPES_SPEND = CARD_SUB_TYPES | {"EMONEY"}
_MEAN_BASKET = sum(m.weight * (m.low + m.high) / 2 for m in MERCHANTS) / sum(
    m.weight for m in MERCHANTS
)
_PURCHASES_PER_DAY = 1.05  # the weights below: 0, 1, 2 or 3 purchases a day


def money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def bank_of(account: SeedAccount) -> BankProfile:
    """The bank holding an account (its BBAN starts with the bank's code)."""
    return next((b for b in BANKS if b.iban_code == account.bban[:2]), BANKS[0])


def foreign_iban(rng: random.Random) -> str:
    """A UAE IBAN (23 characters) with valid check digits."""
    bban = "".join(rng.choice("0123456789") for _ in range(19))
    numeric = "".join(str(int(ch, 36)) for ch in f"{bban}AE00")
    return f"AE{98 - int(numeric) % 97:02d}{bban}"


@dataclass(frozen=True)
class Counterparty:
    """The other side of a transfer: who, which account, which bank (None: the UAE bank)."""

    name: str
    iban: str
    bank: BankProfile | None


# The government's Citizen Account programme pays support on the 10th of the month.
CITIZEN_ACCOUNT = Counterparty(
    "CITIZEN ACCOUNT PROGRAM", saudi_iban(stable_rng("citizen-account"), "10")[0], BANKS[3]
)


@dataclass(frozen=True)
class CashProfile:
    """How money moves through one account, month after month (seeded per account)."""

    salary: Decimal
    employer: Counterparty
    employer_arabic: str
    citizen_account: bool
    rent: Decimal | None
    landlord: Counterparty
    family: Counterparty  # local transfers
    abroad: Counterparty  # remittances
    remits_monthly: bool
    spend_scale: float
    card_last4: str
    card_scheme: str


def _name(rng: random.Random) -> str:
    (first, _), (last, _) = rng.choice(MALE_NAMES + FEMALE_NAMES), rng.choice(FAMILY_NAMES)
    return f"{first} {last}"


@lru_cache(maxsize=1024)
def cash_profile(account: SeedAccount) -> CashProfile:
    """Salary, rent, habits and counterparties of an account, the same on every call."""
    rng = stable_rng("cash-profile", account.account_id)
    balance = abs(account.balance)
    # A salary no larger than most of the balance keeps the history above zero before payday.
    salary = money(min(rng.uniform(7000, 42000), float(balance) * 0.5 if balance else 7000))
    employer, employer_ar = rng.choice(EMPLOYERS)
    employer_bank = rng.choice(BANKS[2:])
    landlord_bank = rng.choice(BANKS[2:])
    family_bank = rng.choice(BANKS[2:])
    resident = account.holder.national_id.startswith("2")
    if account.sub_type in CARD_SUB_TYPES_SPEND:
        # Card spending follows the card's balance: a month of purchases is about what is owed.
        spend_scale = max(300.0, float(balance) * 0.6) / (30 * _PURCHASES_PER_DAY * _MEAN_BASKET)
    else:
        spend_scale = min(2.0, max(0.5, float(salary) / 16000))
    return CashProfile(
        salary=salary,
        employer=Counterparty(employer, saudi_iban(rng, employer_bank.iban_code)[0], employer_bank),
        employer_arabic=employer_ar,
        citizen_account=rng.random() < 0.3 and not resident,
        rent=money(float(salary) * rng.uniform(0.18, 0.32)) if rng.random() < 0.55 else None,
        landlord=Counterparty(_name(rng), saudi_iban(rng, landlord_bank.iban_code)[0], landlord_bank),
        family=Counterparty(_name(rng), saudi_iban(rng, family_bank.iban_code)[0], family_bank),
        abroad=Counterparty(
            f"{account.holder.first_en} {rng.choice(('Sharma', 'Khan', 'Santos', 'Hassan', 'Haddad'))}",
            foreign_iban(rng), None,
        ),
        remits_monthly=resident,
        spend_scale=spend_scale,
        card_last4=f"{rng.randint(0, 9999):04d}",
        card_scheme=rng.choice(("VISA", "MASTER_CARD", "VISA", "AMERICAN_EXPRESS"))
        if account.sub_type in CARD_SUB_TYPES_SPEND
        else "LOCAL_SCHEME",  # mada
    )  # fmt: skip


def _event(
    kind: str, indicator: str, amount: Decimal, info: str, at: datetime, **details: Any
) -> dict[str, Any]:
    return {
        "kind": kind,
        "credit_debit_indicator": indicator,
        "amount": amount,
        "transaction_information": info,
        "booking_date_time": at,
        "merchant": details.get("merchant"),
        "card": details.get("card"),
        "counterparty": details.get("counterparty"),
        "fx_rate": details.get("fx_rate"),
        "charge": details.get("charge", Decimal("0.00")),
    }


def _at(rng: random.Random, day: datetime, first_hour: int = 7, last_hour: int = 23) -> datetime:
    return day + timedelta(hours=rng.randint(first_hour, last_hour), minutes=rng.randint(0, 59),
                           seconds=rng.randint(0, 59))  # fmt: skip


def _purchase(
    account: SeedAccount, profile: CashProfile, rng: random.Random, day: datetime
) -> dict[str, Any]:
    merchant = rng.choices(MERCHANTS, weights=[m.weight for m in MERCHANTS])[0]
    amount = money(max(5.0, rng.uniform(merchant.low, merchant.high) * profile.spend_scale))
    at = _at(rng, day)
    card = {
        "scheme": profile.card_scheme,
        "authorization": rng.choice(("OTHER", "CONSUMER_DEVICE"))
        if merchant.online
        else rng.choice(("CONTACTLESS", "CONTACTLESS", "CONSUMER_DEVICE", "PIN")),
        "last4": profile.card_last4,
    }
    if merchant.online:
        info = (
            f"Internet Purchase Transaction from account {account.bban[-4:]} {amount} SAR "
            f"from {merchant.name} in {at:%d-%m-%Y %I:%M%p}"
        )
    elif card["authorization"] == "CONSUMER_DEVICE":
        info = (
            f"SAR {amount} تم الشراء مع Apple Pay بواسطة بطاقة {profile.card_last4} "
            f"في {merchant.name} على {at:%d-%m-%Y} في {at:%H:%M}"
        )
    else:
        info = f"شراء من حساب {account.bban[-4:]} {amount} SAR من {merchant.arabic_name} {merchant.name} في {at:%d-%m-%Y %I:%M%p}"
    kind = "ONLINE" if merchant.online else "PURCHASE"
    return _event(kind, "DEBIT", amount, info, at, merchant=merchant, card=card)


def _day_events(account: SeedAccount, profile: CashProfile, day: datetime) -> list[dict[str, Any]]:
    """What happened on one day, apart from the month's balancing transfers."""
    rng = stable_rng("tx-day", account.account_id, day.date().isoformat())
    events: list[dict[str, Any]] = []
    sub_type = account.sub_type
    if sub_type == "SAVINGS":
        return events
    for _ in range(rng.choices((0, 1, 2, 3), weights=(35, 35, 20, 10))[0]):
        events.append(_purchase(account, profile, rng, day))
    if sub_type in CARD_SUB_TYPES_SPEND:
        return events
    scale = profile.spend_scale
    if day.day == 27:  # Saudi payday
        events.append(
            _event(
                "SALARY", "CREDIT", profile.salary,
                f"راتب - {profile.employer_arabic} SALARY - {profile.employer.name} /REF/SAL-{day:%y%m}",
                _at(rng, day, 1, 5), counterparty=profile.employer,
            )
        )  # fmt: skip
    if day.day == 10 and profile.citizen_account:
        events.append(
            _event(
                "GOVERNMENT", "CREDIT", money(rng.uniform(300, 2100)),
                f"GOVT-PMT:- CITIZEN ACCOUNT PROGRAM - MONTHLY SUPPORT {day:%b %Y}".upper(),
                _at(rng, day, 1, 5),
                counterparty=CITIZEN_ACCOUNT,
            )
        )  # fmt: skip
    if day.day == 1 and profile.rent is not None:
        events.append(
            _event(
                "RENT", "DEBIT", profile.rent,
                f"دفع إيجار - منصة إيجار RENT - EJAR PLATFORM /REF/EJR-{day:%y%m}-{account.bban[-4:]}",
                _at(rng, day, 8, 12), counterparty=profile.landlord, charge=Decimal("0.58"),
            )
        )  # fmt: skip
    if rng.random() < 0.06:
        biller, biller_ar, low, high = rng.choice(BILLERS)
        events.append(
            _event(
                "BILL", "DEBIT", money(rng.uniform(low, high) * scale),
                f"سداد فاتورة SADAD - {biller} {biller_ar} /BILL/{rng.randint(10**9, 10**10 - 1)}",
                _at(rng, day),
            )
        )  # fmt: skip
    if rng.random() < 0.04:
        bank = bank_of(account)
        at = _at(rng, day)
        events.append(
            _event(
                "ATM", "DEBIT", money(rng.choice((200, 300, 500, 1000))),
                f"السحب النقدي من {bank.arabic_name} عند {at:%H:%M:%S} قيمة التاريخ {at:%m/%d/%Y}",
                at, card={"scheme": profile.card_scheme, "authorization": "PIN", "last4": profile.card_last4},
            )
        )  # fmt: skip
    if rng.random() < 0.01:
        events.append(
            _event(
                "REFUND", "CREDIT", money(rng.uniform(20, 300)),
                f"استرداد مبلغ REFUND - {rng.choice(MERCHANTS).name}", _at(rng, day),
            )
        )  # fmt: skip
    if rng.random() < 0.01:
        events.append(
            _event(
                "CASH_DEPOSIT", "CREDIT", money(rng.choice((500, 1000, 2000, 3000))),
                f"إيداع نقدي - فرع {account.holder.city.title()} CASH DEPOSIT BRANCH", _at(rng, day, 9, 15),
            )
        )  # fmt: skip
    if rng.random() < 0.03:
        events.append(
            _event(
                "TRANSFER_OUT", "DEBIT", money(rng.uniform(100, 2000) * scale),
                f"حوالة صادرة-سريع SARIE TRANSFER TO {profile.family.name.upper()}",
                _at(rng, day), counterparty=profile.family, charge=Decimal("0.58"),
            )
        )  # fmt: skip
    remit_day = profile.remits_monthly and day.day == 28
    if remit_day or (not profile.remits_monthly and rng.random() < 0.015):
        share = rng.uniform(0.2, 0.35) if remit_day else rng.uniform(0.03, 0.1)
        amount = money(float(profile.salary) * share)
        events.append(
            _event(
                "REMITTANCE", "DEBIT", amount,
                f"تحويل صادر SAR{amount} الرسوم SAR25.00 ضريبة القيمة المضافة SAR3.75 الى {profile.abroad.name}",
                _at(rng, day), counterparty=profile.abroad, fx_rate=SAR_TO_AED, charge=Decimal("28.75"),
            )
        )  # fmt: skip
    return events


def _days_of(year: int, month: int) -> list[datetime]:
    first = datetime(year, month, 1, tzinfo=UTC)
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return [first + timedelta(days=n) for n in range((following - first).days)]


def outflow(event: dict[str, Any]) -> Decimal:
    """What a transaction takes out of its account, charges included (negative for credits)."""
    signed = event["amount"] if event["credit_debit_indicator"] == "DEBIT" else -event["amount"]
    return signed + event["charge"]


# About 45 events a month: a thousand months is a few tens of megabytes at most.
@lru_cache(maxsize=1024)
def _month_events(account: SeedAccount, year: int, month: int) -> tuple[dict[str, Any], ...]:
    """A calendar month of an account's events, with the transfers that balance the month.

    The month is built whole, whatever window is asked for, so a transaction is the same in
    every window that holds it.
    """
    profile = cash_profile(account)
    days = _days_of(year, month)
    events = [e for day in days for e in _day_events(account, profile, day)]
    rng = stable_rng("tx-month", account.account_id, year, month)
    last_day = days[min(27, len(days) - 1)]
    if account.sub_type == "CURRENT":
        # What is left after the month's spending goes to savings, and a little more: the
        # balance drifts gently down, so counted back from today it never runs dry.
        left = -sum((outflow(e) for e in events), Decimal(0)) + profile.salary * Decimal("0.03")
        savings = Counterparty(
            f"{account.holder.name_en} Savings Account",
            saudi_iban(rng, account.bban[:2])[0],
            bank_of(account),
        )
        if left > 100:
            events.append(
                _event(
                    "SAVINGS_OUT", "DEBIT", money(left),
                    "تحويل داخلي إلى حساب التوفير INTERNAL TRANSFER TO SAVINGS",
                    _at(rng, last_day, 9, 21),
                    counterparty=savings,
                )
            )  # fmt: skip
        elif left < -100:
            # A heavy month: the customer tops the account up from savings mid-month.
            events.append(
                _event(
                    "SAVINGS_TOP_UP", "CREDIT", money(-left),
                    "تحويل داخلي من حساب التوفير INTERNAL TRANSFER FROM SAVINGS",
                    _at(rng, days[14], 9, 21), counterparty=savings,
                )
            )  # fmt: skip
    elif account.sub_type == "SAVINGS":
        balance = float(abs(account.balance))
        events.append(
            _event(
                "SAVINGS_IN", "CREDIT", money(balance * rng.uniform(0.005, 0.035)),
                "تحويل داخلي من الحساب الجاري INTERNAL TRANSFER FROM CURRENT ACCOUNT",
                _at(rng, last_day, 9, 21),
            )
        )  # fmt: skip
        if month in (1, 4, 7, 10):
            events.append(
                _event(
                    "PROFIT", "CREDIT", money(balance * rng.uniform(0.003, 0.008)),
                    "أرباح حساب التوفير SAVINGS PROFIT DISTRIBUTION", _at(rng, days[0], 1, 4),
                )
            )  # fmt: skip
    elif account.sub_type in CARD_SUB_TYPES_SPEND:
        previous = (year, month - 1) if month > 1 else (year - 1, 12)
        owed = sum(
            (e["amount"] for day in _days_of(*previous)
             for e in _day_events(account, profile, day)),
            Decimal(0),
        )  # fmt: skip
        if owed > 0:
            events.append(
                _event(
                    "CARD_PAYMENT", "CREDIT", money(owed),
                    "سداد بطاقة ائتمانية CARD PAYMENT - THANK YOU", _at(rng, days[4], 8, 20),
                )
            )  # fmt: skip
    ordered = sorted(events, key=lambda e: e["booking_date_time"])
    for n, event in enumerate(ordered):
        event["transaction_id"] = str(
            uuid.UUID(int=stable_rng("tx", account.account_id, year, month, n).getrandbits(128),
                      version=4)
        )  # fmt: skip
        event["status"] = "BOOKED"
    return tuple(ordered)


@lru_cache(maxsize=256)
def transactions_for(
    account: SeedAccount, start: datetime, end: datetime
) -> tuple[dict[str, Any], ...]:
    """The account's transactions between two instants, newest first (deterministic).

    Each row carries `balance_after`: the running balance, counted back from the account's
    balance at `end`, so the history adds up to today's balance.
    """
    rows: list[dict[str, Any]] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        rows += [
            dict(e) for e in _month_events(account, year, month)
            if start <= e["booking_date_time"] < end
        ]  # fmt: skip
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    rows.sort(key=lambda r: r["booking_date_time"], reverse=True)
    running = account.balance
    for row in rows:
        row["balance_after"] = running
        running += outflow(row)
    return tuple(rows)


def agent_address(bank: BankProfile | None) -> tuple[str, str, str, str, str, str]:
    """A bank's head office: building, street, district, post code, town, P.O. box."""
    if bank is None:
        return FOREIGN_BANK[5], FOREIGN_BANK[2], FOREIGN_BANK[3], "00000", FOREIGN_BANK[4], "777"
    return BANK_ADDRESSES.get(bank.identifier, BANK_ADDRESSES["LEA1_SAMAOB_SAU"])


def _agent(bank: BankProfile, with_address: bool = False) -> dict[str, Any]:
    """A bank as a payment's agent, the way Lean's records name it (`KSAOB.<code>`)."""
    agent: dict[str, Any] = {"scheme_name": "BICFI", "identification": f"KSAOB.{bank.swift[:4]}"}
    if with_address:
        *_, post_code, town, po_box = agent_address(bank)
        agent["name"] = bank.name
        agent["postal_address"] = {
            "address_line": f"P.O. Box {po_box}, {town}",
            "address_type": "BUSINESS",
            "building_number": po_box,
            "country": "Saudi Arabia",
            "department": None,
            "post_code": post_code,
            "street_name": None,
            "sub_department": None,
            "town_name": town,
            "country_sub_division": None,
        }
    return agent


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# Saudi national addresses: the region of each city, some districts and streets, post codes.
REGIONS = {
    "RIYADH": ("Riyadh Region", 11), "JEDDAH": ("Makkah Region", 21), "MAKKAH": ("Makkah Region", 24),
    "MADINAH": ("Madinah Region", 42), "DAMMAM": ("Eastern Province", 32),
    "KHOBAR": ("Eastern Province", 34), "ABHA": ("Asir Region", 62), "TABUK": ("Tabuk Region", 47),
}  # fmt: skip
DISTRICTS = ("Al Olaya", "Al Malqa", "Al Rawdah", "Al Nahdah", "Al Salamah", "Al Faisaliyah",
             "Al Shati", "Al Aziziyah", "Al Hamra", "Al Yasmin")  # fmt: skip
STREETS = ("King Fahd Road", "Prince Sultan Street", "Al Takhassusi Street", "Omar Bin Abdulaziz Street",
           "Al Imam Saud Road", "Prince Mohammed Bin Abdulaziz Road", "Al Madinah Road",
           "Abu Bakr Al Siddiq Road")  # fmt: skip


def national_address(person: Person) -> dict[str, Any]:
    """The person's Saudi national address, in the keys of Lean's identity example."""
    rng = stable_rng("address", person.national_id)
    region, prefix = REGIONS.get(person.city, ("Riyadh Region", 11))
    building, extra = rng.randint(1000, 9999), rng.randint(1000, 9999)
    street, district = rng.choice(STREETS), rng.choice(DISTRICTS)
    post_code = f"{prefix}{rng.randint(100, 999)}"
    town = person.city.title()
    return {
        "address_line": f"{building} {street}, {district}, {town} {post_code} - {extra}",
        "address_type": None,
        "building_type": None,
        "apartment_or_villa_number": None,
        "building_name": None,
        "street": street,
        "area": district,
        "street_address": f"{building} {street}",
        "post_code": post_code,
        "town_name": town,
        "region": region,
        "po_box": None,
        "country": "Saudi Arabia",
    }


def joint_party(account: SeedAccount) -> tuple[Person, str] | None:
    """A second party on about a quarter of accounts: a relative with power of attorney, or
    a beneficiary (the only roles Lean's identities example names), with that role."""
    rng = stable_rng("joint-party", account.account_id)
    if rng.random() >= 0.25:
        return None
    holder = account.holder
    gender = rng.choice("MF")
    first_en, first_ar = rng.choice(MALE_NAMES if gender == "M" else FEMALE_NAMES)
    national_id = "1" + "".join(rng.choice("0123456789") for _ in range(9))
    birth = date(1955, 1, 1) + timedelta(days=rng.randint(0, 365 * 50))
    handle = f"{first_en}.{holder.last_en.replace('Al-', '')}{rng.randint(10, 99)}".lower()
    mobile = "+9665" + "".join(rng.choice("0123456789") for _ in range(8))
    person = Person(
        first_en, holder.last_en, first_ar, holder.last_ar, gender, national_id, birth,
        f"{handle}@gmail.com", mobile, holder.city,
    )  # fmt: skip
    return person, rng.choice(("POWER_OF_ATTORNEY", "BENEFICIARY"))


def beneficiaries_for(account: SeedAccount) -> list[dict[str, Any]]:
    """Saved beneficiaries of an account, with the keys and words of Lean's example.

    `reference` carries Lean's activation words: a newly added beneficiary waits
    (`KSA_OB_NOT_ACTIVATED`, its holder's name not yet confirmed) until the bank activates it.
    """
    rng = stable_rng("beneficiaries", account.account_id)
    rows = []
    for _ in range(rng.randint(0, 4)):
        (first, _), (last, _) = rng.choice(MALE_NAMES + FEMALE_NAMES), rng.choice(FAMILY_NAMES)
        bank = rng.choice(BANKS)
        iban, _ = saudi_iban(rng, bank.iban_code)
        activated = rng.random() < 0.8
        rows.append(
            {
                "account_holder_name": f"{first} {last}" if activated else None,
                "account_holder_short_name": f"{first} {last.replace('Al-', '')}"
                if activated
                else None,
                "beneficiary_id": str(100000 + rng.randint(0, 899999)),
                # Lean's examples know only OTHER here.
                "beneficiary_type": "OTHER",
                "creditor_agent": _agent(bank, with_address=True),
                "creditor_account": {"scheme_name": "IBAN", "identification": iban, "name": first},
                "reference": "KSA_OB_ACTIVATED" if activated else "KSA_OB_NOT_ACTIVATED",
                "supplementary_data": None,
                "regional_data": None,
            }
        )
    return rows


DEBTORS = (
    ("TAMARA", 150, 900, "MONTHLY"), ("TABBY", 120, 800, "MONTHLY"),
    ("BUPA ARABIA", 1500, 6000, "HALF_YEARLY"), ("TAWUNIYA INSURANCE", 900, 4000, "HALF_YEARLY"),
    ("STC PAY", 50, 300, "MONTHLY"), ("SHAHID VIP", 25, 60, "MONTHLY"),
)  # fmt: skip


def direct_debits_for(account: SeedAccount) -> list[dict[str, Any]]:
    """Direct debit mandates of an account (instalments, insurance, subscriptions)."""
    rng = stable_rng("direct-debits", account.account_id)
    rows = []
    for _ in range(rng.randint(0, 2)):
        name, low, high, frequency = rng.choice(DEBTORS)
        paid = _midnight(account.opening_date) + timedelta(days=rng.randint(30, 900))
        rows.append(
            {
                "direct_debit_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "status_code": rng.choice(("ACTIVE", "ACTIVE", "INACTIVE")),
                "frequency": frequency,
                "mandate_identification": f"MND{rng.randint(10**7, 10**8 - 1)}",
                "name": name,
                "previous_payment_date_time": paid,
                "previous_payment_amount": {
                    "currency": "SAR",
                    "amount": money(rng.uniform(low, high)),
                },
                "regional_data": None,
            }
        )
    return rows


# Standing orders: (type, purpose, interval in Lean's `IntervalDay:<n>` / `EveryWorkingDay` words,
# days between payments, amount range).
STANDING_ORDERS = (
    ("LOCAL_BANK_TRANSFER", "FAMILY SUPPORT - دعم الأسرة", "IntervalDay:30", 30, (500, 4000)),
    ("LOCAL_BANK_TRANSFER", "SAVINGS - ادخار", "IntervalDay:14", 14, (200, 1500)),
    ("LOCAL_BANK_TRANSFER", "DRIVER SALARY - راتب السائق", "IntervalDay:30", 30, (1500, 2500)),
    ("CHARITY", "EHSAN DONATION - تبرع منصة إحسان", "IntervalDay:7", 7, (10, 200)),
    ("CHARITY", "SADAQA - صدقة", "EveryWorkingDay", 1, (5, 20)),
)


def standing_orders_for(account: SeedAccount) -> list[dict[str, Any]]:
    """Standing orders of an account, with Lean's frequency object (`OTHER` plus an interval)."""
    rng = stable_rng("standing-orders", account.account_id)
    rows = []
    for _ in range(rng.randint(0, 2)):
        kind, purpose, interval, every, (low, high) = rng.choice(STANDING_ORDERS)
        first = _midnight(account.opening_date) + timedelta(
            days=rng.randint(10, 300), hours=rng.randint(6, 10), minutes=rng.randint(0, 59),
            seconds=rng.randint(0, 59), microseconds=rng.randint(0, 999) * 1000,
        )  # fmt: skip
        payments = rng.choice((12, 24, 36, 52))
        amount = {"currency": "SAR", "amount": money(rng.uniform(low, high))}
        bank = rng.choice(BANKS)
        iban, _ = saudi_iban(rng, bank.iban_code)
        done = rng.randint(1, payments - 1)
        rows.append(
            {
                "standing_order_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "standing_order_status_code": "ACTIVE" if rng.random() < 0.8 else "INACTIVE",
                "first_payment_date_time": first,
                "last_payment_date_time": first + timedelta(days=every * (done - 1)),
                "next_payment_date_time": first + timedelta(days=every * done),
                "final_payment_date_time": first + timedelta(days=every * (payments - 1)),
                "frequency": {"frequency_type": "OTHER", "interval": interval},
                "number_of_payments": payments,
                "reference": None,
                "standing_order_type": kind,
                "purpose": purpose,
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
    """Scheduled payments of an account (one-off payments booked for a later day)."""
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
                "instructed_amount": {"currency": "SAR", "amount": money(rng.uniform(100, 3000))},
                "creditor_agent": _agent(bank),
                "creditor_account": {"scheme_name": "IBAN", "identification": iban, "name": None},
                "regional_data": None,
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# Seeded situations support meets (the triage screen's tests find them here)
# --------------------------------------------------------------------------------------------


def _single_entity_customers(data: SandboxData) -> list[tuple[SeedCustomer, SeedEntity]]:
    """Customers with exactly one bank connection, by customer_id (a stable order)."""
    return [
        (data.customers[customer_id], entities[0])
        for customer_id, entities in sorted(data.entities_by_customer.items())
        if len(entities) == 1 and customer_id in data.customers
    ]


def refused_webhook_entity(data: SandboxData) -> SeedEntity | None:
    """The connection whose `entity.created` the webhook back-fill signs with a rotated secret,
    so the console refuses it (401) and keeps only what the body claimed.

    The first, by customer_id, of the single-connection customers whose connection was made
    2 to 20 days before the seed's day (inside any 30-day back-fill run that day) and whose
    consent is ACTIVE for another month: nothing but the refused webhook is wrong with it.
    """
    for _customer, entity in _single_entity_customers(data):
        consent = entity.current_consent
        if (
            data.anchor - timedelta(days=20) <= entity.created_at <= data.anchor - timedelta(days=2)
            and consent.status == "ACTIVE"
            and consent.expires > data.anchor + timedelta(days=30)
        ):
            return entity
    return None


def expired_consent_customer(data: SandboxData) -> SeedCustomer | None:
    """The first single-connection customer (by customer_id) whose consent Lean says EXPIRED."""
    for customer, entity in _single_entity_customers(data):
        consent = entity.current_consent
        if consent.status == "EXPIRED" and consent.expires < data.anchor:
            return customer
    return None


def stuck_refresh_customer(data: SandboxData) -> SeedCustomer | None:
    """The first single-connection customer (by customer_id) whose latest refresh never
    finishes (stuck PENDING), with a consent still ACTIVE."""
    for customer, entity in _single_entity_customers(data):
        latest = max(entity.refreshes, key=lambda r: r.created_at, default=None)
        if (
            latest is not None
            and latest.finishes_at is None
            and entity.current_consent.status == "ACTIVE"
            and entity.current_consent.expires > data.anchor
        ):
            return customer
    return None
