"""mmv3: conformance and load tests for the Mattermost Web Service API v3."""

__version__ = "0.1.0"
