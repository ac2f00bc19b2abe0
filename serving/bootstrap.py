"""First-start chores at the app's edge: schema, the base checkpoint, an operator account, stale answers."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy.engine import Engine

from feedback import auth as user_auth, registry
from feedback import store
from feedback.db import run_in_transaction
from feedback.models import User
from mathchat.settings import Settings, replica_name
from serving.model_cache import base_checkpoint_id, resolve_model_path
from serving.web_auth import write_private

log = logging.getLogger(__name__)


def live_checkpoint_at_start(settings: Settings, db: Engine) -> tuple[str, str]:
    """(id, path) of the live policy checkpoint; on first start the configured base model becomes live
    (``feedback.registry.ensure_live_checkpoint``). The model folder is resolved (the embedded default converted)
    only when the base is needed."""

    def work(s):  # noqa: ANN001, ANN202
        live = registry.get_live_checkpoint(session=s)
        if live is None:
            live = registry.ensure_live_checkpoint(
                session=s, base_id=base_checkpoint_id(settings), base_path=resolve_model_path(settings),
                by_user="system", config={"source": settings.model.path or "embedded-default"})
        return live.id, live.path

    return run_in_transaction(db, work)


def ensure_operator(settings: Settings, db: Engine) -> str | None:
    """Create an `admin` operator with a random password when there is no operator; returns where it is written."""

    def work(s):  # noqa: ANN001, ANN202
        from sqlalchemy import select

        if s.scalar(select(User).where(User.role == "operator").limit(1)) is not None:
            return None
        password = secrets.token_urlsafe(12)
        user_auth.register_user(session=s, username="admin", password=password, role="operator")
        return password

    password = run_in_transaction(db, work)
    if password is None:
        return None
    path = Path(settings.state_dir) / "admin_password"
    write_private(path, password + "\n")
    log.warning("created operator 'admin'; its password is in %s", path)
    return str(path)


def fail_interrupted_answers(db: Engine, settings: Settings) -> int:
    """Answers this replica left `streaming` (a crash, a restart) are marked failed, their partial text kept;
    so are anyone's older than ``server.stale_streaming_s``. Other replicas' live streams are left alone."""
    before = datetime.now(timezone.utc) - timedelta(seconds=settings.server.stale_streaming_s)
    return run_in_transaction(db, lambda s: store.mark_interrupted_messages(
        session=s, owner=replica_name(settings.server), before=before))
