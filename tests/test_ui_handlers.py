"""The dashboard's handlers as plain functions (no server): each step of the page."""

import io
import zipfile

import pytest
import tiny

from finetune_core.config import RunConfig
from finetune_core.errors import DataError
from finetune_core.ui import (
    data_tab,
    freeze_tab,
    model_tab,
    queued,
    results_tab,
    runs_tab,
    train_tab,
    uploads,
)
from finetune_core.ui.form import form_keys, to_values

GROUPS = [
    {"name": "bert.embeddings", "kind": "embeddings", "params": 100},
    {"name": "bert.encoder.layer.0", "kind": "block", "params": 50},
    {"name": "bert.encoder.layer.1", "kind": "block", "params": 50},
    {"name": "bert.encoder.layer.2", "kind": "block", "params": 50},
    {"name": "bert.pooler", "kind": "other", "params": 10},
    {"name": "classifier", "kind": "head", "params": 4},
]


def test_model_search_and_card_through_the_fake_hub(fake_hub, tiny_bert):
    fake_hub.add_model("handlers-org/tiny-bert", tiny_bert, downloads=7, pipeline_tag="fill-mask")
    rows, notice, _ = model_tab.search("handlers-org", "any backbone", "downloads")
    assert rows and rows[0][0] == "handlers-org/tiny-bert" and notice == ""
    md, groups, msg = model_tab.card("handlers-org/tiny-bert", "3")
    assert msg == "" and "handlers-org/tiny-bert" in md
    assert groups[-1] == {"name": "classifier", "kind": "head", "params": 32 * 3 + 3}
    md, groups, msg = model_tab.card("handlers-org/missing-model", 2)
    assert groups is None and "was not found" in msg


def test_dataset_card_fills_the_pickers_and_class_count(text_csv):
    card = data_tab.card(str(text_csv))
    assert card.get("error") is None, card
    assert card["label_column"] == "verdict" and card["text_column"] == "review_body"
    view = data_tab.card_view(card)
    assert view.thumbnails == []  # text data: no sample images
    assert "neg" in view.markdown and view.warn == ""
    assert view.columns["text_column"][1] == "review_body"
    assert view.columns["label_column"] == (
        [data_tab.NONE, "review_body", "verdict"],
        "verdict",
    )
    assert "Enter a dataset" in data_tab.card("  ")["error"]


def test_freeze_presets_and_trainable_count():
    assert freeze_tab.preset_frozen(GROUPS, freeze_tab.HEAD_ONLY) == [
        g["name"] for g in GROUPS[:-1]
    ]
    assert freeze_tab.preset_frozen(GROUPS, freeze_tab.EVERYTHING) == []
    assert freeze_tab.preset_frozen(GROUPS, freeze_tab.HEAD_POOLER) == [
        g["name"] for g in GROUPS[:4]
    ]
    assert freeze_tab.preset_frozen(GROUPS, freeze_tab.LAST_N, 2) == [
        "bert.embeddings",
        "bert.encoder.layer.0",
    ]
    text = freeze_tab.trainable_text(GROUPS, ["bert.embeddings"])
    assert "Trainable 164 of 264 parameters (62.12%)" in text
    assert "nothing is trainable" in freeze_tab.trainable_text(GROUPS, [g["name"] for g in GROUPS])
    assert freeze_tab.freeze_value(GROUPS, [g["name"] for g in GROUPS[:-1]]) == "backbone"
    assert freeze_tab.freeze_value(GROUPS, []) == "none"
    assert freeze_tab.freeze_value(GROUPS, ["bert.embeddings"]) == ["bert.embeddings"]
    tree = freeze_tab.tree_html(GROUPS, ["bert.embeddings"])
    assert tree.count("[frozen]") == 1 and tree.count("[train]") == 5


def form(**change):
    values = {k: None for k in train_tab_keys()}
    values.update(
        model="org/m",
        dataset="org/d",
        epochs=2,
        learning_rate="",
        batch_size=8,
        max_length=32,
        seed=1,
        device="auto",
        validation_fraction=0.1,
        logging_steps=5,
        save_steps=50,
        save_total_limit=2,
        feature_cache=True,
        weight_decay=0.0,
        warmup_ratio=0.0,
        text_column=data_tab.NONE,
        image_column=data_tab.NONE,
        label_column="label",
        num_labels="",
        frozen=[g["name"] for g in GROUPS[:-1]],
    )
    values.update(change)
    return values


def train_tab_keys():
    return [*form_keys(), "frozen"]


def test_form_becomes_a_config_yaml_and_cli_line(tmp_path):
    cfg = train_tab.form_config(form(), GROUPS)
    assert cfg.freeze == "backbone" and cfg.learning_rate is None and cfg.num_labels is None
    assert cfg.label_column == "label" and cfg.text_column is None
    yaml_text, cli, path = train_tab.preview(form(), GROUPS)
    assert RunConfig.load(path) == cfg and "model: org/m" in yaml_text
    assert cli.startswith("finetune train --config run.yaml")
    assert "--epochs 2.0" in cli or "--epochs 2" in cli
    bad_yaml, _, no_file = train_tab.preview(form(batch_size=0), GROUPS)
    assert bad_yaml.startswith("# batch_size must be at least 1") and no_file is None


def test_config_upload_fills_the_form(tmp_path):
    path = tmp_path / "run.yaml"
    RunConfig.from_dict({"model": "org/x", "dataset": "d.csv", "epochs": 7, "freeze": ["a"]}).save(
        path
    )
    cfg, err = train_tab.config_upload(str(path))
    values = to_values(cfg)
    assert err == "" and values["model"] == "org/x" and values["epochs"] == 7
    assert cfg.freeze == ["a"] and values["label_column"] == data_tab.NONE
    # the values go back through the form into the same config
    assert train_tab.form_config({**values, "frozen": ["a"]}, None) == cfg
    path.write_text("nonsense_key: 1\n")
    cfg, err = train_tab.config_upload(str(path))
    assert cfg is None and "Unknown config key 'nonsense_key'" in err


def test_start_poll_results_and_owner_isolation(tiny_bert, text_csv, monkeypatch):
    """Hosted for strangers: each browser sees only its own runs. Locally one person uses the
    dashboard, so every tab sees every run."""
    monkeypatch.setenv("FINETUNE_HOSTED", "1")
    monkeypatch.setenv("FINETUNE_ALLOWED_PATHS", f"{tiny_bert}:{text_csv.parent}")
    values = form(
        model=str(tiny_bert),
        dataset=str(text_csv),
        epochs=1,
        max_length=16,
        label_column="verdict",
        text_column="review_body",
        frozen=[],
        num_labels="3",
        logging_steps=1,
    )
    owner, job_id, note = train_tab.start(None, values, None)
    assert job_id and "Started" in note and len(owner) == 32
    assert train_tab.poll("someone-else-entirely", job_id, False, -1) == {}
    assert "No running job of yours" in train_tab.stop("someone-else-entirely", job_id)
    deadline = __import__("time").monotonic() + 90
    while True:
        p = train_tab.poll(owner, job_id, False, -1)
        if not p["active"]:
            break
        assert __import__("time").monotonic() < deadline, "run did not finish"
        __import__("time").sleep(0.5)
    assert p["status"].state == "completed" and "figures" in p
    assert train_tab.poll(owner, job_id, False, p["records"]).get("figures") is None  # unchanged
    html = train_tab.progress_html(p["progress"], None, p["status"])
    assert "completed" in html and "100.0%" in html
    summary = results_tab.summary(results_tab.run_dir_of(owner, job_id))
    assert "Accuracy" in summary["text"] and len(summary["confusion"]) == 3
    action_id, msg = results_tab.try_model(owner, job_id, "good great love", None)
    assert action_id and "Predicting" in msg  # a queued job: never inside the page's event
    assert queued.poll("someone-else-entirely", {"predict": action_id}) == ({}, {})
    probs, msg, _ = wait_action(owner, "predict", action_id)
    assert msg == "" and set(probs) == {"neg", "neu", "pos"}
    assert abs(sum(probs.values()) - 1) < 1e-5
    assert results_tab.run_dir_of("intruder", job_id) is None
    # Results for any of this browser's runs, picked by name; never another browser's
    assert [i for _, i in results_tab.my_runs(owner)] == [job_id]
    text, *_, pick = results_tab._show(owner, None, job_id)
    assert "Accuracy" in text and pick["value"] == job_id
    assert results_tab._show("intruder", None, job_id)[-1]["choices"] == []
    assert "needs your Hugging Face token" in results_tab.push(owner, job_id, "me/m", True, None)
    zip_path, _ = results_tab.download(owner, job_id)
    assert "config.json" in zipfile.ZipFile(zip_path).namelist()
    rows, _ = runs_tab.table(owner)
    assert any(r[2] == "completed" and r[3] == str(tiny_bert) for r in rows)
    # another browser does not see it at all
    others, _ = runs_tab.table("someone-else-entirely")
    assert not any(str(tiny_bert) in r or str(text_csv) in r for r in others)
    run_name = results_tab.run_dir_of(owner, job_id).name
    assert all(r[0] != run_name for r in others)
    with monkeypatch.context() as local:  # not hosted: the single user owns every run
        local.delenv("FINETUNE_HOSTED")
        assert train_tab.poll("someone-else-entirely", job_id, False, -1)["status"].state
        rows, _ = runs_tab.table("someone-else-entirely")
        assert any(r[0] == run_name and r[3] == str(tiny_bert) for r in rows)
    # the owner names a run and notes it (a file in the run dir); nobody else can
    run_dir = results_tab.run_dir_of(owner, job_id)
    assert run_dir.name in runs_tab.editable(owner)["choices"]
    assert runs_tab.editable("someone-else-entirely")["choices"] == []
    *_, note = runs_tab.save_notes("someone-else-entirely", run_dir.name, "mine", "")
    assert "Pick one of your runs" in note and not (run_dir / "notes.json").exists()
    rows, _, note = runs_tab.save_notes(owner, run_dir.name, "  first\n try ", "lr 5e-3")
    assert "Saved" in note and any(r[0] == run_dir.name and r[1] == "first try" for r in rows)
    assert runs_tab.notes_of(owner, run_dir.name)[:2] == ("first try", "lr 5e-3")
    *_, note = runs_tab.save_notes(owner, run_dir.name, "x" * 81, "")
    assert "at most 80 characters" in note
    assert runs_tab.notes_of(owner, run_dir.name)[0] == "first try"
    # only the owner deletes a run, and only when asked twice
    *_, note = runs_tab.delete("someone-else-entirely", [run_dir.name], True)
    assert "Not deleted" in note and run_dir.is_dir()
    *_, note = runs_tab.delete(owner, [run_dir.name], False)
    assert "Tick" in note and run_dir.is_dir()
    rows, _, note = runs_tab.delete(owner, [run_dir.name], True)
    assert "Deleted 1 run" in note and not run_dir.exists()
    assert all(r[0] != run_dir.name for r in rows)
    assert "was deleted" in results_tab.summary(run_dir)["text"]


def test_bad_form_values_give_one_sentence():
    _, job_id, note = train_tab.start(None, form(learning_rate="-1"), GROUPS)
    assert job_id is None and "learning_rate must be greater than 0" in note
    _, job_id, note = train_tab.start(None, form(num_labels="1"), GROUPS)
    assert job_id is None and "num_labels must be at least 2" in note


def _zip(entries: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf


def test_uploads_unzip_an_image_folder_and_refuse_zip_slip(tmp_path, image_folder):
    good = tmp_path / "colors.zip"
    with zipfile.ZipFile(good, "w") as z:
        for f in image_folder.rglob("*.png"):
            z.write(f, f"colors/{f.parent.name}/{f.name}")
    root = uploads.save_data_upload(good)
    assert sorted(p.name for p in root.iterdir()) == ["blue", "red"]

    evil = tmp_path / "evil.zip"
    evil.write_bytes(_zip({"ok/a.csv": b"text,label\n", "../../escape.txt": b"x"}).getvalue())
    with pytest.raises(DataError, match="unsafe path"):
        uploads.save_data_upload(evil)
    bad_type = tmp_path / "notes.exe"
    bad_type.write_bytes(b"MZ")
    with pytest.raises(DataError, match="not a supported upload"):
        uploads.save_data_upload(bad_type)


def test_upload_size_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("FINETUNE_MAX_UPLOAD_MB", "0.001")
    big = tiny.write_csv(tmp_path / "big.csv", tiny.text_rows(200))
    with pytest.raises(DataError, match="over the 0 MB upload limit"):
        uploads.save_data_upload(big)


def test_image_dataset_card_shows_thumbnails(image_folder):
    card = data_tab.card(str(image_folder))
    view = data_tab.card_view(card)
    assert len(card["label_names"]) == 2
    images = view.thumbnails
    assert 1 <= len(images) <= 8
    assert {label for _, label in images} <= {"red", "blue"}
    assert max(images[0][0].size) <= 96
    # the preview shows the images themselves (inline, built by the page) with their class
    assert view.datatype == ["html", "str"] and len(view.rows) == len(images)
    cell, label = view.rows[0]
    assert cell.startswith('<img src="data:image/png;base64,') and label in {"red", "blue"}


def test_progress_shows_what_runs_before_the_first_step():
    from finetune_core import charts
    from finetune_core.runs import RunStatus, phases

    def shown(status: RunStatus) -> str:
        return train_tab.progress_html(charts.progress(status.to_dict(), []), None, status)

    status = RunStatus(state="running", step=0, phase=phases.CACHING)
    status = status.with_(phase_done=1200, phase_total=4000)
    html = shown(status)
    assert f"{phases.CACHING}: 1,200 of 4,000 examples" in html and "width:30.0%" in html
    status = status.with_(phase=phases.LOADING_MODEL, phase_done=None, phase_total=None)
    assert "running</b> · loading the model…" in shown(status)
    assert "step 0/?" in shown(status.with_(phase=phases.TRAINING))
    failed = {"state": "failed", "error": "Model x was not found."}
    status = status.with_(phase=phases.LOADING_MODEL, **failed)
    html = shown(status)
    assert "loading the model" not in html and "Model x was not found." in html


def wait_action(owner: str, kind: str, action_id: str, seconds: float = 120) -> tuple:
    """Poll one queued action of the results step, as the page's timer does, until done:
    (output value, notice, True)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        left, shown = queued.poll(owner, {kind: action_id})
        if not left:
            return shown[kind]
        assert time.monotonic() < deadline, f"the {kind} action did not finish"
        time.sleep(0.2)
