"""Hosted-mode attacks through a real server (FINETUNE_HOSTED=1, the host's HF_TOKEN set, the
fake Hub): files reached through uploads, READMEs, symlinks and output_dir; the host's token
and private repos; config bombs. Each case asserts the one sentence, that the server still
answers, and that nothing was written outside the runs folder."""

from __future__ import annotations

import os

import hostile
import pytest
from fakehub_repo import RepoFile
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from finetune_core import runs
from finetune_core.host import paths
from finetune_core.jobs.manager import MANAGER

HOST_TOKEN = "hf_test_token"  # the fake Hub accepts it: borrowing it would open gated repos


@pytest.fixture(scope="module")
def hosted_server(fake_hub, tiny_bert, tmp_path_factory):
    from huggingface_hub import constants

    from finetune_core.ui.app import serve_local

    outside = tmp_path_factory.mktemp("outside")  # the host's files a visitor must not reach
    secret = outside / "secret.csv"
    secret.write_bytes(hostile.csv_bytes())
    allowed = tmp_path_factory.mktemp("allowed")  # FINETUNE_ALLOWED_PATHS, with a link out
    (allowed / "link.csv").symlink_to(secret)
    linked = allowed / "linked-folder"
    linked.mkdir()
    (linked / "train.csv").symlink_to(secret)
    fake_hub.add_model("host-org/gated-bert", tiny_bert, gated=True, pipeline_tag="fill-mask")
    fake_hub.add_model("host-org/secret-bert", tiny_bert, private=True, pipeline_tag="fill-mask")
    fake_hub.add_model("tests-org/hosted-bert", tiny_bert, pipeline_tag="fill-mask")
    hub_data = tmp_path_factory.mktemp("hub-data")
    (hub_data / "train.csv").write_bytes(hostile.csv_bytes())
    (hub_data / "README.md").write_text(
        f"---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
        f"    path: {secret}\n---\n"
    )
    fake_hub.add_dataset("evil-org/points-at-server", hub_data)
    bomb_data = tmp_path_factory.mktemp("hub-bomb")
    (bomb_data / "train.csv").write_bytes(hostile.csv_bytes())
    repo = fake_hub.add_dataset("evil-org/readme-bomb", bomb_data)
    bomb = tmp_path_factory.mktemp("hub-bomb-readme") / "README.md"
    bomb.write_text(f"---\n{hostile.alias_bomb()}---\n")
    # added after the repo, so the fake Hub's own card parser never expands it
    repo.files["README.md"] = RepoFile.read("README.md", bomb)
    saved = {
        k: os.environ.get(k) for k in ("FINETUNE_HOSTED", "HF_TOKEN", "FINETUNE_ALLOWED_PATHS")
    }
    implicit = (
        os.environ.get("HF_HUB_DISABLE_IMPLICIT_TOKEN"),
        constants.HF_HUB_DISABLE_IMPLICIT_TOKEN,
    )
    os.environ.update(FINETUNE_HOSTED="1", HF_TOKEN=HOST_TOKEN, FINETUNE_ALLOWED_PATHS=str(allowed))
    try:  # the environment comes back even when the server fails to start (else every later
        # test of the session would run hosted)
        demo, url = serve_local()
        world = {
            "url": url,
            "outside": outside,
            "secret": str(secret),
            "allowed": allowed,
            "bert": "tests-org/hosted-bert",
            "tmp": tmp_path_factory.mktemp("visitor"),
        }
        yield world
        MANAGER.shutdown()
        demo.close()
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
        if implicit[0] is None:
            os.environ.pop("HF_HUB_DISABLE_IMPLICIT_TOKEN", None)
        constants.HF_HUB_DISABLE_IMPLICIT_TOKEN = implicit[1]


@pytest.fixture(scope="module")
def visitor(hosted_server):
    """A browser-less visitor; its session picks the public model first, as the page does
    (the page's upload event needs a model picked)."""
    client = page_client(hosted_server["url"])
    client.upload_api = "/upload_and_use"
    client.predict(hosted_server["bert"], 128, None, api_name="/use_model")  # id, length, token
    return client


def page_client(url: str) -> Client:
    """A client that calls the page's own events the way the page does. They are private to
    gradio_client's listing (only the script API is public), not to the server: a stranger
    with raw HTTP reaches them too, so the attacks go through them."""
    client = Client(url, verbose=False)
    for dep in client.config["dependencies"]:
        if dep.get("api_visibility") == "private" and dep.get("api_name"):
            dep["api_visibility"] = "public"
            client.endpoints[dep["id"]].is_valid = True
    return client


def upload(visitor, path) -> tuple[str, str]:
    """A real upload through the page's upload event: (dataset path on the server, notice)."""
    out = visitor.predict(handle_file(str(path)), None, api_name=visitor.upload_api)
    out = list(out) if isinstance(out, list | tuple) else [out]
    return out[0], out[-1]


@pytest.fixture(scope="module")
def uploaded(hosted_server, visitor):
    """A good CSV and three READMEs that point outside their upload, uploaded for real."""
    tmp = hosted_server["tmp"]
    good = tmp / "good.csv"
    good.write_bytes(hostile.csv_bytes())
    out = {"good": upload(visitor, good)[0]}
    out["other"] = upload(visitor, good)[0]  # another visitor's upload, beside it
    readmes = {
        "absolute": hosted_server["secret"],
        "dotdot": "../" * 30 + os.path.relpath(hosted_server["secret"], "/"),
        "glob": "../../*/*.csv",
    }
    for name, target in readmes.items():
        out[name] = upload(visitor, hostile.readme_zip(tmp / f"{name}.zip", target))[0]
    bomb = f"---\n{hostile.alias_bomb()}---\n".encode()
    members = {"README.md": bomb, "train.csv": hostile.csv_bytes()}
    out["bomb"] = upload(visitor, hostile.write_zip(tmp / "bomb.zip", members))[0]
    return out


def config(model: str, dataset: str, **extra) -> str:
    lines = [f"model: {model}", f"dataset: {dataset}", "epochs: 1", "max_length: 16"]
    return "\n".join(lines + [f"{k}: {v}" for k, v in extra.items()]) + "\n"


# (case id, config text built from the world, expected words)
API_CASES = [
    (
        "output_dir absolute",
        lambda w, u: config(w["bert"], u["good"], output_dir=w["outside"] / "run"),
        "output_dir cannot be chosen",
    ),
    (
        "output_dir relative",
        lambda w, u: config(w["bert"], u["good"], output_dir="../../escaped"),
        "output_dir cannot be chosen",
    ),
    (
        "model a server folder",
        lambda w, u: config("/etc", u["good"]),
        "Local paths are not available",
    ),
    (
        "dataset a server file",
        lambda w, u: config(w["bert"], w["secret"]),
        "Local paths are not available",
    ),
    (
        "dataset /etc/passwd",
        lambda w, u: config(w["bert"], "/etc/passwd"),
        "Local paths are not available",
    ),
    (
        "dataset the uploads root",
        lambda w, u: config(w["bert"], paths.uploads_root()),
        "Local paths are not available",
    ),
    ("dataset with ~", lambda w, u: config(w["bert"], "~/.cache"), "Local paths are not available"),
    (
        "README absolute data_files",
        lambda w, u: config(w["bert"], u["absolute"]),
        "points outside itself",
    ),
    ("README ../ data_files", lambda w, u: config(w["bert"], u["dotdot"]), "points outside itself"),
    (
        "README glob over other uploads",
        lambda w, u: config(w["bert"], u["glob"]),
        "points outside itself",
    ),
    (
        "README front matter alias bomb",
        lambda w, u: config(w["bert"], u["bomb"]),
        "README.md uses a YAML anchor or alias",
    ),
    (
        "Hub README alias bomb",
        lambda w, u: config(w["bert"], "evil-org/readme-bomb"),
        "evil-org/readme-bomb/README.md uses a YAML anchor or alias",
    ),
    (
        "symlinked file in an allowed folder",
        lambda w, u: config(w["bert"], w["allowed"] / "link.csv"),
        "Local paths are not available",
    ),
    (
        "folder of symlinks",
        lambda w, u: config(w["bert"], w["allowed"] / "linked-folder"),
        "points outside itself",
    ),
    (
        "Hub README pointing at a server file",
        lambda w, u: config(w["bert"], "evil-org/points-at-server"),
        "Data files don't belong to evil-org/points-at-server",
    ),
    (
        "a file format as a dataset id",
        lambda w, u: config(w["bert"], "csv"),
        "'csv' is a file format, not a dataset",
    ),
    (
        "gated model, host token set",
        lambda w, u: config("host-org/gated-bert", u["good"]),
        "is gated",
    ),
    (
        "host's private model",
        lambda w, u: config("host-org/secret-bert", u["good"]),
        "was not found on the Hub",
    ),
    (
        "checkpoint push without a token",
        lambda w, u: config(w["bert"], u["good"], push_checkpoints_to="me/ckpt"),
        "needs your Hugging Face token",
    ),
    (
        "dataset_config on one file",
        lambda w, u: config(w["bert"], u["good"], dataset_config="x"),
        "only applies to Hub datasets",
    ),
    (
        "alias bomb in label_names",
        lambda w, u: hostile.alias_bomb("label_names"),
        "anchor or alias",
    ),
    (
        "alias bomb in weight_decay",
        lambda w, u: hostile.alias_bomb("weight_decay"),
        "anchor or alias",
    ),
    ("an anchor alone", lambda w, u: "model: &m x\ndataset: y\n", "anchor or alias"),
    (
        "config over 1 MB",
        lambda w, u: "model: x\n#" + "x" * 1_100_000,
        "over the limit of 1,000,000",
    ),
    ("config nested deep", lambda w, u: "model: " + "[" * 50_000, "nested more than"),
    (
        "list of 100,001 labels",
        lambda w, u: "label_names: [" + ",".join(["a"] * 100_001) + "]",
        "over the limit of 100,000",
    ),
    ("config that is a list", lambda w, u: "- a\n- b\n", "must be a mapping"),
    ("config that is JSON garbage", lambda w, u: '{"model": ', "not valid YAML or JSON"),
]


@pytest.mark.parametrize(("case", "make", "expected"), API_CASES, ids=[c[0] for c in API_CASES])
def test_api_attacks(hosted_server, visitor, uploaded, case, make, expected):
    runs_root = runs.runs_root().resolve()
    watched = [hosted_server["outside"], hosted_server["outside"].parent]
    before = hostile.snapshot(*watched)
    runs_before = set(runs_root.iterdir()) if runs_root.exists() else set()
    answer = visitor.predict(make(hosted_server, uploaded), api_name="/start_run")
    assert answer["job_id"] is None, f"{case}: a job was queued"
    assert expected in answer["error"], answer["error"]
    assert "\n" not in answer["error"] and "Traceback" not in answer["error"]
    assert HOST_TOKEN not in answer["error"]
    assert str(hosted_server["outside"]) not in answer["error"]  # no server paths told
    assert isinstance(
        visitor.predict(api_name="/my_runs"), list
    )  # the server answers  # the server still answers
    assert hostile.snapshot(*watched) - before == set(), "written outside the runs folder"
    assert set(runs_root.iterdir()) == runs_before, "a refused start left a run folder"


# (case id, archive builder, expected words): real uploads through the page's upload event
UPLOAD_CASES = [
    (
        "zip with a file and a folder of one name",
        lambda t: hostile.write_zip(
            t / "clash.zip", {"imgs/red": b"x", "imgs/red/a.png": hostile.png_bytes()}
        ),
        "both as a file and as a folder",
    ),
    ("zip with a bad CRC", lambda t: hostile.bad_crc_zip(t / "crc.zip"), "is damaged"),
    (
        "zip slip",
        lambda t: hostile.write_zip(t / "slip.zip", {"../../escaped.csv": b"a,b\n"}),
        "unsafe path",
    ),
    (
        "zip with an absolute path",
        lambda t: hostile.write_zip(t / "abs.zip", {"/tmp/escaped.csv": b"a,b\n"}),
        "unsafe path",
    ),
    (
        "zip that is not a zip",
        lambda t: _write(t / "fake.zip", b"not a zip at all"),
        "not a valid zip file",
    ),
    ("empty zip", lambda t: hostile.write_zip(t / "empty.zip", {}), "holds no files"),
    (
        "the same name twice",
        lambda t: _dup_zip(t / "dup.zip"),
        "both as a file and as a folder (or twice)",
    ),
    (
        "unsupported file type",
        lambda t: _write(t / "tool.sh", b"rm -rf /\n"),
        "upload a file that is one of these formats",
    ),
]


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _dup_zip(path):
    import warnings
    import zipfile

    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as z:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        z.writestr("data/train.csv", hostile.csv_bytes())
        z.writestr("data/train.csv", hostile.csv_bytes())
    return path


@pytest.mark.parametrize(
    ("case", "make", "expected"), UPLOAD_CASES, ids=[c[0] for c in UPLOAD_CASES]
)
def test_upload_attacks(hosted_server, visitor, case, make, expected):
    root = paths.uploads_root()
    archive = make(hosted_server["tmp"])
    before = hostile.snapshot(root, hosted_server["outside"].parent)
    try:
        _, notice = upload(visitor, archive)
    except AppError as exc:  # gradio's own check of the file type comes first
        notice = str(exc)
    assert expected in notice, notice
    assert "Traceback" not in notice
    assert hostile.snapshot(root, hosted_server["outside"].parent) == before, "files left behind"
    assert isinstance(visitor.predict(api_name="/my_runs"), list)  # the server answers


def test_a_good_upload_still_trains_when_hosted(hosted_server, visitor, uploaded, tiny_bert):
    """The policy refuses the attacks above, not the normal use: an upload and a public model."""
    from finetune_core.ui import common

    assert common.check_local_path(uploaded["good"]) is None
    answer = visitor.predict(
        config("tests-org/hosted-bert", uploaded["good"]), api_name="/start_run"
    )
    assert answer["error"] is None and answer["job_id"], answer
    assert visitor.predict(answer["job_id"], api_name="/stop_run")["stopping"] is True


def test_search_never_lists_the_hosts_private_repos(hosted_server):
    """The page's search handler, hosted with the host's HF_TOKEN set: anonymous results only."""
    from finetune_core import hub
    from finetune_core.ui import model_tab

    hub.clear_cache()
    rows, _, _ = model_tab.search("bert", "any backbone", "downloads")
    ids = {str(r[0]) for r in rows}
    assert any("gated-bert" in i for i in ids), rows  # the public listing is there
    assert not any("secret-bert" in i for i in ids), rows
    result = hub.search_models(query="secret", limit=20)
    assert "host-org/secret-bert" not in {h.id for h in result.results}
