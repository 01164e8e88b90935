"""What every `jinjian` command module shares: the ``--store`` option, the one-message
failure, and opening the store named by that option."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="store folder (embedded SQLite) or cluster URL; "
                 "default $JINJIAN_STORE or ./jinjian-data"),
]


class TableJson(StrEnum):
    """``--format`` of the listing commands."""

    table = "table"
    json = "json"


def json_line(record: dict[str, Any]) -> None:
    """One JSON object on a line of stdout (UTF-8 Chinese kept as it is)."""
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


def fail(message: str, code: int = 2) -> NoReturn:
    """One clear message, no traceback, and a non-zero exit status."""
    sys.stderr.write(f"jinjian: {message}\n")
    raise typer.Exit(code)


def store_location(store: str | None) -> str:
    """``--store`` if given, else ``$JINJIAN_STORE`` or ./jinjian-data."""
    from jinjian.config import settings

    return store or settings().store


def open_store_or_fail(store: str | None, *, create: bool, mmap: bool = True) -> Any:
    """The store at ``store`` (see :func:`store_location`); a store that cannot be opened ends
    the command with its message. ``mmap=False``: see ``indexer.open_store``."""
    from indexer import StoreError, open_store

    try:
        return open_store(store_location(store), create=create, mmap=mmap)
    except StoreError as exc:
        fail(str(exc))
