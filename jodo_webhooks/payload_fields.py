"""What every typed payload parser shares: the exact payload, the fields that normalise Jodo's
inconsistencies (ids as numbers or strings, amounts as numbers or strings, date-times), the
version check, and field errors named by their path."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeAlias

from rest_framework import serializers

from .envelope import StrictCharField
from .exceptions import InvalidPayload, UnsupportedVersion

if TYPE_CHECKING:
    from .models import InboundEvent

# A DRF field of any value type (the stubs' four type parameters).
AnyField: TypeAlias = serializers.Field[Any, Any, Any, Any]

SUPPORTED_VERSION = re.compile(r"1(\.\d+)*")

# Rupees to the paisa: no ERP can book a fraction of a paisa.
PAISA = Decimal("0.01")
# At most 16 digits before the point: fits DecimalField(max_digits=18, decimal_places=2).
AMOUNT_LIMIT = Decimal(10) ** 16
_AMOUNT_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")  # ASCII digits only


def check_version(event: InboundEvent, supported: re.Pattern[str] = SUPPORTED_VERSION) -> None:
    """Raise UnsupportedVersion unless the event's `version` is one this app understands."""
    if not supported.fullmatch(event.version):
        raise UnsupportedVersion(
            f"Unsupported version {event.version!r} for {event.event_type}: this receiver "
            "understands 1.x. Reprocess the event after upgrading."
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _float_as_decimal(value: Any) -> Any:
    """The stored payload's floats as Decimals of their shortest text (2000.0 -> "2000.0")."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {key: _float_as_decimal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_float_as_decimal(item) for item in value]
    return value


def exact_payload(event: InboundEvent) -> dict[str, Any]:
    """The event's payload with every JSON number that has a fraction or exponent as a
    `Decimal` of its exact text, read from the request body as received (`raw_body`).

    `payload` (a JSONField) holds floats, so it is only the fallback for a row whose raw body is
    not this event's envelope (a row made by hand); its floats then become the Decimal of their
    shortest text, which is the text Jodo sent for any amount of up to 15 digits.
    """
    try:
        body = json.loads(event.raw_body, parse_float=Decimal, parse_constant=_reject_constant)
    except (TypeError, ValueError, RecursionError):
        body = None
    if (
        isinstance(body, dict)
        and isinstance(body.get("payload"), dict)
        and body.get("event_id") == event.event_id
    ):
        exact: dict[str, Any] = body["payload"]
        return exact
    payload = event.payload
    if not isinstance(payload, dict):
        raise InvalidPayload({"payload": ["Expected a JSON object."]})
    converted: dict[str, Any] = _float_as_decimal(payload)
    return converted


def field_paths(detail: Any, path: str = "payload") -> dict[str, list[str]]:
    """DRF's nested error detail as {"payload.payment.details[0].amount": [messages]}."""
    errors: dict[str, list[str]] = {}
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            if key == "non_field_errors":
                child = path
            elif isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                child = f"{path}[{key}]"
            else:
                child = f"{path}.{key}"
            for name, messages in field_paths(value, child).items():
                errors.setdefault(name, []).extend(messages)
    elif isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            if detail:
                errors[path] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                for name, messages in field_paths(item, f"{path}[{index}]").items():
                    errors.setdefault(name, []).extend(messages)
    else:
        errors[path] = [str(detail)]
    return errors


def validate(serializer: serializers.Serializer[Any], data: Any) -> dict[str, Any]:
    """Run a shared serializer over `data`; InvalidPayload names each bad field by its path."""
    try:
        validated: dict[str, Any] = serializer.run_validation(data)
    except serializers.ValidationError as exc:
        raise InvalidPayload(field_paths(exc.detail)) from exc
    return validated


def unmapped(data: Any, serializer: serializers.Serializer[Any]) -> dict[str, Any]:
    """The fields of `data` that `serializer` does not map, as sent (exact Decimals)."""
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in data.items() if key not in serializer.fields}


class JodoIdField(AnyField):
    """An id Jodo sends as a string on some pages and as an integer on others: always a `str`.

    Surrounding whitespace is trimmed. An empty string means absent (None) when the field allows
    null and `blank_means_absent` (the default); otherwise it is refused.
    """

    default_error_messages = {
        "invalid": "A string or an integer is required.",
        "blank": "This field may not be blank.",
        "max_length": "Ensure this field has no more than {max_length} characters.",
    }

    def __init__(
        self, *, max_length: int = 255, blank_means_absent: bool = True, **kwargs: Any
    ) -> None:
        self.max_length = max_length
        self.blank_means_absent = blank_means_absent
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str | None:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        text = str(data).strip()
        if not text:
            if self.allow_null and self.blank_means_absent:
                return None
            self.fail("blank")
        if len(text) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return text

    def to_representation(self, value: Any) -> Any:
        return value


class AmountField(AnyField):
    """Money, in rupees, as an exact `Decimal`: a JSON number (`2000.0`, read from the body's
    text, never through a float) or a string of digits (`"2250"`), kept as written (`2000.0`
    stays `Decimal("2000.0")`). Refused: booleans, NaN and infinities, other strings, negative
    amounts, fractions of a paisa (`1.005`; `1.000` is a whole paisa), 10**16 or more.
    """

    default_error_messages = {
        "invalid": "A number or a string of digits is required.",
        "negative": "Must not be negative.",
        "decimal_places": "Has more than 2 decimal places (amounts are rupees to the paisa).",
        "too_large": "Must be less than 10**16.",
    }

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            amount = Decimal(data)
        elif isinstance(data, Decimal):
            amount = data
        elif isinstance(data, float):  # only from a row without its raw body
            amount = Decimal(repr(data))
        elif isinstance(data, str) and _AMOUNT_TEXT.fullmatch(data):
            try:
                amount = Decimal(data)
            except InvalidOperation:  # pragma: no cover - the pattern only admits digits
                self.fail("invalid")
        else:
            self.fail("invalid")
        if not amount.is_finite():
            self.fail("invalid")
        if amount < 0:
            self.fail("negative")
        if amount >= AMOUNT_LIMIT:
            self.fail("too_large")
        # Below the limit, quantizing stays within the default 28-digit precision.
        if amount != amount.quantize(PAISA):
            self.fail("decimal_places")
        return amount

    def to_representation(self, value: Any) -> Any:
        return value


class JodoDateTimeField(AnyField):
    """A date-time as Jodo writes it: ISO-8601 (`2022-03-01T10:05:45Z`, or with an offset);
    text without a zone is taken as UTC. Unix seconds (an integer) are accepted too."""

    default_error_messages = {"invalid": "An ISO-8601 date-time or Unix seconds is required."}

    def to_internal_value(self, data: Any) -> datetime:
        if isinstance(data, int) and not isinstance(data, bool):
            try:
                return datetime.fromtimestamp(data, tz=UTC)
            except (OverflowError, OSError, ValueError):
                self.fail("invalid")
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            moment = datetime.fromisoformat(data.strip())
        except ValueError:
            self.fail("invalid")
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    def to_representation(self, value: Any) -> Any:
        return value


class JodoDateField(AnyField):
    """A date (`YYYY-MM-DD`); a full ISO date-time is accepted and gives its date as written."""

    default_error_messages = {"invalid": "A date (YYYY-MM-DD) is required."}

    def to_internal_value(self, data: Any) -> date:
        if not isinstance(data, str):
            self.fail("invalid")
        text = data.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            return datetime.fromisoformat(text).date()
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value


class NotesField(AnyField):
    """`notes`: free text on manual payments, an array of {key, value} pairs elsewhere.
    Kept as sent; the parsers route the text to `notes` and the array to `extra`."""

    default_error_messages = {"invalid": "A string or an array is required."}

    def to_internal_value(self, data: Any) -> str | list[Any]:
        if not isinstance(data, str | list):
            self.fail("invalid")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


def optional_text(max_length: int = 255) -> StrictCharField:
    """A string field that may be absent, null or blank (blank is read as absent)."""
    return StrictCharField(
        max_length=max_length, allow_null=True, allow_blank=True, required=False, default=None
    )


def optional_id() -> JodoIdField:
    """An id that may be absent, null or blank, sent as a string or an integer."""
    return JodoIdField(allow_null=True, required=False, default=None)


def optional(
    field_class: type[AnyField],
) -> AnyField:
    """A field of `field_class` that may be absent or null."""
    return field_class(allow_null=True, required=False, default=None)


def optional_list(child: serializers.Serializer[Any]) -> serializers.ListField:
    """An array of `child` objects that may be absent or null (read as None). Not
    `child(many=True, allow_null=True)`: DRF would then let each item be null too."""
    return serializers.ListField(child=child, required=False, allow_null=True, default=None)
