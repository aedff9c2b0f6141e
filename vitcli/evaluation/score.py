"""Score predictions against references for each task and wrap the result in an EvalReport with provenance.
`score_*` take in-memory dicts (ids are strings); `score_files` reads files per EvalConfig. No model here,
and nothing here imports torch: scoring a file must stay cheap."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from vitcli import __version__
from vitcli.config import EvalConfig
from vitcli.evaluation.predictions import (
    Loaded,
    VqaQuestion,
    check_coverage,
    read_coco_captions,
    read_keyed_references,
    read_pid_splits,
    read_predictions,
    read_vqa_annotations,
)
from vitcli.evaluation.report import EvalReport
from vitcli.metrics.choice import ChoiceItem, compute_choice_accuracy
from vitcli.metrics.gqa import GQA_NORMALIZATIONS, compute_gqa_accuracy, summarize_gqa
from vitcli.metrics.pope import compute_pope_metrics
from vitcli.metrics.vqa import compute_vqa_accuracy
from vitcli.runtime.errors import ConfigError, DataError, UsageError
from vitcli.runtime.io import write_jsonl

TASKS = ("caption", "vqa", "gqa", "multiple-choice", "pope")


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic GC while parsing/scoring: it only creates acyclic containers, and with a few million
    of them live, each generation-2 pass re-walks the whole heap (measured: ~40% of VQA scoring time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _provenance(scorer: str, sources: Sequence[Loaded] = (), **more: Any) -> dict[str, Any]:
    prov: dict[str, Any] = {"vitcli_version": __version__, "scorer": scorer}
    prov.update(more)
    if sources:
        prov["inputs"] = [{"path": s.path, "sha256": s.sha256, "format": s.format} for s in sources]
    return prov


def _missing_note(missing: list[str]) -> dict[str, Any]:
    return {"num_missing": len(missing), "missing_ids": missing[:20]} if missing else {}


def score_captions(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    *,
    require_all: bool = False,
    allow_missing: bool = False,
    spice: bool = False,
    sources: Sequence[Loaded] = (),
) -> EvalReport:
    """COCO caption metrics over the images that have a prediction (the COCO demo convention), in reference
    order. require_all: every reference image needs a prediction (with allow_missing, a missing one is
    scored as an empty caption). Extra prediction ids are always an error."""
    from vitcli.metrics.caption import compute_caption_metrics, pycocoevalcap_version

    cov = check_coverage(
        predictions,
        references,
        allow_missing=allow_missing,
        missing_ok=not require_all,
        what="caption prediction",
    )
    ordered = {k: predictions.get(k, "") for k in (references if require_all else cov.scored)}
    scores = compute_caption_metrics(ordered, references, spice=spice)
    per_item = [
        {
            "id": k,
            "prediction": predictions.get(k),
            "score": scores.per_image[k]["CIDEr"],
            "scores": scores.per_image[k],
            "references": list(references[k]),
        }
        for k in ordered
    ]
    prov = _provenance(
        "pycocoevalcap COCOEvalCap (PTB tokenizer, Java)",
        sources,
        pycocoevalcap_version=pycocoevalcap_version(),
        num_unscored_references=0 if require_all else len(cov.missing),
        **(_missing_note(cov.missing) if require_all else {}),
    )
    return EvalReport(
        task="caption", metrics=scores.metrics, num_scored=len(ordered), provenance=prov, per_item=per_item
    )


def _as_question(qid: str, info: Any) -> VqaQuestion:
    if type(info) is VqaQuestion or isinstance(info, VqaQuestion):
        return info
    if isinstance(info, Mapping):
        answers = [a["answer"] if isinstance(a, Mapping) else a for a in info.get("answers", [])]
        return VqaQuestion(qid, answers, info.get("answer_type"), info.get("question_type"), info.get("question"))
    raise DataError(f"question {qid!r}: expected answers info, got {type(info).__name__}", "internal input error")


def score_vqa(
    predictions: Mapping[str, str],
    items: Mapping[str, VqaQuestion | Mapping[str, Any]],
    *,
    allow_missing: bool = False,
    sources: Sequence[Loaded] = (),
) -> EvalReport:
    """Official VQA v2 accuracy; `items` maps question id -> VqaQuestion (or a mapping with answers,
    answer_type, question_type), scored in its order. Missing predictions score 0 with allow_missing."""
    with paused_gc():
        return _score_vqa(predictions, items, allow_missing, sources)


def _score_vqa(
    predictions: Mapping[str, str],
    items: Mapping[str, VqaQuestion | Mapping[str, Any]],
    allow_missing: bool,
    sources: Sequence[Loaded],
) -> EvalReport:
    cov = check_coverage(predictions, items, allow_missing=allow_missing, what="VQA prediction")
    questions = [_as_question(k, v) for k, v in items.items()]
    get = predictions.get
    scores = compute_vqa_accuracy(
        [(q.question_id, get(q.question_id), q.answers, q.answer_type, q.question_type) for q in questions]
    )
    acc = scores.per_item
    per_item = [
        {
            "id": q.question_id,
            "prediction": get(q.question_id),
            "score": acc[q.question_id],
            "answers": q.answers,
            "question": q.question,
            "answer_type": q.answer_type,
            "question_type": q.question_type,
        }
        for q in questions
    ]
    prov = _provenance("VQA v2 accuracy (GT-Vision-Lab/VQA vqaEval.py rules)", sources, **_missing_note(cov.missing))
    report = EvalReport(
        task="vqa", metrics=scores.to_dict(), num_scored=len(questions), provenance=prov, per_item=per_item
    )
    few = [q for q in questions if len(q.answers) < 3]
    if few:
        one = sum(len(q.answers) == 1 for q in few)
        report.warnings.append(
            f"{len(few)} of {len(questions)} questions have fewer than 3 human answers ({one} have one): the official "
            "metric scores a matching prediction n/3 at most there (0 with one answer; VQA v2 has 10 per question); "
            "for single-answer data use --task gqa (exact match)"
        )
    return report


def _missing_zero(predictions: Mapping[str, str], refs: Mapping[str, Any], allow_missing: bool, what: str):
    cov = check_coverage(predictions, refs, allow_missing=allow_missing, what=what)
    return cov, {k: predictions[k] for k in cov.scored}


def _merge_zero(per: Mapping[str, float], refs: Mapping[str, Any]) -> dict[str, float]:
    return {k: per.get(k, 0.0) for k in refs}


def score_gqa(
    predictions: Mapping[str, str],
    answers: Mapping[str, str],
    *,
    allow_missing: bool = False,
    normalize: str = "official",
    balanced: Mapping[str, bool] | None = None,
    types: Mapping[str, Mapping[str, Any]] | None = None,
    sources: Sequence[Loaded] = (),
) -> EvalReport:
    """GQA accuracy, 0-100, over balanced questions (official eval.py; `balanced` absent = all count), with
    `normalize` "official" (trailing periods stripped, lower case, exact match) or "vqa". Missing predictions
    score 0 with allow_missing."""
    check_gqa_normalize(normalize)
    cov, present = _missing_zero(predictions, answers, allow_missing, "GQA prediction")
    per = _merge_zero(compute_gqa_accuracy(present, answers, normalize=normalize).per_item, answers)
    scores = summarize_gqa(per, balanced, types)
    balanced = balanced or {}
    per_item = [
        {
            "id": k,
            "prediction": predictions.get(k),
            "score": v,
            "answer": answers[k],
            "balanced": bool(balanced.get(k, True)),
        }
        for k, v in per.items()
    ]
    scorer = GQA_SCORERS[normalize]
    return EvalReport(
        "gqa",
        scores.to_dict(),
        len(per),
        _provenance(scorer, sources, gqa_normalize=normalize, **_missing_note(cov.missing)),
        per_item,
    )


GQA_SCORERS = {
    "official": "GQA eval.py as LLaVA runs it (trailing periods stripped, lower case, exact match, balanced only)",
    "vqa": "exact match after VQA normalisation (balanced only)",
}


def check_gqa_normalize(normalize: str) -> None:
    if normalize not in GQA_NORMALIZATIONS:
        raise UsageError(
            f"--gqa-normalize must be one of {', '.join(GQA_NORMALIZATIONS)}, not '{normalize}'",
            "official reproduces the GQA eval.py; vqa applies the VQA v2 answer normalisation",
        )


def gqa_references(rows: Mapping[str, Mapping[str, Any]]) -> tuple[dict, dict, dict]:
    """GQA questions (or {id, answer} rows) -> (answers, isBalanced where given, types where given)."""
    answers = {k: str(v["answer"]) for k, v in rows.items()}
    balanced = {k: bool(v["isBalanced"]) for k, v in rows.items() if "isBalanced" in v}
    types = {k: v["types"] for k, v in rows.items() if isinstance(v.get("types"), Mapping)}
    return answers, balanced, types


def score_multiple_choice(
    predictions: Mapping[str, str],
    keys: Mapping[str, Mapping[str, Any]],
    *,
    allow_missing: bool = False,
    strict: bool = True,
    sources: Sequence[Loaded] = (),
) -> EvalReport:
    """Letter accuracy, 0-100. keys: id -> {"answer": letter or 0-based index, "choices": [...] optional}."""
    cov, present = _missing_zero(predictions, keys, allow_missing, "multiple-choice prediction")
    items = [ChoiceItem(k, v, keys[k].get("answer"), keys[k].get("choices")) for k, v in present.items()]
    scores = compute_choice_accuracy(items, strict=strict)
    per = _merge_zero(scores.per_item, keys)
    per_item = [
        {
            "id": k,
            "prediction": predictions.get(k),
            "parsed": scores.parsed.get(k),
            "score": v,
            "answer": keys[k].get("answer"),
            "choices": keys[k].get("choices"),
        }
        for k, v in per.items()
    ]
    metrics = {"accuracy": 100 * sum(per.values()) / len(per), "num_unparsed": scores.num_unparsed}
    scorer = "LLaVA ScienceQA letter parser" + ("" if strict else " + vitcli fallbacks")
    return EvalReport(
        "multiple-choice",
        metrics,
        len(per),
        _provenance(scorer, sources, **_missing_note(cov.missing)),
        per_item,
    )


def score_pope(
    predictions: Mapping[str, str],
    labels: Mapping[str, str],
    *,
    allow_missing: bool = False,
    sources: Sequence[Loaded] = (),
) -> EvalReport:
    """POPE metrics over the predicted ids (fractions in [0, 1]); missing predictions are not invented:
    with allow_missing they are reported and counted as wrong in accuracy only."""
    cov, present = _missing_zero(predictions, labels, allow_missing, "POPE prediction")
    scores = compute_pope_metrics(present, labels)
    metrics = scores.to_dict()
    if cov.missing:
        metrics["accuracy"] = sum(scores.per_item.values()) / len(labels)
    per_item = [
        {
            "id": k,
            "prediction": predictions.get(k),
            "parsed": scores.parsed.get(k),
            "score": scores.per_item.get(k, 0.0),
            "label": labels[k],
        }
        for k in labels
    ]
    return EvalReport(
        "pope",
        metrics,
        len(labels),
        _provenance("POPE (official yes/no parser)", sources, **_missing_note(cov.missing)),
        per_item,
    )


def _need(value: str | None, flag: str, task: str) -> str:
    if not value:
        raise ConfigError(f"--task {task} needs {flag} to score a predictions file", f"pass {flag} FILE")
    return value


def _reference_flag(cfg: EvalConfig) -> tuple[str, str]:
    """The reference file a task reads, and its flag; a missing one is a ConfigError before any reading."""
    if cfg.task == "vqa":
        return _need(cfg.annotations, "--annotations", cfg.task), "--annotations"
    if cfg.task == "caption":
        return _need(cfg.references, "--references", cfg.task), "--references"
    return _need(cfg.references or cfg.annotations or cfg.questions, "--references", cfg.task), "--references"


def score_files(cfg: EvalConfig) -> EvalReport:
    """Read cfg.predictions and the task's reference files, then score. No model is loaded.
    With cfg.max_samples, only the first N predictions and their references are scored."""
    with paused_gc():
        return _score_files(cfg)


def _score_files(cfg: EvalConfig) -> EvalReport:
    task = cfg.task
    if task not in TASKS:
        raise ConfigError(f"unknown task '{task}'", f"choose one of: {', '.join(TASKS)}")
    pred_path = _need(cfg.predictions, "--predictions", task)
    ref_path, _ = _reference_flag(cfg)
    preds = read_predictions(pred_path)
    texts = preds.texts
    if cfg.max_samples:
        texts = dict(list(texts.items())[: cfg.max_samples])

    def subset(refs: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in refs.items() if k in texts} if cfg.max_samples else refs

    missing_ok = cfg.allow_missing
    if task == "caption":
        refs, src = read_coco_captions(ref_path)
        return score_captions(
            texts,
            subset(refs),
            require_all=cfg.require_all,
            allow_missing=missing_ok,
            spice=cfg.spice,
            sources=[preds.source, src],
        )
    if task == "vqa":
        items, srcs = read_vqa_annotations(ref_path, cfg.questions)
        return score_vqa(texts, subset(items), allow_missing=missing_ok, sources=[preds.source, *srcs])
    if task == "gqa":
        check_gqa_normalize(cfg.gqa_normalize)
        rows, src = read_keyed_references(ref_path, ("answer",))
        answers, balanced, types = gqa_references(subset(rows))
        return score_gqa(
            texts,
            answers,
            allow_missing=missing_ok,
            normalize=cfg.gqa_normalize,
            balanced=balanced,
            types=types,
            sources=[preds.source, src],
        )
    if task == "multiple-choice":
        rows, src = read_keyed_references(ref_path, ("answer",))
        sources = [preds.source, src]
        outside = 0
        if cfg.pid_splits:  # as LLaVA's eval_science_qa.py: only the split's problems are scored
            rows, split_src = select_split(rows, cfg.pid_splits, cfg.split, ref_path)
            sources.append(split_src)
            outside = sum(k not in rows for k in texts)
            texts = {k: v for k, v in texts.items() if k in rows}
        report = score_multiple_choice(texts, subset(rows), allow_missing=missing_ok, sources=sources)
        if cfg.pid_splits:
            report.provenance.update(split=cfg.split, num_predictions_outside_split=outside)
        return report
    rows, src = read_keyed_references(ref_path, ("label", "answer"))
    labels = {k: str(v.get("label", v.get("answer"))) for k, v in subset(rows).items()}
    return score_pope(texts, labels, allow_missing=missing_ok, sources=[preds.source, src])


def select_split(
    problems: Mapping[str, Any], pid_splits: str, split: str, problems_path: str
) -> tuple[dict[str, Any], Loaded]:
    """The problems of one ScienceQA split, in pid_splits order; a listed id missing from problems is an error."""
    pids, src = read_pid_splits(pid_splits, split)
    unknown = [p for p in pids if p not in problems]
    if unknown:
        raise DataError(
            f"{len(unknown)} problem id(s) of split '{split}' in '{pid_splits}' are not in '{problems_path}': "
            f"{', '.join(map(repr, unknown[:5]))}",
            "pass the problems.json that goes with this pid_splits.json",
        )
    return {p: problems[p] for p in pids}, src


def write_per_item(path: str, report: EvalReport) -> int:
    """One JSON line per image/question (id, prediction, score, references/answers); '-' = stdout."""
    return write_jsonl(path, report.per_item)
