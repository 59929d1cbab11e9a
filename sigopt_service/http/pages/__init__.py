"""The analysis pages the service serves beside its API: the experiments list, an
experiment's summary and analysis (charts, observations table, open suggestions), the CSV
history download, the login form and the API tokens page, all behind the API's tokens.

```
routes.py       add_pages(app): the routes, the login sessions, the gate
gate.py         who may see a page (HTTP Basic or a session, with its token's scope);
                errors as pages
login.py        GET/POST /login, POST /logout (CSRF: same-origin only)
sessions.py     session id -> token, in memory
experiments.py  GET /, /experiments
experiment.py   GET /experiment/{id}, .../analysis, .../analysis/observations
table.py        the observations table: columns, sort, filter, pages
data.py         the JSON the page's scripts read (history, live update, importances)
download.py     GET /experiment/{id}/historydownload (CSV)
tokens.py       GET/POST /tokens, POST /tokens/{id}/revoke: the API tokens (admin only)
rendering.py    Jinja2 (autoescaped), security headers, static files (plotly.min.js)
templates/, static/   package data
```
"""

from __future__ import annotations

from sigopt_service.http.pages.routes import PAGE_ROUTES, add_pages

__all__ = ["PAGE_ROUTES", "add_pages"]
