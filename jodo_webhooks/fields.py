"""Model fields for values that must compare exactly: Jodo's ids, and the ERP's own ids."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    # django-stubs makes fields generic (the type set, the type read) and the plugin infers them
    # (nullable or not) per model field; Django's classes are not generic at run time.
    CharField = models.CharField[Any, Any]
else:
    CharField = models.CharField

# The most bytes one character takes in UTF-8 (utf8mb4).
MAX_UTF8_BYTES_PER_CHARACTER = 4


class ExactCharField(CharField):
    """A CharField whose values compare exactly, byte for byte, on every supported database.

    PostgreSQL (with its deterministic collations) and SQLite (BINARY) already compare text
    exactly. MariaDB's and MySQL's default collations ignore letter case and trailing spaces,
    so "A1" and "a1 " would be one value to a unique index there; even `utf8mb4_bin` ignores
    trailing spaces, and the collations that do not (`utf8mb4_nopad_bin` on MariaDB,
    `utf8mb4_0900_bin` on MySQL) share no name. So on MariaDB and MySQL the column is
    VARBINARY, with room for `max_length` characters of up to four bytes each: its values are
    compared as the bytes of their UTF-8 text. Elsewhere it is an ordinary CharField.

    On MariaDB and MySQL, lookups such as `icontains` are then case-sensitive too.
    """

    description = "String (up to %(max_length)s characters), compared exactly"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("db_collation"):
            raise TypeError("ExactCharField compares exactly and takes no db_collation.")
        super().__init__(*args, **kwargs)

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "mysql" and self.max_length is not None:
            return f"varbinary({self.max_length * MAX_UTF8_BYTES_PER_CHARACTER})"
        return super().db_type(connection)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # MariaDB and MySQL return a VARBINARY column's value as bytes: the UTF-8 text stored.
        if isinstance(value, bytes | bytearray):
            return bytes(value).decode("utf-8")
        return value
