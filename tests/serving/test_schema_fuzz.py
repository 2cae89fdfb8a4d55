"""schemathesis against a live ``loopml serve``: requests generated from its own ``/openapi.json``
(bodies and path parameters that fit the schema, and ones that do not) must never get a 5xx, and
every response must match the documented status codes, content types, headers and schemas.

Bounded: :data:`EXAMPLES` examples per operation and generation mode. The schema is loaded from the
running server inside the test (``schemathesis.pytest.from_fixture`` does not work with pytest 9:
it reads ``Function._nodeid``), one hypothesis run per operation and mode.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from loopml.serving import ServingConfig, create_app
from tests.serving.conftest import Served

pytestmark = pytest.mark.slow

EXAMPLES = 20
# The schemas cannot express every rule of a valid request (each split row has one value per column,
# every signature column is present, values fit the model), so schema-valid data may rightly get the
# documented 422: acceptance of positive data is not checked. Every other default check runs.
EXCLUDED = [positive_data_acceptance]


def test_serve_api_conforms_to_its_openapi(served: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{served.server.url}/openapi.json", timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    routes = create_app(ServingConfig("models:/bc/1")).routes
    served_routes = {(method, route.path) for route in routes for method in route.methods if method != "HEAD"}
    # every route is documented (schemathesis leaves out the schema's own URL)
    assert {(op.method.upper(), op.path) for op in operations} == served_routes - {("GET", "/openapi.json")}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def conforms(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=served.server.url, excluded_checks=EXCLUDED, timeout=30)

            try:
                conforms()
            except Unsatisfiable:
                # nothing can violate the schema of an operation without inputs, or whose only input
                # is a free string in the path (GET /v2/models/{name})
                if mode is GenerationMode.POSITIVE:
                    raise
            except Exception as exc:
                exc.add_note(f"operation: {operation.label}, {mode} data")
                raise
