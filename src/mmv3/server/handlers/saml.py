"""saml: the site-root SAML login routes, which a team-edition 4.9 server does not serve.

Both answer the browser error redirect real 4.9 sends when SAML is not available (302 to the
signed `/error?message=…` page), whatever the request holds.
"""

from __future__ import annotations

from mmv3.server import weberrors
from mmv3.server.context import Context, Reply
from mmv3.server.errors import AppError
from mmv3.server.routes import route


def _not_available(ctx: Context) -> Reply:
    err = AppError("api.user.saml.not_available.app_error", 302)
    return weberrors.render(ctx, err.status, err.message)


@route("GET", "/login/sso/saml")
def login(ctx: Context) -> Reply:
    return _not_available(ctx)


@route("POST", "/login/sso/saml")
def complete(ctx: Context) -> Reply:
    return _not_available(ctx)
