"""The staff console: a server-rendered FastAPI application on a store.

``create_app(store_location, users_db)`` builds it. Every page but ``/login`` needs a session
(without one: 303 to ``/login``); every POST form carries the session's CSRF token, checked
here (403 without it); roles decide which views an account reaches (403 otherwise). Crawled
content is hostile: templates autoescape everything, no page runs a script (the
Content-Security-Policy allows none), and crawled URLs are shown as text, never as links.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from jinjian.console.accounts import (
    MAX_PASSWORD,
    ROLES,
    AccountError,
    Accounts,
    Session,
    same_token,
)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "jinjian_session"
LOGIN_COOKIE = "jinjian_login"  # the login form's CSRF token (double submit; no session yet)
MAX_FORM_FIELD = 10_000
MAX_BODY = 256 * 1024  # bytes of a POST body: the console's forms are small

# no script at all; styles and images only from the console itself; no framing; forms post only
# back to it
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

REGULATOR_ROLES = ("regulator", "admin")
TELECOM_ROLES = ("telecom", "admin")
ALL_ROLES = ROLES


class ConsoleError(StarletteHTTPException):
    """An HTTP error shown as a console page; ``detail`` is the message staff read."""


class LoginRequired(Exception):
    """No live session: the browser is sent to the login page."""


def templates_env() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["q"] = lambda v: quote(str(v), safe="")
    return env


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The template ``name`` with the session's user and CSRF token."""
    session: Session | None = getattr(request.state, "session", None)
    env: Environment = request.app.state.templates
    html = env.get_template(name).render(
        user=session.user if session else None, csrf=session.csrf if session else "",
        path=request.url.path, **context)
    return HTMLResponse(html, status_code=status)


# --- sessions, roles and CSRF, as dependencies ------------------------------------------------

def current_session(request: Request) -> Session:
    accounts: Accounts = request.app.state.accounts
    session = accounts.session(request.cookies.get(SESSION_COOKIE, ""))
    if session is None:
        raise LoginRequired()
    request.state.session = session
    return session


AnySession = Annotated[Session, Depends(current_session)]


def need(*roles: str) -> Callable[..., Session]:
    """A dependency: the session, when its user has one of ``roles``; 403 otherwise."""

    def check(request: Request, session: AnySession) -> Session:
        if session.user.role not in roles:
            raise ConsoleError(403, f"your account ({session.user.name}, role "
                                    f"{session.user.role}) cannot open this page")
        return session

    return check


Admin = Annotated[Session, Depends(need("admin"))]
Regulator = Annotated[Session, Depends(need(*REGULATOR_ROLES))]
Telecom = Annotated[Session, Depends(need(*TELECOM_ROLES))]
Staff = Annotated[Session, Depends(need(*ALL_ROLES))]


async def checked_form(request: Request) -> FormData:
    """The posted form once its CSRF token matched the session's (403 otherwise)."""
    session: Session = request.state.session
    form = await request.form(max_fields=50, max_part_size=MAX_FORM_FIELD)
    if not same_token(str(form.get("csrf", "")), session.csrf):
        raise ConsoleError(403, "the form's security token is missing or wrong; reload the page "
                                "and send the form again")
    return form


def field(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name, "")
    text = value if isinstance(value, str) else ""
    if len(text) > limit:
        raise ConsoleError(400, f"{name}: at most {limit} characters")
    return text.strip()


def safe_next(target: str) -> str:
    """A path in the console to go to after login; anything else (another site) is /."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _cookie(response: Response, request: Request, name: str, value: str,
            max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")


# --- the application --------------------------------------------------------------------------

def create_app(store_location: str, users_db: str | Path) -> FastAPI:
    """The console on the store at ``store_location`` (opened once, when the server starts),
    with the accounts in the SQLite file ``users_db``."""
    from indexer import open_store
    from jinjian.console import views

    accounts = Accounts(users_db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = open_store(store_location, create=False)
        try:
            yield
        finally:
            app.state.store.close()
            accounts.close()

    app = FastAPI(title="金鉴 console", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.accounts = accounts
    app.state.store_location = store_location
    app.state.templates = templates_env()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request,
                               call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method == "POST":
            length = request.headers.get("content-length", "")
            if not length.isdigit():
                response: Response = HTMLResponse("a form must say its length", 411)
            elif int(length) > MAX_BODY:
                response = HTMLResponse(f"a form may have at most {MAX_BODY} bytes", 413)
            else:
                response = await call_next(request)
        else:
            response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        where = "/login" if request.method != "GET" or target == "/" else (
            f"/login?next={quote(target, safe='')}")
        return RedirectResponse(where, status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def error_page(request: Request, exc: StarletteHTTPException) -> Response:
        if not hasattr(request.state, "session"):
            session = accounts.session(request.cookies.get(SESSION_COOKIE, ""))
            if session is not None:
                request.state.session = session
        messages = {404: "no such page", 405: "this page does not take that request"}
        detail = exc.detail if isinstance(exc, ConsoleError) else messages.get(
            exc.status_code, str(exc.detail))
        response = render(request, "error.html", exc.status_code, code=exc.status_code,
                          message=detail)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    # --- login and logout ------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> Response:  # noqa: A002 - the URL's
        token = secrets.token_urlsafe(32)
        response = render(request, "login.html", login_token=token, next=safe_next(next),
                          error="")
        _cookie(response, request, LOGIN_COOKIE, token, 3600)
        return response

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form(max_fields=10, max_part_size=MAX_FORM_FIELD)
        token = str(form.get("csrf", ""))
        if not same_token(token, request.cookies.get(LOGIN_COOKIE, "")):
            raise ConsoleError(403, "the login form's security token is missing or wrong; "
                                    "open the login page again")
        name = str(form.get("username", "")).strip()[:128]
        password = str(form.get("password", ""))[:MAX_PASSWORD]
        target = safe_next(str(form.get("next", "/")))
        address = request.client.host if request.client else ""
        wait = accounts.throttled(name, address)
        if wait:
            minutes = (wait + 59) // 60
            raise ConsoleError(429, f"too many failed logins for this user name or from this "
                                    f"address: try again in {minutes} minute"
                                    f"{'' if minutes == 1 else 's'}",
                               headers={"Retry-After": str(wait)})
        user = accounts.authenticate(name, password)
        if user is None:
            accounts.record_failure(name, address)
            return render(request, "login.html", 401, login_token=token, next=target,
                          error="wrong user name or password")
        accounts.clear_failures(name)
        response = RedirectResponse(target, status_code=303)
        _cookie(response, request, SESSION_COOKIE, accounts.start_session(user),
                accounts.session_seconds)
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    @app.post("/logout")
    async def logout(request: Request, session: AnySession) -> Response:
        await checked_form(request)
        accounts.end_session(request.cookies.get(SESSION_COOKIE, ""))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/")
    def home(session: AnySession) -> Response:
        return RedirectResponse("/takedown" if session.user.role == "telecom" else "/dashboard",
                                status_code=303)

    # --- accounts (admin) ------------------------------------------------------------------

    @app.get("/users", response_class=HTMLResponse)
    def users_page(request: Request, session: Admin) -> Response:
        return render(request, "users.html", users=accounts.users(), roles=ROLES, error="")

    @app.post("/users")
    async def users_change(request: Request, session: Admin
                           ) -> Response:
        form = await checked_form(request)
        action = field(form, "action")
        name = field(form, "name", 64)
        try:
            if action == "add":
                accounts.add_user(name, field(form, "role"), str(form.get("password", "")))
            elif action == "remove":
                if name == session.user.name:
                    raise AccountError("you cannot remove your own account")
                accounts.remove_user(name)
            else:
                raise ConsoleError(400, f"action {action!r}: expected add or remove")
        except AccountError as exc:
            return render(request, "users.html", 400, users=accounts.users(), roles=ROLES,
                          error=str(exc))
        return RedirectResponse("/users", status_code=303)

    views.add_views(app)
    return app
