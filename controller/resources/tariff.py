"""`Tariff`: what charging costs at the locations that use it."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from controller.resources.codes import CURRENCY_CODES
from controller.resources.common import (
    DecimalString,
    Model,
    Money,
    Resource,
    WeeklyTimeRange,
    cel,
    validations,
)


def _percentage(value: Decimal) -> Decimal:
    if not Decimal(0) <= value <= Decimal(100):
        raise ValueError("a VAT rate is a percentage between 0 and 100")
    return value


Percentage = Annotated[
    DecimalString,
    AfterValidator(_percentage),
    Field(
        json_schema_extra=validations(
            cel(
                "double(self) >= 0.0 && double(self) <= 100.0",
                "a VAT rate is a percentage between 0 and 100",
            )
        )
    ),
]


class IdleFee(Model):
    """A fee per minute for occupying the charger after charging stopped."""

    price_per_minute: Money = Field(description="Price per idle minute.")
    grace_period_minutes: int = Field(
        default=0, ge=0, le=1440, description="Idle minutes that are free."
    )


class TariffPeriod(WeeklyTimeRange):
    """Prices that apply in a weekly time window instead of the tariff's base prices."""

    energy_price: Money | None = Field(
        default=None, description="Price per kWh in this period; the base price when left out."
    )
    time_price: Money | None = Field(
        default=None, description="Price per hour in this period; the base price when left out."
    )


class TariffSpec(Model):
    """Prices of charging. Amounts are decimal strings in the tariff's currency."""

    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code, e.g. EUR.")
    energy_price: Money = Field(default=Decimal(0), description="Price per kWh.")
    time_price: Money = Field(default=Decimal(0), description="Price per hour of charging.")
    start_fee: Money = Field(default=Decimal(0), description="Fixed price per transaction.")
    idle_fee: IdleFee | None = Field(default=None, description="Fee for idle time after charging.")
    vat_rate: Percentage = Field(default=Decimal(0), description='VAT in percent, e.g. "21".')
    prices_include_vat: bool = Field(
        default=False, description="Whether the prices above already include VAT."
    )
    periods: list[TariffPeriod] = Field(
        default_factory=list,
        description="Time-of-day and weekday periods with their own prices; must not overlap.",
    )

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if value not in CURRENCY_CODES:
            raise ValueError(f"{value!r} is not an ISO 4217 currency code, e.g. EUR")
        return value


class Tariff(Resource):
    """Prices of charging: energy, time, start and idle fees, VAT, time-of-day periods."""

    KIND = "Tariff"
    PLURAL = "tariffs"
    SHORT_NAMES = ("tf",)

    kind: Literal["Tariff"] = Field(description="Always Tariff.")
    spec: TariffSpec = Field(description="The tariff's declaration.")
