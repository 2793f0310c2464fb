"""Route handlers, one module per route group; importing this package registers them all."""

from mmv3.server.handlers import general, users  # noqa: F401

# isort: split
from mmv3.server.handlers import preferences, status, user_lists  # noqa: F401

# isort: split
from mmv3.server.handlers import posts  # noqa: F401

# isort: split
from mmv3.server.handlers import channels, teams  # noqa: F401

# isort: split
from mmv3.server.handlers import emoji, files, license, reactions, saml, webrtc, websocket  # noqa: F401

# isort: split
from mmv3.server.handlers import admin, commands, hooks, oauth  # noqa: F401
