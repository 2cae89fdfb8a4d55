"""``/tokens``: create, list and revoke API tokens (admin; only on servers started with auth)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from loopml.core.errors import Forbidden
from loopml.core.wire import TOKEN
from loopml.server.auth import Admin
from loopml.server.backend import Backend, BackendDep
from loopml.server.encoding import JSONResponse
from loopml.server.schemas import TokenCreate, TokenCreated, TokenList

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.post("", status_code=201, response_model=TokenCreated, summary="Create a token (the secret is shown once)")
def create_token(body: TokenCreate, caller: Admin, backend: BackendDep) -> Response:
    _require_auth(backend)
    token, secret = backend.tokens.create(body.name, body.role, actor=caller.actor)
    return JSONResponse({**TOKEN.encode(token), "token": secret}, status_code=201)


@router.get("", response_model=TokenList, summary="All tokens (never their secrets)")
def list_tokens(caller: Admin, backend: BackendDep) -> Response:
    _require_auth(backend)
    return JSONResponse({"tokens": TOKEN.encode_many(backend.tokens.list())})


@router.delete("/{name}", status_code=204, summary="Revoke a token")
def revoke_token(name: str, caller: Admin, backend: BackendDep) -> Response:
    _require_auth(backend)
    backend.tokens.revoke(name, actor=caller.actor)
    backend.token_cache.forget(name)
    return Response(status_code=204)


def _require_auth(backend: Backend) -> None:
    if not backend.auth:
        raise Forbidden(
            "Token management is only available on a server started with --auth "
            "(without auth, tokens would not protect anything)."
        )
