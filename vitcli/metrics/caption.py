"""COCO caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr, optional SPICE) through pycocoevalcap, called
the way the official COCOEvalCap demo calls it: PTB-tokenise references and predictions (Java), then run
each scorer in image order. Owns input validation and the Java/SPICE preflight; no file parsing, no torch.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitcli.runtime.errors import ConfigError, DataError

CAPTION_KEYS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")
JAVA_HINT = "install a Java runtime (e.g. `apt-get install default-jre`) and make sure `java` is on PATH"
SPICE_CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")


@dataclass
class CaptionScores:
    metrics: dict[str, float]  # corpus scores, keys CAPTION_KEYS (+ "SPICE")
    per_image: dict[Any, dict[str, Any]] = field(default_factory=dict)  # image id -> {metric: score}
    tokenized_predictions: dict[Any, str] = field(default_factory=dict)


def pycocoevalcap_version() -> str:
    try:
        return importlib.metadata.version("pycocoevalcap")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def check_java() -> str:
    """Path of the `java` executable, or a ConfigError saying how to install one."""
    java = shutil.which("java")
    if java is None:
        raise ConfigError(
            "caption metrics need Java (pycocoevalcap's PTB tokenizer and METEOR), but `java` was not found on PATH",
            JAVA_HINT,
        )
    return java


def _spice_dir() -> Path:
    import pycocoevalcap.spice.spice as spice_module

    return Path(spice_module.__file__).resolve().parent


def check_spice() -> None:
    """SPICE needs its jar plus the Stanford CoreNLP 3.6.0 jars, which pycocoevalcap would otherwise try to
    download at run time; refuse early and name the first missing file."""
    spice_dir = _spice_dir()
    needed = [spice_dir / "spice-1.0.jar"] + [spice_dir / "lib" / name for name in SPICE_CORENLP_JARS]
    for path in needed:
        if not path.is_file():
            raise ConfigError(
                f"SPICE needs '{path}', which is missing",
                "run `python -m pycocoevalcap.spice.get_stanford_models` with internet access (it fetches "
                "stanford-corenlp-full-2015-12-09.zip), or score without --spice",
            )


def validate_caption_inputs(predictions: Mapping[Any, str], references: Mapping[Any, Sequence[str]]) -> None:
    """Every prediction needs a non-empty string and at least one reference; errors list the first ids."""
    if not predictions:
        raise DataError("there are no predictions to score", "check the predictions file")
    no_refs = [k for k in predictions if not references.get(k)]
    if no_refs:
        raise DataError(
            f"{len(no_refs)} predicted image(s) have no reference captions, e.g. {_first(no_refs)}",
            "check that predictions and references use the same image ids",
        )
    bad = [k for k, v in predictions.items() if not isinstance(v, str)]
    if bad:
        raise DataError(f"{len(bad)} prediction(s) are not strings, e.g. {_first(bad)}", "captions must be text")
    bad_refs = [k for k in predictions if not all(isinstance(r, str) for r in references[k])]
    if bad_refs:
        raise DataError(
            f"{len(bad_refs)} image(s) have non-string references, e.g. {_first(bad_refs)}",
            "reference captions must be text",
        )


def _first(ids: Sequence[Any], n: int = 5) -> str:
    return ", ".join(repr(i) for i in list(ids)[:n]) + (" ..." if len(ids) > n else "")


def compute_caption_metrics(
    predictions: Mapping[Any, str],
    references: Mapping[Any, Sequence[str]],
    *,
    spice: bool = False,
) -> CaptionScores:
    """Score one caption per image against its references, as COCOEvalCap does.

    Images are scored in the order of `predictions` (the demo's order is the annotation file's image
    order filtered to the results: pass them in that order to reproduce its floating point to the bit).
    Only images present in `predictions` are scored; each needs references."""
    validate_caption_inputs(predictions, references)
    check_java()
    if spice:
        check_spice()
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge

    try:
        gts, res = ptb_tokenize(predictions, references)
        metrics: dict[str, float] = {}
        per_image: dict[Any, dict[str, Any]] = {k: {} for k in gts}
        scorers: list[tuple[Any, Any]] = [
            (Bleu(4), list(CAPTION_KEYS[:4])),
            (Meteor(), "METEOR"),
            (Rouge(), "ROUGE_L"),
            (Cider(), "CIDEr"),
        ]
        if spice:
            from pycocoevalcap.spice.spice import Spice

            scorers.append((Spice(), "SPICE"))
        for scorer, method in scorers:
            with contextlib.redirect_stdout(io.StringIO()):  # Bleu prints its statistics; core never prints
                score, scores = scorer.compute_score(gts, res)
            names, values, rows = (method, score, scores) if isinstance(method, list) else ([method], [score], [scores])
            for name, value, row in zip(names, values, rows, strict=True):
                metrics[name] = _spice_f(value) if name == "SPICE" else float(value)
                for img, s in zip(gts.keys(), row, strict=True):
                    per_image[img][name] = _spice_f(s) if name == "SPICE" else float(s)
    except (OSError, subprocess.SubprocessError) as e:
        raise ConfigError(f"pycocoevalcap's Java tools failed: {e}", JAVA_HINT) from None
    except (ValueError, AssertionError) as e:  # Java died mid-way: METEOR's readline() yields ''
        raise ConfigError(
            f"pycocoevalcap's Java tools returned unusable output ({e!r})",
            "check `java -version` works and that the JVM has ~2 GB of memory for METEOR",
        ) from None
    return CaptionScores(metrics=metrics, per_image=per_image, tokenized_predictions={k: v[0] for k, v in res.items()})


def ptb_tokenize(
    predictions: Mapping[Any, str], references: Mapping[Any, Sequence[str]]
) -> tuple[dict[Any, list[str]], dict[Any, list[str]]]:
    """(references, predictions) after COCO's Java PTB tokenizer, its speed report kept off the terminal."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tokenizer = PTBTokenizer()
    with java_stderr_kept() as said:
        gts = tokenizer.tokenize({k: [{"caption": c} for c in references[k]] for k in predictions})
        res = tokenizer.tokenize({k: [{"caption": predictions[k]}] for k in predictions})
    _check_tokenized(gts, res, len(predictions), "".join(said))
    return gts, res


def corpus_cider(predictions: Mapping[Any, str], references: Mapping[Any, Sequence[str]]) -> float:
    """Corpus CIDEr alone (COCO's CIDEr-D after PTB tokenisation): what validation-based selection ranks by."""
    from pycocoevalcap.cider.cider import Cider

    check_java()
    try:
        gts, res = ptb_tokenize(predictions, references)
    except (OSError, subprocess.SubprocessError) as e:
        raise ConfigError(f"pycocoevalcap's Java tools failed: {e}", JAVA_HINT) from None
    return float(Cider().compute_score(gts, res)[0])


def _spice_f(value: Any) -> float:
    """SPICE per-image rows are nested dicts; keep the headline F-score, like the corpus value."""
    if isinstance(value, dict):
        return float(value["All"]["f"])
    return float(value)


@contextlib.contextmanager
def java_stderr_kept() -> Iterator[list[str]]:
    """The PTB tokenizer's Java process inherits file descriptor 2 and reports its speed there on every call (ten
    lines per training run with validation captions). Point fd 2 at a temporary file meanwhile; the yielded list
    holds what was written once the block ends, for the error message when the tokenizer fails."""
    said: list[str] = []
    fd = 2  # what a child process inherits, whatever sys.stderr is (a progress display may have replaced it)
    try:
        saved = os.dup(fd)
    except OSError:  # no fd 2 at all: nothing to keep quiet
        yield said
        return
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), fd)
        try:
            yield said
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            said.append(sink.read().decode(errors="replace"))


def _check_tokenized(gts: Mapping[Any, list[str]], res: Mapping[Any, list[str]], n: int, java_said: str = "") -> None:
    if len(gts) != n or len(res) != n:
        last = java_said.strip().splitlines()[-1:]
        raise ConfigError(
            "the PTB tokenizer (Java) returned fewer lines than it was given" + (f" (Java: {last[0]})" if last else ""),
            "check `java -version` works; captions must not hold unusual control characters",
        )
