"""The tables, in SQLAlchemy Core, valid for SQLite and PostgreSQL alike.

Core rather than the ORM: the hot paths are batched executemany and plain selects, and an
identity map would only cost time. Buffered tables (status, conditions, meter values, message
log) have no foreign keys on purpose: a batch must never fail because one row names a
transaction or charger the database does not know.

Tables are created when missing; a column added to a table since a database was created is
added to it when the store opens (`add_missing_columns`). Such columns are nullable, so adding
one to a table full of rows cannot fail. Indexes added since are created then too
(`add_missing_indexes`): `create_all` makes a table's indexes only with the table.

The message log is a ring per charger: row `slot` = `seq mod N` is overwritten in place, so the
table is bounded by construction and keeping "the newest N" costs no delete at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Dialect,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    inspect,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.schema import CreateColumn
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType


def sqlite_timestamp(value: datetime) -> str:
    """An aware datetime as SQLite keeps it: UTC text, `2025-03-01 12:00:00.000000`."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


class _SqliteTimestamp(UserDefinedType[str]):
    """A DATETIME column on SQLite holding UTC as text, converted by `UtcDateTime` alone.

    SQLAlchemy's own SQLite DATETIME formats each value in Python, three times slower than
    `datetime.isoformat`, and the message log binds three timestamps per OCPP message.
    """

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "DATETIME"


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in and out: timestamptz on PostgreSQL, UTC text on SQLite.

    SQLite has no time zones; storing every value in UTC, always in the same format
    (`2025-03-01 12:00:00.000000`), makes the text sort as time does, so range queries work
    there too.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SqliteTimestamp())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value.isoformat()} has no timezone")
        if dialect.name == "sqlite":
            return sqlite_timestamp(value)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_BIG_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite: only INTEGER is the rowid
_JSON = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

chargers = Table(
    "chargers",
    metadata,
    Column("identity", String, primary_key=True),
    Column("pending", Boolean, nullable=False, server_default=false()),
    Column("pending_since", UtcDateTime),
    Column("pending_location", String),
    Column("ocpp_version", String),
    Column("vendor", String),
    Column("model", String),
    Column("serial_number", String),
    Column("firmware_version", String),
    Column("iccid", String),
    Column("imsi", String),
    Column("meter_type", String),
    Column("meter_serial_number", String),
    Column("booted_at", UtcDateTime),
    Column("connected", Boolean, nullable=False, server_default=false()),
    Column("connected_at", UtcDateTime),
    Column("disconnected_at", UtcDateTime),
    Column("disconnect_reason", Text),
    Column("remote_address", String),
    Column("last_heartbeat", UtcDateTime),
    Column("configuration_at", UtcDateTime),
)

connector_status = Table(
    "connector_status",
    metadata,
    Column("identity", String, primary_key=True),
    Column("connector_id", Integer, primary_key=True),
    Column("status", String, nullable=False),
    Column("error_code", String),
    Column("info", Text),
    Column("vendor_error_code", String),
    Column("at", UtcDateTime, nullable=False),
)

reported_config = Table(
    "reported_config",
    metadata,
    Column("identity", String, primary_key=True),
    Column("key", String, primary_key=True),
    Column("value", Text),
    Column("readonly", Boolean, nullable=False),
)

transactions = Table(
    "transactions",
    metadata,
    # Sent to OCPP 1.6 chargers as transactionId, so never reused: AUTOINCREMENT on SQLite,
    # an identity sequence on PostgreSQL. A 32-bit int, as chargers store it.
    Column("id", Integer, Identity(), primary_key=True),
    Column("identity", String, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("id_tag", String),
    Column("charger_transaction_id", String),
    Column("started_at", UtcDateTime, nullable=False),
    Column("meter_start_wh", BigInteger),
    Column("meter_last_wh", BigInteger),
    Column("updated_at", UtcDateTime),
    Column("stopped_at", UtcDateTime),
    Column("meter_stop_wh", BigInteger),
    Column("stop_reason", String),
    Column("stop_id_tag", String),
    Column("energy_wh", BigInteger),
    UniqueConstraint("identity", "charger_transaction_id"),
    Index(None, "identity", "started_at"),
    Index(None, "started_at"),
    # The open transactions (at most one per connector) out of years of stopped ones: the
    # chargers table reads them all on every request.
    Index(
        "ix_transactions_open",
        "identity",
        "started_at",
        sqlite_where=text("stopped_at IS NULL"),
        postgresql_where=text("stopped_at IS NULL"),
    ),
    sqlite_autoincrement=True,
)

meter_values = Table(
    "meter_values",
    metadata,
    Column("id", _BIG_ID, primary_key=True, autoincrement=True),
    Column("transaction_id", Integer),
    Column("identity", String, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("measurand", String, nullable=False),
    Column("phase", String),
    Column("location", String),
    Column("unit", String),
    Column("context", String),
    Column("value", Text, nullable=False),
    Index(None, "transaction_id", "at"),
    # The newest sample of one measurand of a transaction in one seek (`newest_meter_values`:
    # the live draw and the energy so far of open transactions), however long it has run.
    Index(None, "transaction_id", "measurand", "at"),
)

events = Table(
    "events",
    metadata,
    Column("id", _BIG_ID, primary_key=True, autoincrement=True),
    Column("identity", String),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", String, nullable=False),
    Column("message", Text, nullable=False),
    Column("data", _JSON, nullable=False),
    Index(None, "identity", "at"),
    Index(None, "at"),
)

message_log = Table(
    "message_log",
    metadata,
    Column("identity", String, primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("direction", String, nullable=False),
    Column("message_type", SmallInteger, nullable=False),
    Column("action", String),
    Column("unique_id", String, nullable=False),
    Column("frame", Text, nullable=False),
    Index(None, "identity", "seq"),
)

key_status = Table(
    "key_status",
    metadata,
    Column("identity", String, primary_key=True),
    Column("key", String, primary_key=True),
    Column("state", String, nullable=False),
    Column("value", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("detail", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
)
"""The reconciler's last outcome per declared key of each charger (`models.KeyStatus`)."""

charger_conditions = Table(
    "charger_conditions",
    metadata,
    Column("identity", String, primary_key=True),
    Column("type", String, primary_key=True),
    Column("status", String, nullable=False),
    Column("reason", String, nullable=False),
    Column("message", Text, nullable=False),
    Column("last_transition_time", UtcDateTime, nullable=False),
    Column("observed_generation", BigInteger),
)
"""Kubernetes-style conditions per charger (`models.ChargerCondition`)."""

forwarded_commands = Table(
    "forwarded_commands",
    metadata,
    Column("id", String, primary_key=True),
    Column("identity", String, nullable=False),
    Column("body", _JSON, nullable=False),
    Column("requester", String),
    Column("asked_by", String, nullable=False),
    Column("asked_at", UtcDateTime, nullable=False),
    Column("deadline", UtcDateTime, nullable=False),
    Column("claimed_by", String),
    Column("answered_at", UtcDateTime),
    Column("outcome", _JSON),
    Index(None, "asked_at"),
)
"""Commands asked of one replica for a charger connected to another (`coordination`): the
replica holding the charger claims the row, runs it and writes the outcome back."""

power_profiles = Table(
    "power_profiles",
    metadata,
    Column("identity", String, primary_key=True),
    Column("location", String, nullable=False),
    Column("replica", String, nullable=False),
    Column("owner_pid", Integer, nullable=False),
    Column("lock_hi", BigInteger, nullable=False),
    Column("lock_lo", BigInteger, nullable=False),
    Column("state", _JSON, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index(None, "location"),
)
"""What each replica knows of the charging profiles of the chargers it holds, for the power
decisions of the others (`coordination`); a row counts only while its writer still holds the
charger's advisory lock (`owner_pid`, and the lock's two halves as `pg_locks` shows them)."""

store_settings = Table(
    "store_settings",
    metadata,
    Column("name", String, primary_key=True),
    Column("value", String, nullable=False),
)
"""Settings the data depends on, such as the message log's ring size it was written with."""


def add_missing_columns(connection: Connection) -> list[str]:
    """Add the columns of `metadata` that existing tables lack; returns them as `table.column`.

    Run after `metadata.create_all`, in the same transaction. Only nullable columns without a
    default may be added this way (a later column must not need a value for existing rows).
    """
    inspector = inspect(connection)
    preparer = connection.dialect.identifier_preparer
    added: list[str] = []
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable or column.server_default is not None:
                raise RuntimeError(
                    f"cannot add {table.name}.{column.name} to an existing table: "
                    "only nullable columns without a default can be added"
                )
            definition = CreateColumn(column).compile(dialect=connection.dialect)
            connection.execute(
                text(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {definition}")
            )
            added.append(f"{table.name}.{column.name}")
    return added


def add_missing_indexes(connection: Connection) -> list[str]:
    """Create the indexes of `metadata` that existing tables lack; returns their names.

    Run after `metadata.create_all`, in the same transaction. On a large table this takes a
    while, once: the store opens when it is done.
    """
    inspector = inspect(connection)
    added: list[str] = []
    for table in metadata.sorted_tables:
        present = {index["name"] for index in inspector.get_indexes(table.name)}
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            if index.name not in present:
                index.create(connection)
                added.append(str(index.name))
    return added
