"""The bundled reference server: Mattermost 4.9's API v3 on an embedded SQLite database.

It shares the catalogue and the rate-limit model with the rest of mmv3 and never imports
the conformance suite.
"""

from mmv3.server.runner import RunningServer, running_server

__all__ = ["RunningServer", "running_server"]
