"""The Mattermost v3 client mmv3 uses everywhere: paced, recordable, with one-line errors.

from mmv3.client import Client
client = Client("http://127.0.0.1:8065")
client.login("sysadmin", "...")
me = client.get("users/me", raise_for_error=True).json()
"""

from mmv3.client._client import AUTH_MODES, Client, Response
from mmv3.client._cookies import SetCookie
from mmv3.client._errors import (
    ApiError,
    AppError,
    ClientError,
    NotJSONError,
    RateLimited,
    ServerTimeout,
    ServerUnreachable,
    StatusError,
)
from mmv3.client._har import Exchange, HarRecorder
from mmv3.client._pacing import Pacer, PacerStats, Ticket
from mmv3.client._shared_pacing import ProcessSharedPacer, read_state, share_for_target, write_state

__all__ = [
    "AUTH_MODES",
    "ApiError",
    "AppError",
    "Client",
    "ClientError",
    "Exchange",
    "HarRecorder",
    "NotJSONError",
    "Pacer",
    "PacerStats",
    "ProcessSharedPacer",
    "read_state",
    "share_for_target",
    "write_state",
    "RateLimited",
    "Response",
    "ServerTimeout",
    "ServerUnreachable",
    "SetCookie",
    "StatusError",
    "Ticket",
]
