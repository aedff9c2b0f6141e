"""Training with --load-in bf16 on CPU (frozen weights stored bf16, trainable ones fp32, the export in bf16), the
memory estimate following the storage, ZeRO-3 ordering (TrainingArguments only after composition) and --device
cuda:N reaching the Trainer's arguments (CUDA mocked: the real check is benchmarks/gpu_check.sh)."""

from __future__ import annotations

import pytest
import torch
from transformers import TrainerCallback

from tests.training.conftest import weights


class DtypeProbe(TrainerCallback):
    """Records each parameter's dtype and requires_grad as the Trainer starts."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[torch.dtype, bool]] = {}

    def on_train_begin(self, args, state, control, model=None, **kwargs):  # noqa: ANN001
        self.seen = {n: (p.dtype, p.requires_grad) for n, p in model.named_parameters()}


def test_bf16_storage_trains_on_cpu(make_cfg, tmp_path):
    from vitcli.training.run import train

    probe, notes = DtypeProbe(), []
    out = tmp_path / "run"
    result = train(make_cfg(out, stage="align", load_in="bf16", max_steps=3), callbacks=[probe], notify=notes.append)
    frozen = {d for d, grad in probe.seen.values() if not grad}
    trainable = {d for d, grad in probe.seen.values() if grad}
    assert frozen == {torch.bfloat16} and trainable == {torch.float32}
    assert all("multi_modal_projector" in n for n, (_, grad) in probe.seen.items() if grad)
    assert result.global_step == 3 and all(map(torch.isfinite, torch.tensor([result.first_loss, result.final_loss])))
    assert {t.dtype for t in weights(out).values()} == {torch.bfloat16}  # exported in the storage dtype

    fp32 = train(make_cfg(tmp_path / "fp32", stage="align", max_steps=1))
    # Same model, same batch size and length: bf16 storage halves the frozen weights' bytes.
    assert result.memory_estimate_gib < fp32.memory_estimate_gib
    line = next(n for n in notes if n.startswith("memory estimate"))
    assert "weights" in line


def test_memory_estimate_counts_stored_bytes():
    from vitcli.config import ModelConfig, TrainConfig
    from vitcli.modeling.compose import compose_model
    from vitcli.runtime.device import LoadPlan
    from vitcli.training.report import estimate_memory

    texts = ["<image>\na red circle"]
    full, _ = compose_model(ModelConfig(), texts)
    half, _ = compose_model(ModelConfig(), texts, LoadPlan("bf16", torch.bfloat16, torch.bfloat16))
    for m in (full, half):
        m.requires_grad_(False)
    cfg = TrainConfig(max_length=1, per_device_batch_size=1)
    n = sum(p.numel() for p in full.parameters())
    assert estimate_memory(full, cfg, torch.float32).weights_gib == pytest.approx(n * 4 / 1024**3, rel=1e-3)
    assert estimate_memory(half, cfg, torch.bfloat16).weights_gib == pytest.approx(n * 2 / 1024**3, rel=1e-3)


def test_training_arguments_built_after_composition(make_cfg, tmp_path, monkeypatch):
    """Under ZeRO-3, TrainingArguments turn on partitioned loading; composition must be over before they exist."""
    import vitcli.modeling.compose as compose
    import vitcli.training.loop as loop
    from vitcli.training.run import train

    events: list[str] = []
    real_compose, real_args, real_tower = compose.compose_model, loop.make_training_args, compose.compose_tiny

    def compose_model(*a, **k):
        events.append("compose start")
        result = real_compose(*a, **k)
        events.append("compose end")
        return result

    def compose_tiny(*a, **k):
        events.append("build model")
        return real_tower(*a, **k)

    def make_training_args(*a, **k):
        from transformers.integrations import is_deepspeed_zero3_enabled

        events.append(f"training args (zero3 already on: {is_deepspeed_zero3_enabled()})")
        return real_args(*a, **k)

    monkeypatch.setattr(compose, "compose_model", compose_model)
    monkeypatch.setattr(compose, "compose_tiny", compose_tiny)
    monkeypatch.setattr(loop, "make_training_args", make_training_args)
    train(make_cfg(tmp_path / "run", max_steps=1))
    assert events == ["compose start", "build model", "compose end", "training args (zero3 already on: False)"]


@pytest.fixture
def fake_gpus(monkeypatch):
    """Pretend this process sees two GPUs; record set_device calls instead of making them."""
    calls: list[int] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(d if isinstance(d, int) else d.index))
    for var in ("LOCAL_RANK", "WORLD_SIZE", "RANK"):
        monkeypatch.delenv(var, raising=False)
    return calls


def test_cuda_index_resolves_and_becomes_current(fake_gpus):
    from vitcli.runtime.device import resolve_device, use_device

    assert resolve_device("cuda:1") == "cuda:1"
    use_device("cuda:1")
    use_device("cuda")  # no index: leave the current GPU alone
    assert fake_gpus == [1]


def test_cuda_index_out_of_range_refused_with_hint(fake_gpus):
    from vitcli.runtime.device import resolve_device
    from vitcli.runtime.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        resolve_device("cuda:2")
    assert "sees 2 GPUs" in err.value.message and "below 2" in err.value.hint


def test_explicit_index_refused_under_torchrun(fake_gpus, monkeypatch):
    from vitcli.runtime.device import use_device
    from vitcli.runtime.errors import ConfigError

    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError) as err:
        use_device("cuda:1")
    assert "CUDA_VISIBLE_DEVICES" in err.value.hint and fake_gpus == []


def test_training_arguments_pin_cuda_index(fake_gpus, tmp_path, monkeypatch):
    """The stock arguments put a lone process on cuda:0 with DataParallel over both GPUs; ours keep cuda:1."""
    from accelerate.state import AcceleratorState, PartialState

    from vitcli.config import TrainConfig
    from vitcli.training.loop import make_training_args

    AcceleratorState._reset_state(reset_partial_state=True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    try:
        pinned = make_training_args(TrainConfig(), tmp_path, "cuda:1", torch.float32)
        assert pinned.device == torch.device("cuda", 1) and pinned.n_gpu == 1
        assert fake_gpus[-1] == 1  # cuda:1 is current last, so accelerate's plain "cuda" means it
        AcceleratorState._reset_state(reset_partial_state=True)
        plain = make_training_args(TrainConfig(), tmp_path, "cuda", torch.float32)
        assert plain.device == torch.device("cuda", 0) and plain.n_gpu == 2  # unchanged without an index
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        PartialState._reset_state()
