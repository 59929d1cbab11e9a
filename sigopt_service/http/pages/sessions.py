"""Login sessions of the pages: a random session id, set as an HttpOnly, SameSite=Strict
cookie, mapped in this process's memory to the token it was opened with.

The cookie never holds the token: a leaked cookie dies with the process or its session's
lifetime, and the token is checked against the configured ones on every request.

```python
sessions = LoginSessions()
sid = sessions.open(token, now=time.monotonic())
sessions.token_of(sid, now=...)     # the token, or None once expired or closed
sessions.close(sid)
```
"""

from __future__ import annotations

import secrets
from collections import OrderedDict

from aiohttp import web

COOKIE_NAME = "sigopt_session"
#: How long a login lasts without being used again.
SESSION_IDLE_S = 12 * 3600
#: Sessions kept at most; the least recently used go first (bounds memory).
MAX_SESSIONS = 10_000


class LoginSessions:
    """Session id -> (token, expiry on the monotonic clock), least recently used first."""

    def __init__(self, *, idle_s: float = SESSION_IDLE_S, size: int = MAX_SESSIONS) -> None:
        self.idle_s = idle_s
        self.size = size
        self._sessions: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def __repr__(self) -> str:
        return f"<LoginSessions open={len(self._sessions)}/{self.size} idle_s={self.idle_s}>"

    def open(self, token: str, *, now: float) -> str:
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = (token, now + self.idle_s)
        if len(self._sessions) > self.size:
            self._sessions.popitem(last=False)
        return sid

    def token_of(self, sid: str, *, now: float) -> str | None:
        """The session's token (and its lifetime renewed), or None: unknown or expired."""
        found = self._sessions.get(sid)
        if found is None:
            return None
        token, expires = found
        if expires <= now:
            del self._sessions[sid]
            return None
        self._sessions[sid] = (token, now + self.idle_s)
        self._sessions.move_to_end(sid)
        return token

    def close(self, sid: str) -> None:
        self._sessions.pop(sid, None)


SESSIONS = web.AppKey("login_sessions", LoginSessions)
#: Set on a request let in by its session cookie: its page offers to sign out.
BY_SESSION = web.RequestKey("signed_in_by_session", bool)
