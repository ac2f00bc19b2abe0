"""An external vLLM server (``MATHCHAT_VLLM__URL``): the app never loads weights for it, it only reads what it serves.

Someone else runs that server (often on another host, behind a load balancer), so a promotion cannot start a
server or swap weights here; what it can do is tell which checkpoint the server really serves, from its
``/v1/models``, and say when an operator must switch it. A listed model serves a checkpoint when its name
(vLLM's ``--served-model-name``) is the checkpoint id, or its root is the checkpoint's path or ends in the
same folder name (the server's host may mount checkpoints elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

import httpx

from serving.engine import EngineError
from serving.router import Endpoint
from serving.vllm_engine import strip_v1


@dataclass(frozen=True)
class ServedModel:
    """One entry of an OpenAI-compatible server's ``/v1/models``."""

    id: str
    """The name requests use (``--served-model-name``; by default the model path)."""
    root: str
    """The weights it was loaded from (vLLM's ``root``; the id when the server does not say)."""


def list_served_models(base_url: str, timeout_s: float = 5.0) -> list[ServedModel]:
    """What the server at ``base_url`` serves now (EngineError when it cannot be read)."""
    try:
        resp = httpx.get(f"{strip_v1(base_url)}/v1/models", timeout=timeout_s)
        resp.raise_for_status()
        return [ServedModel(str(m["id"]), str(m.get("root") or m["id"])) for m in resp.json()["data"]]
    except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
        raise EngineError(f"cannot list models at {base_url}: {exc}") from exc


def serves(model: ServedModel, checkpoint_id: str, path: str) -> bool:
    """Whether ``model`` is the checkpoint ``checkpoint_id`` stored at ``path``.

    >>> serves(ServedModel("rft-7", "/srv/x"), "rft-7", "/ckpt/rft-7"), serves(ServedModel("m", "/mnt/a/rft-7"), "rft-7", "/ckpt/rft-7")
    (True, True)
    >>> serves(ServedModel("base", "/ckpt/base"), "rft-7", "/ckpt/rft-7")
    False
    """
    folder = PurePath(path.rstrip("/")).name
    return checkpoint_id in (model.id, model.root) or path in (model.id, model.root) or \
        bool(folder) and folder in (PurePath(model.root.rstrip("/")).name, PurePath(model.id.rstrip("/")).name)


def endpoint_for(base_url: str, models: list[ServedModel], checkpoint_id: str, path: str) -> Endpoint:
    """The endpoint answers go to: the model that serves ``checkpoint_id`` (recorded under that id), else the
    first model listed, recorded under its own name (answers never claim a checkpoint the server does not serve)."""
    if not models:
        raise EngineError(f"the model server at {base_url} lists no model")
    match = next((m for m in models if serves(m, checkpoint_id, path)), None)
    if match is not None:
        return Endpoint(strip_v1(base_url), match.id, checkpoint_id)
    return Endpoint(strip_v1(base_url), models[0].id, models[0].id)


def operator_message(base_url: str, models: list[ServedModel], checkpoint_id: str, path: str) -> str:
    """What the operator must do to make the external server serve ``checkpoint_id``.

    >>> operator_message("http://gpu:8000", [ServedModel("base", "/m/base")], "rft-7", "/ckpt/rft-7")
    "an operator must switch the external server http://gpu:8000 to rft-7 (weights at /ckpt/rft-7, e.g. vllm serve /ckpt/rft-7 --served-model-name rft-7); it serves 'base' now"
    """
    served = ", ".join(repr(m.id) for m in models) or "nothing"
    return (f"an operator must switch the external server {base_url} to {checkpoint_id} (weights at {path}, "
            f"e.g. vllm serve {path} --served-model-name {checkpoint_id}); it serves {served} now")


def describe_external(base_url: str, served_checkpoint: str) -> dict:
    """What health and status pages show: the server, what it lists now, the checkpoint answers are recorded under."""
    try:
        models: list | str = [{"id": m.id, "root": m.root} for m in list_served_models(base_url)]
    except EngineError as exc:
        models = f"unreadable: {exc}"
    return {"url": base_url, "models": models, "served_checkpoint": served_checkpoint}
