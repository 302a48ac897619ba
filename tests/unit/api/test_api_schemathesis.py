"""schemathesis against the app's own OpenAPI spec, as an admin: no input makes a 5xx.

The spec itself needs a key (it is loaded with one). Writes answer 409 here (journal-only
mode), which is a refusal, not a server error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_support import KEYS, T0, fill
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tallyio.api.app import create_app
from tallyio.api.auth import ApiKey, KeyRing, Role, hash_key
from tallyio.core.clock import FixedClock
from tallyio.journal import JournalStore

ADMIN = {"Authorization": f"Bearer {KEYS[Role.ADMIN]}"}


@pytest.fixture
def api_schema(tmp_path: Path) -> Iterator[Any]:
    clock = FixedClock(T0)
    with JournalStore(tmp_path / "journal.db", clock=clock) as journal:
        fill(journal, clock)
        keys = KeyRing((ApiKey("admin", Role.ADMIN, hash_key(KEYS[Role.ADMIN])),))
        yield schemathesis.openapi.from_asgi("/openapi.json", create_app(journal, keys),
                                             headers=ADMIN)  # fmt: skip


def test_no_input_makes_a_server_error(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 11  # every REST route (GraphQL and WebSockets are not in it)
    seen: set[int] = set()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)  # fmt: skip
        def no_server_error(case: Any) -> None:
            response = case.call(headers=ADMIN)
            case.validate_response(response, checks=[not_a_server_error])
            assert response.status_code < 500, (case.path, response.status_code)
            seen.add(response.status_code)

        no_server_error()
    assert {200, 409} <= seen  # it reached the handlers, reads and (refused) writes alike
