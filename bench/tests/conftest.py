"""The trial and personas of the application's test suite, for the load test's database checks.

The fixtures are imported, not copied, so that the load test checks its writes against the same
small trial as the application's tests.
"""

from tests.conftest import (  # noqa: F401
    alice,
    all_agents_unrelated,
    definition,
    site_a,
    study,
    subject,
)
