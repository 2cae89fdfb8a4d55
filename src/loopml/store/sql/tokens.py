"""API tokens: only a SHA-256 of the secret is stored; the secret is shown once at creation."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.core.clock import now_ms
from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.ids import new_id
from loopml.core.records import Role, Token
from loopml.core.uris import check_name
from loopml.store.sql import schema as t
from loopml.store.sql.audit import record_audit
from loopml.store.sql.database import Database

TOKEN_PREFIX = "lml_"


class SqlTokenStore:
    """Create, verify, list and revoke API tokens."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str, role: Role | str, *, actor: str) -> tuple[Token, str]:
        """Create a token; returns its record and the secret (shown only this once)."""
        check_name(name, field="token name")
        try:
            role = Role(role)
        except ValueError:
            valid = ", ".join(r.value for r in Role)
            raise InvalidInput(
                f"Invalid role {role!r}; valid roles are {valid}.",
                details=[{"field": "role", "problem": "unknown role"}],
            ) from None
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = Token(new_id(), name, role, now_ms())
        try:
            with self.db.write() as conn:
                conn.execute(
                    t.tokens.insert().values(
                        id=token.id,
                        name=name,
                        token_hash=_digest(secret),
                        role=role.value,
                        created_at=token.created_at,
                        revoked=False,
                    )
                )
                record_audit(conn, actor, "token.create", "token", token.id, {"name": name, "role": role.value})
        except SqlIntegrityError:
            raise Conflict(f"A token named {name!r} already exists; pick another name or revoke it.") from None
        return token, secret

    def verify(self, secret: str) -> Token | None:
        """The live token with this secret, or ``None``."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.tokens).where(t.tokens.c.token_hash == _digest(secret))).first()
        if row is None or row.revoked:
            return None
        return Token(row.id, row.name, Role(row.role), row.created_at, row.revoked)

    def list(self) -> list[Token]:
        """All tokens, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(t.tokens).order_by(t.tokens.c.created_at)).all()
        return [Token(r.id, r.name, Role(r.role), r.created_at, r.revoked) for r in rows]

    def revoke(self, name: str, *, actor: str) -> None:
        """Revoke the token called ``name``; :class:`Conflict` if it is already revoked (nothing changes)."""
        tokens = t.tokens.c
        with self.db.write() as conn:
            result = conn.execute(
                t.tokens.update().where(tokens.name == name, sa.not_(tokens.revoked)).values(revoked=True)
            )
            if result.rowcount == 0:
                if conn.execute(sa.select(tokens.id).where(tokens.name == name)).first() is not None:
                    raise Conflict(f"Token {name!r} is already revoked; nothing changed.")
                names = conn.execute(sa.select(tokens.name).where(sa.not_(tokens.revoked))).scalars().all()
                listed = ", ".join(sorted(names)[:20]) or "none"
                raise NotFound(f"Token {name!r} does not exist. Live tokens: {listed}.")
            record_audit(conn, actor, "token.revoke", "token", name)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
