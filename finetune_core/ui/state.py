"""The page's state: one draft run per browser session, and the events that change it.

A `Draft` holds what the page has resolved so far (the loaded model's facts and layer groups,
the loaded dataset's facts, the class count, the freeze choice) and the job it follows. Every
event is a plain function Draft -> (Draft, message) here (no components), so a test can drive
any sequence of them; the page renders each widget that depends on the draft from the draft
alone (`freeze_view`, `summary`), so a choice list and its value never disagree. A failed load
returns the draft unchanged: the previous good choice stays, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from finetune_core import runs
from finetune_core.errors import FinetuneError, GatedRepoError
from finetune_core.ui import freeze_tab
from finetune_core.ui.freeze_tab import CUSTOM, LAST_N, PRESETS


@dataclass
class ModelFacts:
    """A model that loaded: its card and its layer groups for `num_labels` classes."""

    id: str
    card: str
    groups: list[dict]
    num_labels: int
    warn: str = ""
    max_tokens: int | None = None  # the longest text it reads; None: no limit known
    model_type: str | None = None  # what Train's text-or-image check reads (model.infer_task)


@dataclass
class DataFacts:
    """A dataset that loaded: the card values the other steps depend on."""

    source: str
    config: str | None
    columns: list[str]
    label_column: str | None
    label_names: list[str]
    task: str | None = None  # text | image, from the columns
    labels_complete: bool = True  # False: label names seen in sampled rows only


def _session() -> str:
    import secrets

    return secrets.token_hex(8)


@dataclass
class Draft:
    SERIAL: ClassVar[bool] = True  # one change at a time per page session (common.serial)

    model: ModelFacts | None = None
    data: DataFacts | None = None
    num_labels: int | None = None  # the new head's classes; None: from the data (unknown yet)
    preset: str = freeze_tab.AUTO
    last_n: int = 2
    frozen: list[str] = field(default_factory=list)
    note: str = ""  # why the preset was chosen
    pending_freeze: Any = None  # a re-attached run's `freeze`, applied when its model loads
    job_id: str | None = None
    run: str | None = None  # the followed run's folder name
    run_state: str = ""  # its state (runs.STATES); "" when no run is followed
    run_line: str = ""  # how the summary bar says it: "training 42%", "done: accuracy 92%"
    run_accuracy: float | None = None  # its final evaluation's accuracy, once it has one
    run_model: str | None = None  # the model and dataset the followed run trains on: a
    run_data: str | None = None  # finished run's state shows only while they are chosen
    session: str = field(default_factory=_session, compare=False, repr=False)  # a page load

    @property
    def groups(self) -> list[dict]:
        return self.model.groups if self.model else []

    @property
    def freeze(self) -> str | list[str]:
        """The form's freeze value: "auto", or the groups ticked."""
        return "auto" if self.preset == freeze_tab.AUTO else list(self.frozen)

    @property
    def trainable(self) -> int | None:
        if not self.model:
            return None
        frozen = set(self.frozen)
        return sum(g["params"] for g in self.groups if g["name"] not in frozen)


# ---- events ----------------------------------------------------------------------------
def load_model(d: Draft, model_id: str, token: str | None = None) -> tuple[Draft, str]:
    """Use a model: on success its groups replace the old ones and the freeze choice is
    kept when the groups are the same, else the default for this model is applied."""
    from finetune_core.ui import model_tab

    try:
        facts = model_tab.facts(model_id, d.num_labels or 2, token)
    except FinetuneError as exc:
        still = f" Still using {d.model.id}." if d.model and d.model.id != model_id else ""
        gated = isinstance(exc, GatedRepoError)
        public = f" {model_tab.public_facts(model_id, token)}" if gated else ""
        return d, f"{exc}{public}{still}".replace("  ", " ")
    return _with_model(d, facts), ""


def _with_model(d: Draft, facts: ModelFacts) -> Draft:
    new = replace(d, model=facts, pending_freeze=None)
    names = [g["name"] for g in facts.groups]
    pending = d.pending_freeze if d.pending_freeze != "auto" else None  # auto: the default
    if pending is not None:
        new.frozen = _resolve_freeze(pending, facts.groups)
        new.note = ""
        new.preset = matching_preset(facts.groups, new.frozen, d.last_n)
    elif d.model and [g["name"] for g in d.model.groups] == names:
        new.frozen = [n for n in names if n in set(d.frozen)]  # same model: keep the choice
    else:
        new.preset, new.note = freeze_tab.default_preset(facts.id, facts.groups)
        new.frozen = freeze_tab.preset_frozen(facts.groups, new.preset, d.last_n)
    return new


def fit_max_length(d: Draft, value: Any) -> tuple[Any, str]:
    """The Max length field for the loaded model: above the model's limit it becomes the
    limit (the engine refuses more), with one line that says so; otherwise it is kept."""
    limit = d.model.max_tokens if d.model else None
    try:
        current = int(float(value))
    except (TypeError, ValueError):
        return value, ""  # not a number: the form's own check says so at Train
    if limit is None or current <= limit:
        return value, ""
    note = f"Max length set to {limit}: {d.model.id} reads at most {limit} tokens."
    return limit, note


def _resolve_freeze(freeze: Any, groups: list[dict]) -> list[str]:
    if freeze == "none":
        return []
    if isinstance(freeze, list):
        wanted = set(freeze)
        return [g["name"] for g in groups if g["name"] in wanted]
    if freeze == "auto":
        return freeze_tab.preset_frozen(groups, freeze_tab.AUTO)
    return freeze_tab.preset_frozen(groups, freeze_tab.HEAD_ONLY)  # "backbone"


def set_num_labels(d: Draft, text: Any, token: str | None = None) -> tuple[Draft, str]:
    """The class count typed on the head step; the head is rebuilt for it."""
    raw = "" if text is None else str(text).strip()
    if not raw:
        n = len(d.data.label_names) if d.data and d.data.label_names else None
    else:
        try:
            n = int(float(raw))
        except ValueError:
            n = 0
        if n < 2 or n != float(raw) or n > 100_000:
            return d, f"Output classes must be a whole number from 2 to 100,000, not '{raw}'."
    return _with_classes(d, n, token)


def _with_classes(d: Draft, n: int | None, token: str | None) -> tuple[Draft, str]:
    new = replace(d, num_labels=n)
    if d.model and (n or 2) != d.model.num_labels:
        from finetune_core.ui import model_tab

        try:
            facts = model_tab.facts(d.model.id, n or 2, token)
        except FinetuneError as exc:
            return d, str(exc)
        new = _with_model(new, facts)
    return new, ""


def load_data(
    d: Draft, source: str, config: str | None = None, token: str | None = None
) -> tuple[Draft, dict[str, Any], str]:
    """Use a dataset: its label names set the class count (none found: unknown)."""
    from finetune_core.ui import data_tab

    card = data_tab.card(source, config, token)
    if card.get("error"):
        still = f" Still using {d.data.source}." if d.data and d.data.source != source else ""
        return d, card, f"{card['error']}{still}"
    names = [str(n) for n in card.get("label_names") or []]
    facts = DataFacts(
        source=(source or "").strip(),
        config=config or None,
        columns=list(card.get("features") or {}),
        label_column=card.get("label_column"),
        label_names=names,
        task=card.get("task"),
        labels_complete=bool(card.get("labels_complete", True)),
    )
    new, msg = _with_classes(replace(d, data=facts), len(names) if names else None, token)
    if msg:  # the model could not be rebuilt for the new count: keep everything as it was
        return d, card, msg
    return new, card, ""


def apply_preset(d: Draft, preset: str, n: Any = None) -> Draft:
    """A preset picked on the head step; "custom" keeps the boxes as they are."""
    new = replace(d, last_n=_int(n, d.last_n), preset=preset if preset in PRESETS else CUSTOM)
    if new.preset != CUSTOM:
        new.frozen = freeze_tab.preset_frozen(d.groups, new.preset, new.last_n)
    new.note = freeze_tab.AUTO_NOTE if new.preset == freeze_tab.AUTO and d.groups else ""
    return new


def toggle(d: Draft, frozen: list[str] | None) -> Draft:
    """Boxes ticked by hand: the preset says "custom" unless they match one exactly."""
    wanted = set(frozen or [])
    chosen = [g["name"] for g in d.groups if g["name"] in wanted]
    return replace(d, frozen=chosen, preset=matching_preset(d.groups, chosen, d.last_n))


def matching_preset(groups: list[dict], frozen: list[str], last_n: int) -> str:
    for preset in PRESETS:
        if preset in (LAST_N, freeze_tab.AUTO):  # auto is chosen, never matched by boxes
            continue
        if freeze_tab.preset_frozen(groups, preset) == frozen:
            return preset
    if freeze_tab.preset_frozen(groups, LAST_N, last_n) == frozen:
        return LAST_N
    return CUSTOM


def _int(value: Any, default: int) -> int:
    try:
        return max(1, int(float(value)))
    except (TypeError, ValueError):
        return default


# ---- what the page shows from the draft ----------------------------------------------------
def freeze_view(d: Draft) -> dict[str, Any]:
    """The head step's widgets, all from the draft: choices always contain the value."""
    blocks = sum(1 for g in d.groups if g["kind"] == "block")
    return {
        "choices": freeze_tab.choices(d.groups),
        "frozen": list(d.frozen),
        "preset": d.preset,
        "last_n_max": max(2, blocks),  # a slider's maximum must exceed its minimum (1)
        "last_n_visible": d.preset == LAST_N,
        "summary": freeze_tab.trainable_text(d.groups or None, d.frozen),
        "tree": freeze_tab.tree_html(d.groups or None, d.frozen),
        "note": d.note,
        "num_labels": "" if d.num_labels is None else str(d.num_labels),
    }


def shown_run_state(d: Draft) -> str:
    """The followed run's state as the summary bar shows it: a queued or running run always;
    a finished one only while the model and dataset it used are still the ones chosen."""
    if not d.job_id or not d.run_state:
        return ""
    if d.run_state in runs.ACTIVE:
        return d.run_state
    same_model = d.run_model is None or (d.model is not None and d.model.id == d.run_model)
    same_data = d.run_data is None or (d.data is not None and d.data.source == d.run_data)
    return d.run_state if same_model and same_data else ""


def marks(d: Draft) -> dict[str, bool | None]:
    """Done (True), problem (False) or not yet (None) for each step."""
    trainable = d.trainable
    st = shown_run_state(d)
    return {
        "Model": bool(d.model) or None,
        "Data": (bool(d.data.label_names) if d.data else None),
        "Head": None if trainable is None else trainable > 0,
        "Train": True if st == "completed" else (False if st in runs.RESUMABLE else None),
        "Results": True if st == "completed" else None,
    }


def problems(d: Draft) -> list[str]:
    """Why Train would refuse the page as it is, in Train's own sentences (the same checks,
    on what the page has loaded): empty when the summary bar may say "ready"."""
    from types import SimpleNamespace

    from finetune_core import model as model_mod
    from finetune_core import preflight

    out = []
    if d.model is None:
        out.append("Load a model in step 1.")
    if d.data is None:
        out.append("Load a dataset in step 2.")
    elif not d.data.label_names:
        out.append("No label column was detected; pick one in step 2.")
    if d.model is not None and d.data is not None and d.data.task:
        try:  # an image model with text data, a text model with images
            model_mod.infer_task(SimpleNamespace(model_type=d.model.model_type), d.data.task)
        except FinetuneError as exc:
            out.append(str(exc))
    if d.data is not None and d.data.labels_complete and d.num_labels:
        wrong = preflight.class_count_problem(
            d.num_labels, d.data.label_column, len(d.data.label_names)
        )
        out += [wrong] if wrong else []
    if d.model is not None and (d.num_labels or 0) < 2 and d.data and d.data.label_names:
        out.append("The dataset has fewer than 2 classes; a classifier needs at least 2.")
    if d.trainable is not None and d.trainable <= 0:
        out.append("Every layer group is frozen, so nothing would train; unfreeze the head.")
    return out


def ready(d: Draft) -> bool:
    return not problems(d)


def summary(d: Draft) -> str:
    """The line the summary bar shows: what is chosen, and where the run stands."""
    parts = [
        d.model.id.rsplit("/", 1)[-1] if d.model else "no model yet",
        _name(d.data.source) if d.data else "no dataset yet",
        f"{d.num_labels} classes" if d.num_labels else "classes unknown",
        ("freeze auto" if d.preset == freeze_tab.AUTO else f"{d.trainable:,} trainable")
        if d.model
        else "",
        (d.run_line or d.run_state)
        if shown_run_state(d)
        else ("ready" if ready(d) else "not ready"),
    ]
    return " · ".join(p for p in parts if p)


def _name(source: str) -> str:
    return source.rstrip("/").rsplit("/", 1)[-1]
