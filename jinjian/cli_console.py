"""`jinjian serve` (the staff console) and `jinjian users …` (its accounts).

Registered on the main app by ``add_console_commands(app)`` in ``jinjian.cli``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from jinjian.cli_common import StoreOpt, fail, store_location

UsersDbOpt = Annotated[
    Path | None,
    typer.Option("--users-db", help="the console's accounts file (default: console.db in the "
                 "store's state folder)"),
]

users_app = typer.Typer(name="users", add_completion=False, no_args_is_help=True,
                        help="The console's accounts.")


def users_db_path(store: str | None, users_db: Path | None) -> Path:
    """``--users-db``, else ``state_dir(STORE)/console.db``."""
    from jinjian.crawl import state_dir

    return users_db if users_db is not None else state_dir(store_location(store)) / "console.db"


def _accounts(store: str | None, users_db: Path | None):  # noqa: ANN202 - Accounts, imported late
    from jinjian.console.accounts import AccountError, Accounts

    try:
        return Accounts(users_db_path(store, users_db))
    except AccountError as exc:
        fail(str(exc))


def _read_password() -> str:
    """From a prompt (twice) on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        first = typer.prompt("password", hide_input=True)
        if typer.prompt("password again", hide_input=True) != first:
            fail("the two passwords differ")
        return first
    line = sys.stdin.readline()
    if not line:
        fail("no password on stdin (give it on the first line)")
    return line.rstrip("\r\n")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="the user name")],
    role: Annotated[str, typer.Option("--role", help="regulator | telecom | admin")],
    store: StoreOpt = None,
    users_db: UsersDbOpt = None,
) -> None:
    """Create an account; the password comes from a prompt, or the first line of stdin."""
    from jinjian.console.accounts import AccountError, check_name, check_role

    try:
        check_name(name)
        check_role(role)
    except AccountError as exc:
        fail(str(exc))
    password = _read_password()
    accounts = _accounts(store, users_db)
    try:
        user = accounts.add_user(name, role, password)
    except AccountError as exc:
        fail(str(exc))
    finally:
        accounts.close()
    sys.stderr.write(f"user {user.name} ({user.role}) added to {accounts.path}\n")


@users_app.command("list")
def users_list(store: StoreOpt = None, users_db: UsersDbOpt = None) -> None:
    """The accounts: name, role, when created."""
    accounts = _accounts(store, users_db)
    try:
        for u in accounts.users():
            sys.stdout.write(f"{u.name}\t{u.role}\t{u.created}\n")
    finally:
        accounts.close()


@users_app.command("remove")
def users_remove(
    name: Annotated[str, typer.Argument(metavar="NAME", help="the user name")],
    store: StoreOpt = None,
    users_db: UsersDbOpt = None,
) -> None:
    """Delete an account and end its sessions."""
    from jinjian.console.accounts import AccountError

    accounts = _accounts(store, users_db)
    try:
        accounts.remove_user(name)
    except AccountError as exc:
        fail(str(exc))
    finally:
        accounts.close()
    sys.stderr.write(f"user {name} removed\n")


def serve(
    store: StoreOpt = None,
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port to listen on")] = 8000,
    users_db: UsersDbOpt = None,
) -> None:
    """Serve the staff console on the store (log in with an account from `jinjian users add`).

    Serve it over https in production (behind a TLS proxy, which must send X-Forwarded-Proto):
    session cookies are marked Secure then."""
    import uvicorn

    from indexer import StoreError, open_store
    from jinjian.console import create_app
    from jinjian.console.accounts import AccountError

    if not 0 < port < 65536:
        fail(f"--port {port}: expected 1 to 65535")
    location = store_location(store)
    try:
        with open_store(location, create=False):
            pass
    except StoreError as exc:
        fail(str(exc))
    path = users_db_path(store, users_db)
    try:
        app = create_app(location, path)
    except AccountError as exc:
        fail(str(exc))
    if not app.state.accounts.users():
        sys.stderr.write(f"note: {path} has no accounts yet; add one with "
                         f"`jinjian users add NAME --role admin --store {location}`\n")
    sys.stderr.write(f"console on http://{host}:{port}/ (store {location}, accounts {path})\n")
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True,
                    server_header=False)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def add_console_commands(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
