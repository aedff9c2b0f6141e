"""Engine plumbing for train(): TrainingArguments from our config, the metrics.jsonl logger, image-token count,
and the Trainer subclass (per-part learning rates, length-grouped batches, the contrastive term, task eval)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
from collections import defaultdict
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from vitcli.config import TrainConfig
from vitcli.modeling.families import IMAGE_TOKEN
from vitcli.runtime.errors import ConfigError
from vitcli.training.answer_loss import answer_mask
from vitcli.training.augment import augment_batch
from vitcli.training.contrastive import contrastive_loss, views_loss
from vitcli.training.recipe import SELECTION_METRIC, selection_score


@dataclasses.dataclass
class PinnedTrainingArguments(TrainingArguments):
    """TrainingArguments that keep a lone process on cuda:N (`pinned_cuda_index`). The stock ones put a
    non-distributed process on cuda:0 and spread it over every visible GPU with DataParallel; under torchrun /
    accelerate launch each rank already owns cuda:LOCAL_RANK and nothing is changed."""

    pinned_cuda_index: int | None = None

    @cached_property
    def _setup_devices(self) -> Any:
        device = super()._setup_devices
        if self.pinned_cuda_index is None or self.use_cpu or self.distributed_state.num_processes > 1:
            return device
        torch.cuda.set_device(self.pinned_cuda_index)  # accelerate's plain "cuda" means the current GPU
        self._n_gpu = 1  # one GPU: no DataParallel over the others
        return torch.device("cuda", self.pinned_cuda_index)


def check_engine(cfg: TrainConfig, device: str, dtype: Any) -> None:
    """What make_training_args would refuse, checked before the model is composed (train() builds the arguments
    only afterwards)."""
    if dtype == torch.float16 and device == "cpu":
        raise ConfigError("--dtype fp16 needs a GPU (loss scaling runs on CUDA)", "use --dtype fp32 or bf16 on CPU")
    if cfg.deepspeed and importlib.util.find_spec("deepspeed") is None:
        raise ConfigError(
            "--deepspeed needs the deepspeed package, which is not installed",
            "pip install 'vitcli[deepspeed]' (on a CUDA machine), or drop --deepspeed",
        )


def make_training_args(cfg: TrainConfig, out: Path, device: str, dtype: Any, best_metric: str | None = None):
    """TrainingArguments from our config. `dtype` is the compute dtype (bf16/fp16 autocast); 'cuda:N' is honoured
    for a single process."""
    import torch

    from vitcli.runtime.device import cuda_index

    check_engine(cfg, device, dtype)
    saving = cfg.save_every_steps > 0
    evaluating = cfg.eval_every_steps > 0
    selecting = best_metric is not None and evaluating  # save at every evaluation, reload the best at the end
    save_steps = cfg.eval_every_steps if selecting else cfg.save_every_steps if saving else 500
    return PinnedTrainingArguments(
        pinned_cuda_index=cuda_index(device),
        output_dir=str(out / "checkpoints"),
        per_device_train_batch_size=cfg.per_device_batch_size,
        per_device_eval_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        activation_checkpointing=cfg.gradient_checkpointing,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        warmup_steps=cfg.warmup_ratio,
        lr_scheduler_type="cosine",
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps > 0 else -1,
        logging_steps=cfg.log_every_steps,
        logging_first_step=True,
        save_strategy="steps" if saving or selecting else "no",
        save_steps=save_steps,
        load_best_model_at_end=selecting,
        metric_for_best_model=best_metric if selecting else None,
        greater_is_better=best_metric != "loss" if selecting else None,
        save_total_limit=cfg.keep_last_checkpoints or None,
        eval_strategy="steps" if evaluating else "no",
        eval_steps=cfg.eval_every_steps if evaluating else None,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        report_to=[],
        disable_tqdm=True,
        seed=cfg.seed,
        data_seed=cfg.seed,
        use_cpu=device == "cpu",
        bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16,
        deepspeed=cfg.deepspeed,
        fsdp=cfg.fsdp or None,
        fsdp_config=cfg.fsdp_config,
        **dataloader_args(cfg, device),
        remove_unused_columns=False,
        log_level="error",
    )


def dataloader_args(cfg: TrainConfig, device: str) -> dict[str, Any]:
    """Items are read, checked, tokenised and their images decoded inside DataLoader workers (--dataloader-workers;
    default one per spare core, at most 8), which stay alive across epochs and keep batches prefetched; batches
    land in pinned memory on CUDA so the copy to the GPU overlaps compute."""
    from vitcli.training.samples import resolve_dataloader_workers

    workers = resolve_dataloader_workers(cfg.dataloader_workers)
    if workers > 0:  # workers tokenise one item each; a forked Rust thread pool would only warn and stop
        import os

        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return {
        "dataloader_num_workers": workers,
        "dataloader_pin_memory": device.startswith("cuda"),
        "dataloader_persistent_workers": workers > 0,
        "dataloader_prefetch_factor": 4 if workers > 0 else None,
    }


def tensorboard_callback(cfg: TrainConfig, out: Path) -> list[Any]:
    """A TensorBoard writer into RUN/tensorboard when tensorboard is installed (it is optional), else nothing."""
    if not cfg.tensorboard or importlib.util.find_spec("tensorboard") is None:
        return []
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    return [TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(out / "tensorboard")))]


def count_image_tokens(processor: Any) -> int:
    """How many tokens one <image> expands to, asked of the processor itself."""
    from PIL import Image

    size = processor.image_processor.size
    dummy = Image.new("RGB", (size.get("width", 32), size.get("height", 32)))
    ids = processor(text=[IMAGE_TOKEN], images=[dummy], return_tensors="pt")["input_ids"][0]
    return int((ids == processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)).sum())


class MetricsLogger(TrainerCallback):
    """Append every logged step (loss, learning rate, grad norm, eval metrics) to metrics.jsonl on the main
    process. On resume, first_loss comes from the rows already there."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.first_loss = math.nan
        self.last_loss = math.nan
        for row in read_metrics(path):
            if "loss" in row and math.isnan(self.first_loss):
                self.first_loss = float(row["loss"])

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 (Trainer's signature)
        if not logs or not state.is_world_process_zero:
            return
        if "loss" in logs:
            self.last_loss = float(logs["loss"])
            if math.isnan(self.first_loss):
                self.first_loss = self.last_loss
        row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), **logs}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    rows = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue  # a torn line from a kill
    return rows


class EpochSeededLengthSampler:
    """transformers' length-grouped order (mega-batches sorted by length), drawn from a generator seeded with
    seed + epoch instead of the global RNG, so a resumed run sees the same order in every epoch (the Trainer's
    LengthGroupedSampler does not, once a resume crosses an epoch boundary)."""

    def __init__(self, lengths: list[int], group_size: int, seed: int) -> None:
        self.lengths, self.group_size, self.seed, self.epoch = lengths, group_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):  # noqa: ANN204
        import torch
        from transformers.trainer_pt_utils import get_length_grouped_indices

        gen = torch.Generator()
        gen.manual_seed(self.seed + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.group_size, generator=gen))


class VitcliTrainer(Trainer):
    """Trainer with per-part learning rates (vision tower / projector / LM, as LLaVA's mm_projector_lr),
    precomputed length-grouped batches, image shifts, the contrastive terms, and task metrics at each evaluation."""

    def __init__(
        self,
        *args: Any,
        lr_by_part: dict[str, float] | None = None,
        contrastive_weight: float = 0.0,
        contrastive_temperature: float = 0.07,
        contrastive: str = "text",
        augment_images: float = 0.0,
        answers_only: bool = False,
        task_eval: Any = None,
        sample_log: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lr_by_part = {k: v for k, v in (lr_by_part or {}).items() if v is not None}
        self.contrastive_weight = contrastive_weight
        self.contrastive_temperature = contrastive_temperature
        self.contrastive = contrastive  # text: image-text InfoNCE | views: NT-Xent over two views of each image
        self.augment_images = augment_images  # > 0: shift training images by up to this fraction (augment.py)
        self.answers_only = answers_only  # logits only where an answer token is predicted (answer_loss.py)
        self.task_eval = task_eval
        self.sample_log = sample_log  # counts (or raises) what the lazy sample checks met; see training/samples.py
        self._contrastive_sum, self._contrastive_n = 0.0, 0

    def create_optimizer(self, model=None):  # noqa: ANN001
        opt = super().create_optimizer(model)
        if not self.lr_by_part or self.is_deepspeed_enabled:
            return opt
        from vitcli.modeling.freeze import part_of as part_name

        opt_model = model or self.model
        enc_dec = getattr(opt_model.config, "is_encoder_decoder", False)
        part_of = {id(p): part_name(n, enc_dec) for n, p in opt_model.named_parameters()}
        groups = []
        for g in opt.param_groups:
            by_part = defaultdict(list)
            for p in g["params"]:
                by_part[part_of.get(id(p))].append(p)
            for part, params in by_part.items():
                groups.append(
                    {
                        **{k: v for k, v in g.items() if k != "params"},
                        "params": params,
                        "lr": self.lr_by_part.get(part, g["lr"]),
                    }
                )
        opt.param_groups = []  # no optimizer state exists yet, so regrouping is safe
        for g in groups:
            opt.add_param_group(g)
        return opt

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):  # noqa: ANN001
        """transformers 5's Trainer loads checkpoint weights with load_state_dict(strict=False), but Llava
        checkpoints are saved under the legacy key names, so nothing loads and resume silently restarts from
        the initial weights. Load through from_pretrained (which maps the keys) and copy in strictly."""
        from vitcli.runtime.errors import ModelError

        ckpt = Path(resume_from_checkpoint)
        sharded = self.is_fsdp_enabled or self.is_deepspeed_enabled or hasattr(self.model, "peft_config")
        if model is not None or sharded or not (ckpt / "model.safetensors").is_file():
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        first = next(self.model.parameters())
        saved = type(self.model).from_pretrained(str(ckpt), dtype=first.dtype)
        try:
            self.model.load_state_dict(saved.state_dict(), strict=True)
        except RuntimeError as e:
            raise ModelError(
                f"checkpoint '{ckpt}' does not match the model: {str(e).splitlines()[0]}",
                "resume with the same model flags as the original run",
            ) from None

    def _prepare_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Pop the sample-check keys a collator added (never model inputs): training batches raise or count them,
        evaluation batches (bad samples skipped) drop them."""
        from vitcli.training.samples import SampleLog

        log = self.sample_log if self.model.training and self.sample_log is not None else SampleLog(split="validation")
        return super()._prepare_inputs(log.take(inputs))

    def _get_train_sampler(self, train_dataset=None):  # noqa: ANN001
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.args.train_sampling_strategy == "group_by_length" and hasattr(dataset, "lengths"):
            group = self.args.train_batch_size * self.args.gradient_accumulation_steps
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return EpochSeededLengthSampler(dataset.lengths(), group, seed)
        return super()._get_train_sampler(train_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
        if self.augment_images and model.training:
            inputs = augment_batch(inputs, self.augment_images)
        if self.answers_only and "labels" in inputs:
            inputs = {**inputs, "logits_to_keep": answer_mask(inputs["labels"])}
        if not self.contrastive_weight or "pixel_values" not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self.contrastive == "views":
            loss, outputs = super().compute_loss(model, inputs, True, num_items_in_batch)
            unwrapped = self.accelerator.unwrap_model(model)
            extra = views_loss(unwrapped, inputs["pixel_values"], self.contrastive_temperature)
        else:
            loss, outputs = super().compute_loss(
                model, {**inputs, "output_hidden_states": True}, True, num_items_in_batch
            )
            image_token_id = self.accelerator.unwrap_model(model).config.image_token_id
            extra = contrastive_loss(outputs, inputs, image_token_id, self.contrastive_temperature)
        if model.training:
            self._contrastive_sum += float(extra.detach())
            self._contrastive_n += 1
        if self.model_accepts_loss_kwargs and num_items_in_batch is not None:
            extra = extra / self.current_gradient_accumulation_steps  # the LM loss is already per-step
        loss = loss + self.contrastive_weight * extra.to(loss.dtype)
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs and self._contrastive_n:
            logs["contrastive_loss"] = round(self._contrastive_sum / self._contrastive_n, 6)
            self._contrastive_sum, self._contrastive_n = 0.0, 0
        super().log(logs, *args, **kwargs)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):  # noqa: ANN001
        metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        sharded = self.is_fsdp_enabled or self.is_deepspeed_enabled  # rank 0 alone cannot generate
        if self.task_eval and not sharded and self.is_world_process_zero():
            task = self.task_eval(self.accelerator.unwrap_model(self.model))
            score = selection_score(task)
            if score is not None:
                task[f"{metric_key_prefix}_{SELECTION_METRIC}"] = score
            self.log(task)
            metrics.update(task)
        torch.set_grad_enabled(True)
        return metrics
