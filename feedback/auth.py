"""Passwords (argon2id via argon2-cffi) and login checks. Cookie sessions belong to the web app."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from feedback.errors import InvalidInput
from feedback.models import User
from feedback.store import create_user, get_user_by_name

_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _HASHER.hash("not a real password")
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,31}")

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024


def fold_username(username: str) -> str:
    """The one spelling a username is stored and looked up in: stripped and case-folded ("Ada" is "ada").

    >>> fold_username("  Ada_L ")
    'ada_l'
    """
    return username.strip().casefold()


def validate_username(username: str) -> str:
    """The username, stripped and case-folded, or ``InvalidInput``: 3-32 letters, digits, ``_ . -``, starting
    alphanumeric.

    >>> validate_username(" Ada_l ")
    'ada_l'
    """
    name = fold_username(username)
    if not _USERNAME.fullmatch(name):
        raise InvalidInput(
            "A username is 3-32 characters: letters, digits, '_', '.', '-', starting with a letter or digit."
        )
    return name


def validate_password(password: str) -> str:
    """The password unchanged, or ``InvalidInput`` if it is too short or absurdly long."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"A password needs at least {MIN_PASSWORD_CHARS} characters.")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"A password has at most {MAX_PASSWORD_CHARS} characters.")
    return password


def hash_password(password: str) -> str:
    """An argon2id hash of a valid password (salted; safe to store)."""
    return _HASHER.hash(validate_password(password))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (False for a malformed hash, never an exception)."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_matches(user: User | None, password: str) -> bool:
    """Whether ``user`` is enabled and has this password. An unknown user costs the same hash check as a known
    one (no timing hint). Pure argon2 work, no database: callers run it outside any transaction, since a hash
    check inside one would hold SQLite's write lock for its whole length."""
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return False
    return verify_password(user.password_hash, password) and not user.disabled


def upgraded_hash(user: User, password: str) -> str | None:
    """A fresh hash for a right password whose stored hash used outdated parameters (the caller stores it),
    else None."""
    return _HASHER.hash(password) if _HASHER.check_needs_rehash(user.password_hash) else None


def authenticate(*, session: Session, username: str, password: str) -> User | None:
    """The enabled user with these credentials, else None; an outdated hash is upgraded in the caller's
    transaction. (The web app checks the hash between two short transactions instead: ``password_matches``.)"""
    user = get_user_by_name(session=session, username=fold_username(username))
    if not password_matches(user, password):
        return None
    fresh = upgraded_hash(user, password)
    if fresh is not None:
        user.password_hash = fresh
        session.flush()
    return user


def register_user(*, session: Session, username: str, password: str, role: str = "student") -> User:
    """Validate, hash and store a new user (``InvalidInput`` for a bad or taken name, or a weak password).
    The hash is made before the first statement, so before the transaction takes any lock."""
    name = validate_username(username)
    return create_user(session=session, username=name, password_hash=hash_password(password), role=role)
