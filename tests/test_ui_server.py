"""A real Gradio server on 127.0.0.1 driven by gradio_client: start, watch, stop, isolation,
and the queue (one job trains at a time on CPU; the next waits with its position)."""

import pytest
from browser import wait_for as wait
from gradio_client import Client

from finetune_core.jobs.manager import MANAGER


def wait_for(fn, what: str):
    return wait(fn, what, timeout=90.0)  # the server test's patience


CONFIG = """
model: tests-org/api-bert
dataset: {dataset}
epochs: 200
batch_size: 4
max_length: 16
logging_steps: 1
save_steps: 1000
freeze: none
"""


@pytest.fixture(scope="module")
def server(fake_hub, tiny_bert):
    from finetune_core.ui.app import serve_local

    fake_hub.add_model("tests-org/api-bert", tiny_bert, pipeline_tag="fill-mask")
    demo, url = serve_local()
    yield url
    MANAGER.shutdown()
    demo.close()


def test_start_watch_stop_and_isolation(server, text_csv, monkeypatch):
    """Hosted for strangers, two clients never see each other's runs; locally (one person)
    every client sees every run."""
    monkeypatch.setenv("FINETUNE_HOSTED", "1")
    monkeypatch.setenv("FINETUNE_ALLOWED_PATHS", str(text_csv.parent))
    alice, bob = Client(server, verbose=False), Client(server, verbose=False)
    config = CONFIG.format(dataset=text_csv)

    bad = alice.predict("model: x\ndataset: y\nlearning_rate: -1\n", api_name="/start_run")
    assert bad["job_id"] is None and "learning_rate must be greater than 0" in bad["error"]

    a = alice.predict(config, api_name="/start_run")
    assert a["error"] is None and a["job_id"]
    b = bob.predict(config, api_name="/start_run")
    assert b["error"] is None

    # Bob waits in the queue while Alice's job trains (one job at a time on CPU)
    status_b = bob.predict(b["job_id"], api_name="/run_status")
    assert status_b["state"] == "queued" and status_b["queue_position"] == 1

    # the chart gains points while it trains
    wait_for(
        lambda: alice.predict(a["job_id"], api_name="/run_status")["loss_points"] >= 4,
        "loss points on Alice's chart",
    )

    # isolation: neither can see or stop the other's job, even knowing its id
    assert bob.predict(a["job_id"], api_name="/run_status")["state"] == "unknown"
    assert bob.predict(a["job_id"], api_name="/stop_run")["stopping"] is False
    assert [r["job_id"] for r in alice.predict(api_name="/my_runs")] == [a["job_id"]]
    assert [r["job_id"] for r in bob.predict(api_name="/my_runs")] == [b["job_id"]]
    with monkeypatch.context() as local:
        local.delenv("FINETUNE_HOSTED")
        assert bob.predict(a["job_id"], api_name="/run_status")["state"] == "running"
        assert {a["job_id"], b["job_id"]} <= {r["job_id"] for r in bob.predict(api_name="/my_runs")}

    assert alice.predict(a["job_id"], api_name="/stop_run")["stopping"] is True
    final = wait_for(
        lambda: (
            (s := alice.predict(a["job_id"], api_name="/run_status"))["state"] == "stopped" and s
        ),
        "Alice's run to stop",
    )
    assert final["step"] < final["max_steps"]
    # the stopped run was evaluated: its scores on the report split beside the quick baseline,
    # and the plan it trained, as the page and the CLI show them
    assert final["eval"] and final["result"]["report_split"] != final["result"]["selection_split"]
    assert 0 <= final["result"]["f1_macro"] <= 1 and "f1_macro" in final["result"]["baseline"]
    assert "classifier" in final["freeze_plan"]["trainable"]

    # Bob's job starts once the device is free; stop it too
    wait_for(
        lambda: bob.predict(b["job_id"], api_name="/run_status")["state"] == "running",
        "Bob's run to start",
    )
    bob.predict(b["job_id"], api_name="/stop_run")
    wait_for(
        lambda: bob.predict(b["job_id"], api_name="/run_status")["state"] == "stopped",
        "Bob's run to stop",
    )


def test_page_config_lists_the_steps(server):
    import httpx

    config = httpx.get(server + "config", timeout=10).json()
    ids = {c["props"].get("elem_id") for c in config["components"]}
    for elem in ("model-id", "dataset-id", "frozen-groups", "train-btn", "loss-plot", "runs-table"):
        assert elem in ids, elem


def test_only_the_script_api_is_public(server, monkeypatch):
    """Page events are private: gradio_client neither lists nor calls them; the seven script
    endpoints stay callable."""
    client = Client(server, verbose=False)
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert named == {
        "/start_run",
        "/run_status",
        "/stop_run",
        "/delete_run",
        "/my_runs",
        "/resume_run",
        "/train_more",
    }
    for internal in ("/use_model", "/use_data", "/upload_and_use", "/do_train"):
        with pytest.raises(ValueError):
            client.predict(api_name=internal)
    monkeypatch.setenv("FINETUNE_HOSTED", "1")  # hosted: a new client has no runs of its own
    assert client.predict(api_name="/my_runs") == []
    status = client.predict("no-such-job", api_name="/run_status")
    assert status.get("error")
