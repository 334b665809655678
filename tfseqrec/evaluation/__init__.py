"""Full-ranking evaluation: numpy metrics (:mod:`.metrics`), batched TF ranking (:mod:`.ranking`),
the next-item events of session splits (:mod:`.sessions`), the evaluator (:mod:`.evaluator`) and its
result files (:mod:`.results`).

``metrics`` and ``results`` do not import TensorFlow; ``evaluate`` and ``EvaluationConfig`` are
loaded lazily (they do).
"""

from tfseqrec.evaluation.results import EvaluationResult

__all__ = ["EvaluationConfig", "EvaluationResult", "evaluate"]


def __getattr__(name):  # Lazy: the evaluator imports TensorFlow, the metrics do not.
    if name in ("evaluate", "EvaluationConfig"):
        from tfseqrec.evaluation import evaluator

        return getattr(evaluator, name)
    raise AttributeError(name)
