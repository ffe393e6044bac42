"""Who may see a run, kept in the run folder (owner.json), so a server restart keeps it.

    owner key               whose
    "hf:<username>"         a visitor signed in with Hugging Face: theirs in any browser
    random 128-bit hex      an anonymous visitor: the key their browser keeps
    "api-<session>"         a script API client: its session

Only a hash of the key is written (a salted sha256; keys are random or public names, so the
hash is never a way in), and lookups compare hashes in constant time. On a dashboard that is
not hosted for others, the single user owns every run (`single_user`): every tab, the CLI's
runs and an earlier server's runs are all theirs.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from finetune_core import runs
from finetune_core.host import paths

_SALT = "finetune-dashboard owner v1\0"
SIGNED_IN = "hf:"  # the prefix of a signed-in visitor's key (a Hub username follows)


def digest(owner: str) -> str:
    """The stored form of an owner key ("" for no owner: nobody but the single user)."""
    return hashlib.sha256((_SALT + owner).encode()).hexdigest() if owner else ""


def signed_in(username: str) -> str:
    """The owner key of a visitor signed in with Hugging Face."""
    return f"{SIGNED_IN}{username}"


def single_user() -> bool:
    """Not hosted for others: the one person at this machine owns every run."""
    return not paths.hosted()


def matches(owner: str | None, stored: str) -> bool:
    """Whether `owner` is the owner whose digest is `stored` (or the single user)."""
    if single_user():
        return True
    return bool(owner and stored) and secrets.compare_digest(digest(owner), stored)


@dataclass(frozen=True)
class Owner:
    digest: str
    job_id: str | None
    created: str | None


def record(run_dir: str | Path, owner_digest: str, job_id: str) -> None:
    """Write owner.json for a run a job started (or resumed: the job id changes)."""
    rd = runs.RunDir(run_dir)
    previous = read(run_dir)
    rd.write_json(
        rd.owner_path,
        {
            "owner": owner_digest,
            "job_id": job_id,
            "created": previous.created if previous else runs.now_iso(),
        },
    )


def read(run_dir: str | Path) -> Owner | None:
    """owner.json of a run; None for a run no job started (the CLI) or an unreadable file."""
    data = runs.read_json(runs.RunDir(run_dir).owner_path)
    if not data or not isinstance(data.get("owner"), str):
        return None
    job_id = data.get("job_id")
    created = data.get("created")
    return Owner(
        data["owner"],
        job_id if isinstance(job_id, str) and job_id else None,
        created if isinstance(created, str) else None,
    )
