"""Error bodies stay JSON when they echo what a client sent, lone surrogates included (found by the fuzz test)."""

from __future__ import annotations

import json

import pytest

from loopml.core.errors import InvalidInput
from loopml.serving.oip import check_tensor
from loopml.serving.responses import error_response


def test_an_error_naming_a_tensor_with_a_lone_surrogate_is_a_422_with_valid_json() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_tensor("\udad7x", "FP64", [3, -1])
    response = error_response(caught.value)
    assert response.status_code == 422
    body = json.loads(response.body)
    assert body["details"][0]["field"] == "inputs.\\udad7x.shape"
    assert "expected [n] or [n, n_features]" in body["error"]


def test_the_platform_api_response_class_falls_back_the_same_way() -> None:
    from loopml.server.encoding import JSONResponse

    body = json.loads(JSONResponse({"error": "no experiment '\ud800x'", "details": [{"field": "name"}]}).body)
    assert body == {"error": "no experiment '\\ud800x'", "details": [{"field": "name"}]}
