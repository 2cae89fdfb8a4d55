from __future__ import annotations

import pytest

from loopml.core.errors import InvalidInput
from loopml.core.uris import ObjectURI, check_name, parse_uri

RUN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (f"runs:/{RUN}/model", ObjectURI("runs", RUN, path="model")),
        (f"runs:/{RUN}/a/b.txt", ObjectURI("runs", RUN, path="a/b.txt")),
        (f"runs:/{RUN}", ObjectURI("runs", RUN)),
        ("runs:/71cc0d2b/model", ObjectURI("runs", "71cc0d2b", path="model")),  # a prefix, resolved on use
        ("models:/churn/3", ObjectURI("models", "churn", version=3)),
        ("models:/churn@production", ObjectURI("models", "churn", alias="production")),
        ("datasets:/customers@latest", ObjectURI("datasets", "customers", alias="latest")),
        ("datasets:/cust.v2-x/12", ObjectURI("datasets", "cust.v2-x", version=12)),
    ],
)
def test_parse_valid(uri: str, expected: ObjectURI) -> None:
    parsed = parse_uri(uri)
    assert parsed == expected
    assert str(parsed) == uri


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("churn", "missing scheme"),
        ("ftp:/x/1", "unknown scheme"),
        ("models:/churn", "expected models:/<name>/<version>"),
        ("models:/churn/abc", "expected models:/"),
        ("runs:/not-a-run-id/model", "32-hex"),
        ("runs:/abc/model", "unique prefix of 4"),
        (f"runs:/{RUN}0/model", "32-hex"),
        ("models:/../etc/1", "expected models:/"),
    ],
)
def test_parse_invalid_names_problem(uri: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem) as info:
        parse_uri(uri)
    assert info.value.details[0]["field"] == "uri"


def test_expect_scheme() -> None:
    with pytest.raises(InvalidInput, match="expected a runs:/ URI"):
        parse_uri("models:/a/1", expect="runs")


def test_check_name() -> None:
    assert check_name("churn-v2.1_x") == "churn-v2.1_x"
    for bad in ("", "-x", "a/b", "a b", "x" * 201, None):
        with pytest.raises(InvalidInput):
            check_name(bad)  # type: ignore[arg-type]
