"""Plumbing shared by every Hub caller: endpoint, token, deadlines, and the one error translator.

huggingface_hub retries refused connections for 15-20 s and a hung server can hold a socket
much longer, so every Hub call here runs in a daemon thread with its own short deadline
(FINETUNE_HUB_TIMEOUT, default 4 s) and is abandoned when it passes: the caller answers
from offline sources instead of freezing the UI.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from finetune_core.errors import (
    GatedRepoError,
    HubAuthError,
    HubError,
    HubUnavailableError,
    InvalidRepoIdError,
    RepoNotFoundError,
    gated_sentence,
    how_to_sign_in,
    redact,
)

T = TypeVar("T")
DEFAULT_TIMEOUT = 4.0
DEFAULT_CACHE_TTL = 60.0


class DeadlineExceeded(Exception):
    """The Hub did not answer before the deadline."""


def endpoint() -> str:
    """The Hub URL, read at call time so tests and hosts can point it elsewhere."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def resolve_token(token: str | None) -> str | bool | None:
    """The token to send for a caller: theirs when given; else, locally, HF_TOKEN (None lets
    huggingface_hub use the stored login); hosted, False: send none. huggingface_hub falls
    back to HF_TOKEN and the stored token when given None, so hosted calls must pass False,
    or a visitor without a token would borrow the host's account (gated models, private
    repos in search). Never logged or stored in results."""
    if token:
        return token
    from finetune_core.host.paths import hosted

    if hosted():
        forbid_implicit_token()
        return False
    return os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or None


def _hosted() -> bool:
    from finetune_core.host.paths import hosted

    return hosted()


def forbid_implicit_token() -> None:
    """Hosted mode, from the page's start (ui/hosting.py) and on each hosted Hub call: a call
    given no token (`token=None`, as model.py passes when the visitor has none) sends nothing
    instead of the host's HF_TOKEN (HF_HUB_DISABLE_IMPLICIT_TOKEN; subprocesses inherit it)."""
    from huggingface_hub import constants

    os.environ["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
    constants.HF_HUB_DISABLE_IMPLICIT_TOKEN = True


def token_key(token: str | bool | None) -> str:
    """A cache-key fragment that tells tokens apart without keeping the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:12] if isinstance(token, str) else "anon"


def offline_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_timeout(timeout: float | None = None) -> float:
    """Seconds a Hub call may take: the argument, else FINETUNE_HUB_TIMEOUT, else 4."""
    if timeout is not None:
        return float(timeout)
    try:
        return float(os.environ.get("FINETUNE_HUB_TIMEOUT") or DEFAULT_TIMEOUT)
    except ValueError:
        return DEFAULT_TIMEOUT


def cache_ttl() -> float:
    try:
        return float(os.environ.get("FINETUNE_HUB_CACHE_TTL") or DEFAULT_CACHE_TTL)
    except ValueError:
        return DEFAULT_CACHE_TTL


_DOWN: dict[str, Any] = {"until": 0.0, "reason": None}
DEFAULT_RETRY_AFTER = 15.0


def offline_reason() -> str | None:
    """Why the Hub is known to be unusable right now (HF_HUB_OFFLINE, or a failure within
    FINETUNE_HUB_RETRY_AFTER seconds, default 15), else None. Asks nothing over the network."""
    if offline_env():
        return "HF_HUB_OFFLINE=1 is set"
    if time.monotonic() < _DOWN["until"]:
        return _DOWN["reason"]
    return None


def mark_down(reason: str) -> None:
    """Remember a failure so the next calls answer offline at once instead of waiting again."""
    try:
        wait = float(os.environ.get("FINETUNE_HUB_RETRY_AFTER") or DEFAULT_RETRY_AFTER)
    except ValueError:
        wait = DEFAULT_RETRY_AFTER
    _DOWN.update(until=time.monotonic() + wait, reason=reason)


def clear_down() -> None:
    _DOWN.update(until=0.0, reason=None)


def run_with_deadline(fn: Callable[[], T], timeout: float) -> T:
    """Run `fn` in a daemon thread; raise DeadlineExceeded if it has not finished in time.

    A daemon thread (not an executor) so an abandoned call never delays interpreter exit.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="finetune-hub-call")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise DeadlineExceeded(f"the Hub did not answer within {seconds(timeout)} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def seconds(value: float) -> str:
    return f"{value:g}"


def unreachable_reason(exc: BaseException) -> str | None:
    """A plain reason when `exc` means the Hub cannot be used now (network, offline, 5xx)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(exc, DeadlineExceeded):
        return str(exc)
    if isinstance(exc, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE=1 is set"
    if isinstance(exc, httpx2.TimeoutException):
        return "the Hub did not answer in time"
    if isinstance(exc, (httpx2.TransportError, ConnectionError)):
        text = str(exc).lower()
        if "refused" in text:
            return "the Hub is unreachable: connection refused"
        if "name or service" in text or "resolution" in text or "nodename" in text:
            return "the Hub is unreachable: its name cannot be resolved (no network?)"
        return f"the Hub is unreachable: {type(exc).__name__}"
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status >= 500 or status == 429:
            return f"the Hub answered HTTP {status}"
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """exc and what it wraps: transformers and datasets re-raise Hub errors as OSError or
    their own types, with the original as the cause."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen and len(seen) < 10:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def translate(
    exc: BaseException, kind: str = "model", repo_id: str = "", *, action: str = "downloaded"
) -> HubError | None:
    """THE translator: the typed error for a Hub failure anywhere in `exc`'s chain (from
    huggingface_hub, httpx, transformers or datasets), or None when it is not one.

    kind "model" or "dataset" names the repo in the sentence; action says what could not
    be done when the Hub is unusable ("Model x could not be downloaded: ...")."""
    for err in _chain(exc):
        if isinstance(err, HubError):
            return err
        found = _typed(err, kind, repo_id, action)
        if found is not None:
            return found
    return None


def _typed(exc: BaseException, kind: str, repo_id: str, action: str) -> HubError | None:
    from huggingface_hub import errors as hf

    label = "Dataset" if kind == "dataset" else "Model"
    where = {"kind": kind, "repo_id": repo_id}
    if isinstance(exc, hf.GatedRepoError):
        return GatedRepoError(gated_sentence(label, repo_id, hosted=_hosted()), **where)
    if isinstance(exc, hf.RepositoryNotFoundError):
        return _missing(label, repo_id)
    if isinstance(exc, hf.RevisionNotFoundError):
        return RepoNotFoundError(
            f"{label} {repo_id} has no such revision on the Hub; check the revision.", **where
        )
    if isinstance(exc, hf.HFValidationError):
        return InvalidRepoIdError(
            f"'{repo_id[:100]}' is not a valid {kind} id; use owner/name or a local path.",
            **where,
        )
    if _is_dataset_not_found(exc):
        # datasets sometimes drops the Hub's error and says "gated" only in its own text
        if "gated" in str(exc).lower():
            return GatedRepoError(gated_sentence(label, repo_id, hosted=_hosted()), **where)
        return _missing(label, repo_id)
    reason = unreachable_reason(exc)
    if reason:
        return HubUnavailableError(
            f"{label} {repo_id} could not be {action}: {reason}.", reason=reason, **where
        )
    if isinstance(exc, hf.HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status == 401:
            fix = (
                "sign in again or paste a new token"
                if _hosted()
                else "log in again or fix HF_TOKEN"
            )
            return HubAuthError(f"The Hub refused the token (HTTP 401); {fix}.", **where)
        if status == 403:
            return HubAuthError(
                f"{label} {repo_id} is not accessible with this token (HTTP 403); request access "
                "on its Hub page.",
                **where,
            )
    return None


def _is_dataset_not_found(exc: BaseException) -> bool:
    cls = type(exc)
    return cls.__name__ == "DatasetNotFoundError" and cls.__module__.startswith("datasets")


def _missing(label: str, repo_id: str) -> RepoNotFoundError:
    return RepoNotFoundError(
        f"{label} {repo_id} was not found on the Hub; check the id, and for a private repo "
        f"{how_to_sign_in(_hosted())}.",
        kind=label.lower(),
        repo_id=repo_id,
    )


def write_error(exc: BaseException, action: str, repo_id: str, token: str | None) -> HubError:
    """The typed error for a failed Hub write (a push). Built from the status code, the error
    type and the Hub's first line only, and redacted, so a token can never reach the page."""
    from huggingface_hub.errors import HfHubHTTPError

    code = getattr(getattr(exc, "response", None), "status_code", None)
    first = (str(exc).strip().splitlines() or [""])[0][:200].rstrip(".")
    where = {"kind": "model", "repo_id": repo_id}
    if isinstance(exc, HfHubHTTPError) and code in (401, 403):
        text = f"The Hub refused the {action} to {repo_id} ({code}); use a token with write access."
        return HubAuthError(redact(text, token), **where)
    reason = unreachable_reason(exc)
    if reason or isinstance(exc, OSError) or type(exc).__module__.startswith("http"):
        text = f"The Hub could not be reached for the {action} to {repo_id} ({type(exc).__name__})."
        return HubUnavailableError(redact(text, token), reason=reason or "", **where)
    if isinstance(exc, HfHubHTTPError):
        return HubError(redact(f"The {action} to {repo_id} failed ({first}).", token), **where)
    text = f"The {action} to {repo_id} failed ({type(exc).__name__}: {first})."
    return HubError(redact(text, token), **where)


class TTLCache:
    """A small thread-safe dict whose entries expire after `ttl()` seconds (None: never)."""

    def __init__(self, ttl: Callable[[], float] | None = cache_ttl, max_items: int = 256) -> None:
        self._ttl = ttl
        self._max = max_items
        self._data: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if self._ttl is not None and time.monotonic() - item[0] > self._ttl():
                del self._data[key]
                return None
            return item[1]

    def put(self, key: Any, value: Any) -> Any:
        with self._lock:
            if len(self._data) >= self._max:
                self._data.pop(next(iter(self._data)))
            self._data[key] = (time.monotonic(), value)
        return value

    def pop(self, key: Any) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


# ---- hosted: what a visitor may load --------------------------------------------------
_ACCESS = TTLCache()


def hosted_offline_refusal(kind: str, repo_id: str, reason: str | None = None) -> HubError:
    """Hosted, the Hub unusable: the host's cache may hold gated or private repos the host
    fetched with their token, so nothing is taken from it for a visitor."""
    label = "Dataset" if kind == "dataset" else "Model"
    instead = "the demo data or an upload" if kind == "dataset" else "the bundled model"
    reason = reason or offline_reason() or "the Hub cannot be reached"
    return HubUnavailableError(
        f"{label} {repo_id} cannot be used now ({reason}): this hosted dashboard only loads "
        f"what the Hub confirms you may fetch; use {instead}, or try again later.",
        reason=reason,
        kind=kind,
        repo_id=repo_id,
    )


def check_hosted_access(kind: str, repo_id: str, token: str | None) -> None:
    """Hosted: use a Hub repo for a visitor only once the Hub itself confirms, for the
    visitor's own token (or none), that they may fetch it. Offline or with the Hub down,
    transformers and datasets quietly read the host's cache instead, which may hold gated
    or private repos the host downloaded. Locally nothing is checked."""
    if not _hosted():
        return
    sent = resolve_token(token)
    key = (kind, repo_id, token_key(sent))
    if _ACCESS.get(key):
        return
    if reason := offline_reason():
        raise hosted_offline_refusal(kind, repo_id, reason)
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint())
    try:
        run_with_deadline(
            lambda: api.auth_check(repo_id, repo_type=kind, token=sent), hub_timeout()
        )
    except Exception as exc:
        typed = translate(exc, kind, repo_id)
        if isinstance(typed, HubUnavailableError):
            mark_down(typed.reason)
            raise hosted_offline_refusal(kind, repo_id, typed.reason) from exc
        raise (typed or HubError(f"{kind} {repo_id}: {type(exc).__name__}")) from exc
    _ACCESS.put(key, True)
