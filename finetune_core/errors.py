"""Errors a person can act on: each carries one sentence saying what is wrong and what to do.

The CLI prints `str(exc)` and exits non-zero; the UI shows it next to the field. Anything
that is not a FinetuneError is a bug and is reported as such. Callers branch on the type
(`except RepoNotFoundError`), never on the text. Hub failures of every library (huggingface_hub,
httpx, transformers, datasets) become the typed errors below in one place: hub/net.py
`translate`.
"""

from __future__ import annotations

import os


class FinetuneError(Exception):
    """Base class: the message is shown to the user as it is."""


class ConfigError(FinetuneError):
    """A setting is missing, of the wrong type or out of range."""


class DataError(FinetuneError):
    """The dataset cannot be loaded or does not fit the run."""


class ModelError(FinetuneError):
    """The model cannot be loaded or does not fit the run."""


class HubError(FinetuneError):
    """The Hub refused or could not answer (missing, gated, offline)."""

    def __init__(self, message: str, *, kind: str | None = None, repo_id: str | None = None):
        super().__init__(message)
        self.kind, self.repo_id = kind, repo_id


class RepoNotFoundError(HubError):
    """No such model or dataset on the Hub (or a private one without the right token)."""


class GatedRepoError(HubError):
    """The repo is gated: the user must request access and log in."""


class HubAuthError(HubError):
    """The Hub refused the token (401), or this token may not read or write the repo (403)."""


class InvalidRepoIdError(HubError):
    """The text is not a repo id the Hub accepts."""


class HubUnavailableError(HubError):
    """The Hub cannot be used now: offline, unreachable, too slow, or a server error."""

    def __init__(self, message: str, *, reason: str = "", **where: str | None):
        super().__init__(message, **where)
        self.reason = reason


class RunError(FinetuneError):
    """The run directory or a running job is in a state that forbids the action."""


class DependencyError(FinetuneError):
    """An optional feature's packages are not installed; the sentence names the extra."""


def how_to_sign_in(hosted: bool) -> str:
    """How a person gives the dashboard their token: locally HF_TOKEN works; hosted (a
    Space) HF_TOKEN is the host's, so a visitor signs in or pastes a token on the page."""
    if hosted:
        return "sign in with Hugging Face (or paste a token on the page)"
    return "log in (or set HF_TOKEN)"


def gated_sentence(label: str, repo_id: str, *, hosted: bool = False) -> str:
    """The one wording for a gated repo (model, dataset, card: all say the same); `hosted`
    comes from host/paths.hosted(), which this module may not import."""
    return (
        f"{label} {repo_id} is gated; request access on its Hub page and "
        f"{how_to_sign_in(hosted)} before using it."
    )


def redact(text: str, token: str | None = None) -> str:
    """Remove the user's and the host's tokens from anything that is written or shown."""
    for secret in (token, os.environ.get("HF_TOKEN"), os.environ.get("HUGGING_FACE_HUB_TOKEN")):
        if secret and len(secret) >= 8:
            text = text.replace(secret, "***")
    return text
