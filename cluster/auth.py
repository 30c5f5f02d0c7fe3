"""Ray token authentication, for the processes `orch` starts that talk to a cluster.

Ray's rules (Ray 2.52+; read from ray/_private/worker.py and ray/scripts/scripts.py of
Ray 2.60, and https://docs.ray.io/en/latest/ray-security/token-auth.html):

- ``RAY_AUTH_MODE=token`` turns authentication on in a process. Every process that talks to
  the cluster (each node's ``ray start``, drivers, Jobs API clients) must have it.
- The token is ``RAY_AUTH_TOKEN``, else the file named by ``RAY_AUTH_TOKEN_PATH``, else
  ``~/.ray/auth_token``. A local ``ray.init()`` writes one there on Ray 2.59+.
- ``ray start --head``, a local ``ray.init()`` and ``address="auto"`` turn token mode on by
  themselves when a token exists. ``ray start --address`` and ``ray.init(address=HOST:PORT)``
  never do: without ``RAY_AUTH_MODE=token`` they send no token and the cluster answers
  ``InvalidAuthToken`` (after ~20 s of retries, for ``ray.init``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from orchestrator.errors import InputError

__all__ = ["send_token_if_available", "check_cluster", "token_fix"]


def send_token_if_available() -> None:
    """Send this machine's token to the cluster, as ``--address auto`` does: turn token mode
    on for this process when ``RAY_AUTH_MODE`` is unset and a token is there. A cluster
    without authentication ignores the token (checked on Ray 2.60), so this cannot break a
    connection; an explicit ``RAY_AUTH_MODE`` is left as the user set it."""
    if os.environ.get("RAY_AUTH_MODE") is not None:
        return
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
        from ray.exceptions import AuthenticationError
    except ImportError:  # Ray < 2.52 has no token authentication
        return
    try:
        have_token = AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True)
    except AuthenticationError as e:  # RAY_AUTH_TOKEN_PATH names a missing or empty file
        raise InputError(
            f"RAY_AUTH_TOKEN_PATH={os.environ.get('RAY_AUTH_TOKEN_PATH')}: no token in that file; write "
            "the cluster's token there (`ray get-auth-token` on the head node prints it) or unset it"
        ) from e
    if have_token:
        os.environ["RAY_AUTH_MODE"] = "token"
        Config.initialize("")  # Ray caches its config: make this process see the new mode


def token_fix(where: str) -> str:
    """One line: what is wrong and how to fix it, for a cluster that refused our token."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        put = "set RAY_AUTH_TOKEN (set here, it comes first) to it"
    elif os.environ.get("RAY_AUTH_TOKEN_PATH"):
        put = f"write it to {os.environ['RAY_AUTH_TOKEN_PATH']} (RAY_AUTH_TOKEN_PATH)"
    else:
        put = "save it here as ~/.ray/auth_token (or export RAY_AUTH_TOKEN=<token>)"
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        put += ", and unset RAY_AUTH_MODE (it is 'disabled' here)"
    return (
        f"the Ray cluster at {where} refused this machine's authentication token (missing or not "
        f"the cluster's): print the cluster's token with `ray get-auth-token` on the head node and {put}"
    )


def check_cluster(address: str) -> None:
    """Ask the cluster's GCS at ``address`` (HOST:PORT) whether it accepts us, and fail with one
    line naming the fix: in milliseconds when it refuses our token (``ray.init`` would retry for
    20 s and then say only "Failed to connect"), in Ray's 40 s when nothing there speaks GCS
    (``ray.init`` would wait as long and then fail without a reason)."""
    try:
        from ray._raylet import GcsClient
        from ray.exceptions import AuthenticationError, RpcError
    except ImportError:
        return
    with _stderr_discarded():  # Ray's C++ client logs every failed attempt to fd 2
        try:
            GcsClient(address=address)
        except AuthenticationError as e:
            raise InputError(token_fix(address)) from e
        except RpcError as e:
            raise InputError(
                f"no Ray cluster answers at {address} ({e}); --address takes HOST:PORT of the head "
                "node's GCS (`ray start --head --port`, default 6379); the dashboard address "
                "(http://HEAD:8265) is for `orch submit` and `orch jobs`"
            ) from e


@contextlib.contextmanager
def _stderr_discarded() -> Iterator[None]:
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
