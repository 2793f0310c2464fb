"""The Allure labels that conformance and load results share, so that one report groups them.

Kept free of pytest and Locust: the suite's and the load tests' result writers both import it.
"""

EPIC = "Mattermost API v3"
LOAD_FEATURE = "Load and rate limiting"
