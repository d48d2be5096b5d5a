"""The one inference runtime: rows come back in input order whatever the length sorting,
the model's training mode is restored, and the device policy refuses what is not there."""

import pytest
import torch

from transferkit.errors import UserError
from transferkit.inference import Runtime


class Sums(torch.nn.Module):
    """Each row's sum of token ids, and how many tokens a batch was padded to."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, input_ids, attention_mask, **_):
        assert not torch.is_grad_enabled() and not self.training
        return (input_ids * attention_mask).sum(1).float() * self.weight, input_ids.shape[1]


def test_rows_come_back_in_input_order_from_length_sorted_batches():
    items = [{"input_ids": [1] * n} for n in (3, 9, 1, 5, 7, 2)]
    runtime = Runtime(torch.device("cpu"))
    model = Sums().train()
    widths = []

    def read(out, batch):
        widths.append(out[1])
        return out[0].numpy()

    rows = runtime.rows(model, items, pad_token_id=0, read=read, batch_size=2)
    assert [float(r) for r in rows] == [3, 9, 1, 5, 7, 2]
    assert widths == [9, 5, 2]  # longest first, each batch padded to its own longest
    assert model.training  # put back as it was: a dev scorer runs mid-training


def test_cuda_without_a_gpu_is_the_one_line_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: --device cuda is valid")
    with pytest.raises(UserError, match=r"^--device: cuda: no GPU is visible here"):
        Runtime.create("cuda")
    assert Runtime.create("auto").device.type == "cpu"


def test_bf16_without_a_gpu_falls_back_with_a_warning(capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    assert Runtime.create("cpu", bf16=True).bf16 is False
    assert "warning: --bf16: needs a GPU with bfloat16; predicting in float32" in capsys.readouterr().err
