"""The trainable part of a partly frozen model, as its checkpoints store it."""

from safetensors.torch import load_file, save_file
from torch import nn

from finetune_core.train.trainer import trainable_state


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.norm = nn.BatchNorm1d(4)
        self.head_a = nn.Linear(4, 3)
        self.head_b = nn.Linear(4, 3)
        self.head_b.weight = self.head_a.weight  # tied, as some heads are
        for p in self.body.parameters():
            p.requires_grad_(False)


def test_trainable_state_keeps_trainable_weights_and_buffers_once(tmp_path):
    model = Tied()
    state = trainable_state(model)
    assert "body.weight" not in state and "body.bias" not in state  # frozen
    assert {"norm.running_mean", "norm.running_var", "norm.num_batches_tracked"} <= set(state)
    assert ("head_a.weight" in state) != ("head_b.weight" in state)  # one name of the tie
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "t.safetensors"))

    other = Tied()
    missing, unexpected = other.load_state_dict(load_file(str(tmp_path / "t.safetensors")), False)
    assert not unexpected and set(missing) <= {"body.weight", "body.bias", "head_b.weight"}
    assert other.head_b.weight.data_ptr() == other.head_a.weight.data_ptr()
    assert (other.head_b.weight == model.head_a.weight).all()
