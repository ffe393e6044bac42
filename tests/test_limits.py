"""The queue's policy on its own (jobs/limits.py, host/env.limits, jobs/visitor_env.py): the
fair order as a property over random queues, the caps' sentences, the limits' defaults, and
the visitor's environment as an allowlist. The attacks through a real server are in
test_abuse_queue.py and test_abuse_visitor_work.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finetune_core.errors import ConfigError, RunError
from finetune_core.host import env
from finetune_core.jobs import limits, visitor_env
from finetune_core.jobs.manager import Job


def job(owner: str, created: float, state: str = "queued", started: float | None = None) -> Job:
    made = Job(f"{owner}-{created}", owner, None, Path("/nowhere"), state=state, created=created)
    made.started = started
    return made


queues = st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 1000)), max_size=30)
starts = st.dictionaries(st.sampled_from("abcde"), st.integers(0, 1000))


@settings(max_examples=200, deadline=None)
@given(queues, starts)
def test_the_order_is_round_robin_between_visitors(entries, last_start):
    queued = [job(o, float(t) + i / 100) for i, (o, t) in enumerate(entries)]
    ran = [job(o, -1.0, "finished", float(t)) for o, t in last_start.items()]
    order = limits.order(queued, queued + ran)
    assert sorted(j.id for j in order) == sorted(j.id for j in queued)  # each exactly once
    owners = {j.owner for j in queued}
    for o in owners:  # a visitor's own jobs keep the order they were queued in
        mine = [j.created for j in order if j.owner == o]
        assert mine == sorted(mine)
    # rounds: the first len(owners) jobs are one per visitor, and so on
    first = [j.owner for j in order[: len(owners)]]
    assert sorted(first) == sorted(owners)
    turn = [last_start.get(o, float("-inf")) for o in first]
    assert turn == sorted(turn)  # who waited longest since a start goes first


def test_a_visitor_at_the_running_cap_is_skipped_not_blocking(monkeypatch):
    monkeypatch.setenv("FINETUNE_MAX_RUNNING_PER_VISITOR", "1")
    a1, a2, b1 = job("a", 1), job("a", 2), job("b", 3)
    running = [job("a", 0, "running", 0.5)]
    assert limits.next_to_start([a1, a2, b1], running, free=2) == [b1]
    monkeypatch.setenv("FINETUNE_MAX_RUNNING_PER_VISITOR", "0")  # no limit
    assert limits.next_to_start([a1, a2, b1], running, free=2) == [a1, a2]


def test_caps_are_sentences_and_off_locally(monkeypatch):
    mine = [job("a", i) for i in range(5)]
    limits.check_start("a", mine, processes=64)  # locally: nothing is capped
    monkeypatch.setenv("FINETUNE_HOSTED", "1")
    with pytest.raises(RunError, match=r"^You already have 5 jobs waiting in the queue"):
        limits.check_start("a", mine)
    limits.check_start("b", mine[:1])
    monkeypatch.setenv("FINETUNE_MAX_QUEUE", "3")
    with pytest.raises(RunError, match=r"^The queue is full \(5 jobs waiting"):
        limits.check_start("b", mine)
    monkeypatch.setenv("FINETUNE_MAX_PROCESSES", "2")
    with pytest.raises(RunError, match="processes is 3, more than the 2 this server allows"):
        limits.check_start("b", [], processes=3)
    monkeypatch.setenv("FINETUNE_MAX_QUEUE", "lots")
    with pytest.raises(ConfigError, match="FINETUNE_MAX_QUEUE must be a number, not 'lots'"):
        env.limits()
    monkeypatch.setenv("FINETUNE_MAX_QUEUE", "2.5")
    with pytest.raises(ConfigError, match="FINETUNE_MAX_QUEUE must be a whole number"):
        env.limits()


def test_hosted_defaults(monkeypatch):
    local = env.limits()
    assert (local.queued_per_visitor, local.run_minutes, local.processes) == (0, 0, 0)
    monkeypatch.setenv("FINETUNE_HOSTED", "1")
    hosted = env.limits()
    assert (hosted.queued_per_visitor, hosted.running_per_visitor, hosted.queue) == (2, 1, 20)
    assert (hosted.run_minutes, hosted.run_disk_gb, hosted.upload_ttl_hours) == (60, 10, 24)
    assert hosted.processes == env.cores() and 0 < hosted.run_memory_gb < env.memory_gb()


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.from_regex(r"[A-Z][A-Z_]{2,20}", fullmatch=True), st.just("s3cret")))
def test_the_visitor_environment_is_an_allowlist(tmp_path_factory, extra):
    """Whatever the host's environment holds, only named, harmless variables pass."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in extra.items():
            mp.setenv(name, value)
        mp.setenv("HF_TOKEN", "hf_host")
        built = visitor_env.build(None, home)
    passed = {k for k in extra if k in built and built[k] == "s3cret"}
    assert all(k in visitor_env.KEEP or k.startswith(visitor_env.KEEP_PREFIXES) for k in passed)
    assert "HF_TOKEN" not in built and built["HOME"] == str(home)
    assert built["FINETUNE_HOSTED"] == "1" and built["HF_HUB_DISABLE_IMPLICIT_TOKEN"] == "1"
    assert visitor_env.build("hf_visitor", home)["HF_TOKEN"] == "hf_visitor"
