"""Who is calling, and what their token lets them do: the API's and the pages' one rule
book.

A request's token (HTTP Basic user name, as SigOpt's client sends it, or for a page the
one its login session holds) makes a `Caller`:

- a token given to the service at start (`--token`, `--token-env`) is an admin, and is
  not stored: changing it means restarting the service;
- a stored token (`usecases.TokenRegistry`, created through the API, the CLI or the
  tokens page) has its own permissions: `admin` (manages tokens), `write` (everything
  else), `read` (GET and HEAD only, pages included), and with an `experiment`, SigOpt's
  share token: read-only, and only that experiment's resources and pages;
- a service with no configured token is open (loopback only, enforced by the config):
  every request is an admin's, whatever token it carries, stored tokens included (they
  take effect when the service is started with a token).

Refusals follow sigopt-server: a token whose scope does not reach an endpoint gets a 403
`forbidden`; another experiment than a share token's is a 404, as if it did not exist.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from sigopt_service.errors import ApiError, Forbidden, InvalidRequest, NotFound, Unauthorized
from sigopt_service.http.context import config_of, service_of
from sigopt_service.store import StoredToken, TokenPermission

AUTH_MESSAGE = (
    "No API token provided. API requests are authenticated using HTTP Basic Auth, with the "
    "API token as the username and a blank password."
)
#: Methods that change nothing: all a read-only token may send.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Routes only an admin may call (listing and creating tokens of every kind).
ADMIN_ROUTES = frozenset({"/v1/clients/{client_id}/tokens"})
#: Routes an experiment's token may call: that experiment's resources, AI experiment or
#: not (checked against the path's `experiment_id`), and its own token (the handler checks
#: which). Training runs by their own id (`/v1/training_runs/{id}`) are not among them.
EXPERIMENT_ROUTE_PREFIXES = ("/v1/experiments/{experiment_id}", "/v1/aiexperiments/{experiment_id}")
OWN_TOKEN_ROUTE = "/v1/tokens/{token_id}"
#: The pages of one experiment, which its token may see.
EXPERIMENT_PAGE_PREFIX = "/experiment/{experiment_id}"

CallerKind = Literal["open", "configured", "stored"]


@dataclass(frozen=True)
class Caller:
    """Who sent a request: `open` (a service without tokens), `configured` (a token given
    at start), or `stored` (`token` says which, and what it may do)."""

    kind: CallerKind
    permissions: TokenPermission
    token: StoredToken | None = None

    @property
    def experiment(self) -> int | None:
        """The one experiment this caller reaches; None: every one."""
        return None if self.token is None else self.token.experiment

    @property
    def is_admin(self) -> bool:
        return self.permissions == "admin"

    @property
    def token_id(self) -> int | None:
        return None if self.token is None else self.token.id


@dataclass(frozen=True)
class Redirect:
    """A page request answered by sending the browser elsewhere (303)."""

    location: str


OPEN = Caller("open", "admin")
CONFIGURED = Caller("configured", "admin")
#: Set on every API request past authentication, and on every page request let in.
CALLER = web.RequestKey("caller", Caller)


def token_of(request: web.Request) -> str | None:
    """The HTTP Basic username, as the official client sends its token; None if absent."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidRequest("Could not parse API token: use HTTP Basic Auth")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("Could not parse API token from the Authorization header") from None
    return decoded.partition(":")[0]


def token_is_known(token: str, tokens: tuple[str, ...]) -> bool:
    """Whether `token` is one of the configured ones. Compared with every one, in constant
    time each, so timing reveals nothing."""
    found = False
    for known in tokens:
        found |= hmac.compare_digest(token.encode(), known.encode())
    return found


def auth_required(request: web.Request) -> bool:
    """Whether this service checks tokens: it was started with at least one."""
    return bool(config_of(request).tokens)


async def identify(request: web.Request, secret: str | None) -> Caller:
    """The caller a secret makes; `Unauthorized` saying why if it makes none."""
    tokens = config_of(request).tokens
    if not tokens:
        return OPEN
    if not secret:
        raise Unauthorized(AUTH_MESSAGE)
    if token_is_known(secret, tokens):
        return CONFIGURED
    token = await service_of(request).tokens.identify(secret)
    return Caller("stored", token.permissions, token)


async def signed_in(request: web.Request, secret: str | None) -> Caller | None:
    """`identify` for a page: an unknown, revoked or expired token signs nobody in."""
    try:
        return await identify(request, secret)
    except Unauthorized:
        return None


def _route(request: web.Request) -> str | None:
    """The route's template (`/v1/experiments/{experiment_id}`); None: no route matched."""
    resource = request.match_info.route.resource
    return None if resource is None else resource.canonical


def _path_experiment(request: web.Request) -> int | None:
    raw = request.match_info.get("experiment_id", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 19 else None


def check_api_access(request: web.Request, caller: Caller) -> None:
    """Raise the refusal of an API request this caller's token does not reach."""
    route = _route(request)
    if route is None:
        return  # no such endpoint: the 404 (or 405) says so to anyone
    if caller.permissions == "read" and request.method not in READ_METHODS:
        raise Forbidden(
            f"This token is read-only: {request.method} {request.path} is refused "
            "(it may only GET)."
        )
    if route in ADMIN_ROUTES and not caller.is_admin:
        raise Forbidden("Only an admin token manages API tokens.")
    if caller.experiment is not None:
        _check_experiment_scope(request, route, caller.experiment)


def _check_experiment_scope(request: web.Request, route: str, experiment: int) -> None:
    if route == OWN_TOKEN_ROUTE:
        return
    if not route.startswith(EXPERIMENT_ROUTE_PREFIXES):
        raise Forbidden(
            f"This token is experiment {experiment}'s share token: it is not permitted to "
            f"access {request.path}."
        )
    asked = _path_experiment(request)
    if asked != experiment:
        # sigopt-server answers as if another experiment did not exist (no leak).
        raise NotFound(f"No experiment {request.match_info.get('experiment_id', ''):.40}")


def page_refusal(request: web.Request, caller: Caller) -> ApiError | Redirect | None:
    """What a page request this caller's token does not reach gets: an error to render as
    a page, a redirect (an experiment's token asking for the experiments list is sent to
    its experiment), or None: let in."""
    path = request.path
    if path in ("/login", "/logout"):
        return None  # signing in and out changes no data: any token may
    if caller.permissions == "read" and request.method not in READ_METHODS:
        return Forbidden("This token is read-only: it may look, not change anything.")
    if (path == "/tokens" or path.startswith("/tokens/")) and not caller.is_admin:
        return Forbidden("Only an admin token manages API tokens.")
    experiment = caller.experiment
    if experiment is None:
        return None
    if path in ("/", "/experiments"):
        return Redirect(f"/experiment/{experiment}")
    route = _route(request)
    if route is None or route.startswith("/static/"):
        return None
    if not route.startswith(EXPERIMENT_PAGE_PREFIX):
        return Forbidden(f"This token shows experiment {experiment} only.")
    if _path_experiment(request) != experiment:
        return NotFound(f"No experiment {request.match_info.get('experiment_id', ''):.40}")
    return None
