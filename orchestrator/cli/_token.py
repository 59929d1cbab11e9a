"""`orchestrator token create|list|revoke|rotate`: a running service's API tokens, through
its API, with an admin token (the `--token` given to `orchestrator serve` is one).

    orchestrator token create [--name N] [--read-only | --admin] [--experiment ID]
                              [--expires 30d|12h|2027-01-31] [--api-url U | --config F] [--json]
    orchestrator token list   [--api-url U | --config F] [--json]
    orchestrator token revoke ID [--api-url U | --config F]
    orchestrator token rotate ID|self [--api-url U | --config F] [--json]

The service is `--api-url`, or the `service.url` of `--config`; the admin token is read
from `$SIGOPT_API_TOKEN` (or the config's `service.token_env`), never from a flag, so it
stays out of the process list. A new or rotated token's secret is printed once, on
standard output; the service keeps only its hash. There is no way around the API (no
`--db` on the file): the running service holds the active tokens in memory and must see
every change, and a service with no token of its own is open, so tokens only matter on one
started with `--token`.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchestrator.cli._common import print_table
from orchestrator.client import normalize_base_url
from orchestrator.config import DEFAULT_TOKEN_ENV, load_config
from orchestrator.errors import ConfigError, ServiceError, ServiceRejected
from orchestrator.transport import AiohttpTransport
from sigopt_service.validation.token import parse_expiry

CLIENT_TOKENS = "/clients/1/tokens"


def add_token_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = sub.add_parser(
        "token",
        help="create, list, revoke or rotate a running service's API tokens",
        description="Manage a running service's API tokens through its API, with an "
        "admin token from $SIGOPT_API_TOKEN (the --token given to `orchestrator serve`).",
    )
    actions = token.add_subparsers(
        dest="token_command", required=True, help="what to do with the tokens"
    )
    create = actions.add_parser("create", help="create a token; its secret is printed once")
    create.add_argument("--name", default=None, help="what the token is for")
    access = create.add_mutually_exclusive_group()
    access.add_argument(
        "--read-only", action="store_true", help="it may only read (GET), API and pages"
    )
    access.add_argument("--admin", action="store_true", help="it may also manage tokens")
    create.add_argument(
        "--experiment",
        default=None,
        metavar="ID",
        help="only this experiment, read-only (SigOpt's share token; 30 days unless --expires)",
    )
    create.add_argument(
        "--expires",
        default=None,
        metavar="WHEN",
        help="a duration from now (30d, 12h, 90m, 2w) or an ISO date or time (2027-01-31, "
        "UTC unless it says otherwise); default: never",
    )
    actions.add_parser("list", help="the active tokens, newest first")
    revoke = actions.add_parser("revoke", help="revoke a token: its next request is a 401")
    revoke.add_argument("id", metavar="ID", help="the token's id (from `token list`)")
    rotate = actions.add_parser("rotate", help="give a token a new secret, printed once")
    rotate.add_argument("id", metavar="ID", help="the token's id, or self (the admin token)")
    for cmd in (create, actions.choices["list"], revoke, rotate):
        cmd.add_argument("--api-url", default=None, help="the service's URL")
        cmd.add_argument(
            "--config",
            type=Path,
            default=None,
            help="take the service from this config's service.url",
        )
        cmd.add_argument("--json", action="store_true", help="print the API's JSON")


def _service(args: argparse.Namespace) -> tuple[str, str | None]:
    """The service's URL and the admin token to call it with."""
    if args.api_url is not None:
        if not args.api_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"must start with http:// or https://, got {args.api_url!r}", key="--api-url"
            )
        return args.api_url, os.environ.get(DEFAULT_TOKEN_ENV) or None
    if args.config is None:
        raise ConfigError("give --api-url URL or --config FILE", key="--api-url")
    config = load_config(args.config, check=False)
    if config.service.url is None:
        raise ConfigError(
            "tokens belong to a running service: this config starts an embedded one, which "
            "has no tokens; give --api-url, or set service.url",
            file=config.source,
            key="service.url",
        )
    return config.service.url, os.environ.get(config.service.token_env) or None


async def _call(
    transport: AiohttpTransport,
    method: str,
    path: str,
    body: Any = None,
    params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One request; an error answer becomes `ServiceRejected` with its message and code."""
    response = await transport.request(method, path, json=body, params=params)
    answer = response.body if isinstance(response.body, dict) else {}
    if not 200 <= response.status < 300:
        raise ServiceRejected(
            response.status,
            str(answer.get("message") or f"HTTP {response.status}"),
            method=method,
            path=path,
            code=answer.get("code"),
            field=answer.get("field"),
        )
    return answer


def _create_body(args: argparse.Namespace) -> dict[str, Any]:
    if args.admin and args.experiment is not None:
        raise ConfigError(
            "an experiment's token is read-only: --admin and --experiment do not go together",
            key="--admin",
        )
    body: dict[str, Any] = {}
    if args.name is not None:
        body["name"] = args.name
    if args.read_only or args.experiment is not None:
        body["permissions"] = "read"
    elif args.admin:
        body["permissions"] = "admin"
    if args.experiment is not None:
        body["experiment"] = args.experiment
    if args.expires is not None:
        try:
            body["expires"] = parse_expiry(args.expires, now=datetime.now(UTC))
        except ValueError as exc:
            raise ConfigError(str(exc), key="--expires") from None
    return body


async def token(args: argparse.Namespace, console: Console) -> int:
    url, admin = _service(args)
    async with AiohttpTransport(normalize_base_url(url), token=admin) as transport:
        if args.token_command == "list":
            listed = await _all_tokens(transport)
            if args.json:
                console.print_json(json.dumps(listed))
            else:
                _print_list(console, listed)
            return 0
        if args.token_command == "revoke":
            await _call(transport, "DELETE", f"/tokens/{_id(args.id)}")
            console.print(f"token {escape(args.id)} revoked", highlight=False)
            return 0
        if args.token_command == "rotate":
            made = await _call(transport, "PUT", f"/tokens/{_id(args.id)}", {"token": "rotate"})
        else:
            made = await _call(transport, "POST", CLIENT_TOKENS, _create_body(args))
    if args.json:
        console.print_json(json.dumps(made))
    else:
        _print_made(console, made, rotated=args.token_command == "rotate")
    return 0


def _id(raw: str) -> str:
    if raw != "self" and not (raw.isascii() and raw.isdigit()):
        raise ConfigError(f"a token id is a number (or self), got {raw!r}", key="ID")
    return raw


async def _all_tokens(transport: AiohttpTransport) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    before: str | None = None
    while True:
        params = None if before is None else {"before": before}
        page = await _call(transport, "GET", CLIENT_TOKENS, params=params)
        out += page.get("data", [])
        before = (page.get("paging") or {}).get("before")
        if not before:
            return out
        if len(out) > 1_000_000:  # a service that never ends its paging
            raise ServiceError("the token list does not end", method="GET", path=CLIENT_TOKENS)


def _when(epoch: int | None, never: str = "never") -> str:
    if epoch is None:
        return never
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


def _access(token: dict[str, Any]) -> str:
    if token.get("experiment") is not None:
        return f"experiment {token['experiment']}, read-only"
    return {"admin": "admin", "write": "read-write", "read": "read-only"}.get(
        str(token.get("permissions")), str(token.get("permissions"))
    )


def _print_list(console: Console, tokens: list[dict[str, Any]]) -> None:
    if not tokens:
        console.print("no stored tokens (the service's own --token is not listed)")
        return
    table = Table("id", "name", "access", "created (UTC)", "expires (UTC)", "last used (UTC)")
    for t in tokens:
        table.add_row(
            escape(str(t.get("id"))),
            escape(str(t.get("name") or "")),
            escape(_access(t)),
            _when(t.get("created"), ""),
            _when(t.get("expires")),
            _when(t.get("last_used")),
        )
    print_table(console, table)


def _print_made(console: Console, made: dict[str, Any], *, rotated: bool) -> None:
    what = "rotated" if rotated else "created"
    name = f" ({escape(str(made['name']))})" if made.get("name") else ""
    console.print(
        f"token {escape(str(made.get('id')))}{name} {what}: {escape(_access(made))}, "
        f"expires {_when(made.get('expires'))}",
        highlight=False,
        soft_wrap=True,
    )
    # Plain `print`-like output: no markup, no wrapping, so the secret copies as it is.
    console.print(f"secret: {made.get('token')}", markup=False, highlight=False, soft_wrap=True)
    console.print("Shown once: store it now (the service keeps only its hash).", highlight=False)
