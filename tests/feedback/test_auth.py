"""feedback/auth.py: argon2 hashing, validation, authenticate."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from feedback import auth, store
from feedback.errors import InvalidInput


def test_hash_is_argon2id_and_verifies_only_the_right_password() -> None:
    hashed = auth.hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert auth.verify_password(hashed, "correct horse")
    assert not auth.verify_password(hashed, "wrong horse")


def test_verify_password_is_false_for_a_malformed_hash() -> None:
    assert not auth.verify_password("not-a-hash", "whatever1")


@pytest.mark.parametrize("name", ["ab", "with space", "-leading", "x" * 33, "semi;colon"])
def test_invalid_usernames_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="username"):
        auth.validate_username(name)


def test_short_password_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least"):
        auth.hash_password("short")


def test_authenticate_accepts_the_right_password_only(session: Session) -> None:
    user = auth.register_user(session=session, username="ada", password="correct horse", role="operator")
    assert auth.authenticate(session=session, username="ada", password="correct horse").id == user.id
    assert auth.authenticate(session=session, username="ada", password="wrong horse") is None
    assert auth.authenticate(session=session, username="nobody", password="correct horse") is None


def test_disabled_user_cannot_log_in(session: Session) -> None:
    user = auth.register_user(session=session, username="ada", password="correct horse")
    store.set_user_disabled(session=session, user_id=user.id, disabled=True)
    assert auth.authenticate(session=session, username="ada", password="correct horse") is None


def test_register_user_refuses_a_taken_name(session: Session) -> None:
    auth.register_user(session=session, username="ada", password="correct horse")
    with pytest.raises(InvalidInput, match="taken"):
        auth.register_user(session=session, username="ada", password="another one")


def test_outdated_hash_is_upgraded_on_login(session: Session) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct horse")
    user = store.create_user(session=session, username="ada", password_hash=weak)
    assert auth.authenticate(session=session, username="ada", password="correct horse") is not None
    assert user.password_hash != weak and auth.verify_password(user.password_hash, "correct horse")
