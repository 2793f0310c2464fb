"""The flat client configuration (`/general/client_props`) derived from the settings.

Starts from the map a real 4.9 server sent (every key real clients expect) and overwrites
the values that follow from this server's settings, so a changed setting shows here and in
X-Version-Id's hash as it does on a real server.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from mmv3.server import signing

if TYPE_CHECKING:
    from mmv3.server.app import ReferenceServer

# client key -> settings key, for the values a client config mirrors one to one. Licensed
# features (MFA, password requirements) keep the template's unlicensed defaults.
_MIRRORED = {
    "EnableAPIv3": "ServiceSettings.EnableAPIv3",
    "EnableCommands": "ServiceSettings.EnableCommands",
    "EnableCustomEmoji": "ServiceSettings.EnableCustomEmoji",
    "EnableDeveloper": "ServiceSettings.EnableDeveloper",
    "EnableIncomingWebhooks": "ServiceSettings.EnableIncomingWebhooks",
    "EnableOutgoingWebhooks": "ServiceSettings.EnableOutgoingWebhooks",
    "EnableOAuthServiceProvider": "ServiceSettings.EnableOAuthServiceProvider",
    "EnableOnlyAdminIntegrations": "ServiceSettings.EnableOnlyAdminIntegrations",
    "EnableLinkPreviews": "ServiceSettings.EnableLinkPreviews",
    "EnableUserAccessTokens": "ServiceSettings.EnableUserAccessTokens",
    "EnableOpenServer": "TeamSettings.EnableOpenServer",
    "EnableTeamCreation": "TeamSettings.EnableTeamCreation",
    "EnableUserCreation": "TeamSettings.EnableUserCreation",
    "SiteName": "TeamSettings.SiteName",
    "RestrictTeamInvite": "TeamSettings.RestrictTeamInvite",
    "EnableSignUpWithEmail": "EmailSettings.EnableSignUpWithEmail",
    "EnableSignInWithEmail": "EmailSettings.EnableSignInWithEmail",
    "EnableSignInWithUsername": "EmailSettings.EnableSignInWithUsername",
    "EnableFileAttachments": "FileSettings.EnableFileAttachments",
    "EnablePublicLink": "FileSettings.EnablePublicLink",
    "MaxFileSize": "FileSettings.MaxFileSize",
    "ShowEmailAddress": "PrivacySettings.ShowEmailAddress",
    "SiteURL": "ServiceSettings.SiteURL",
}


@lru_cache(maxsize=1)
def _template() -> dict[str, str]:
    return json.loads((Path(__file__).parent / "data" / "client_config.json").read_text())


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def client_config(server: ReferenceServer) -> dict[str, str]:
    out = dict(_template())
    for key, setting in _MIRRORED.items():
        value = server.config.get(setting)
        if value is not None:
            out[key] = _text(value)
    out["AsymmetricSigningPublicKey"] = signing.key_for(server.store).public_base64  # verifies error links
    out["Version"] = server.options.version
    out["BuildNumber"] = server.options.build_number
    out["BuildHash"] = f"v{server.options.build_number}"
    return out
