"""``model_config.adaptation``: per-user adaptation of the query in a few gradient steps, and how it is meta-learned."""

from __future__ import annotations

import dataclasses
from typing import Union

ALGORITHMS = ("maml", "fomaml", "reptile", "none")
EPISODES = ("first", "random")
OUTER = ("all", "adapter")


@dataclasses.dataclass(frozen=True)
class AdaptationConfig:
    """How a history adapts the query before scoring (``tfseqrec.models.adaptation``; off by default).

    ``adapter``: the per-user parameters the inner loop changes (``query_offset``, ``film``; see
    ``adapters.py``), or ``none``. ``inner_steps`` gradient steps of size ``inner_lr`` on the next-item
    cross-entropy of the pairs among a history's latest ``support_window`` items adapt them. ``inner_lr`` is one
    step size, or a list of ``support_window - 1``: the step size for a history with 1, 2, ... pairs (a user with
    two events may need a smaller step than one with five); ``learn_inner_lr`` meta-learns one step size per
    adapter parameter and number of pairs (Meta-SGD). ``algorithm``: how training meta-learns the
    adapter's initial value and the shared weights over per-user episodes: ``maml`` (through the inner steps,
    second order), ``fomaml`` (first order), ``reptile`` (the initial value moves toward the adapted values;
    the shared weights take the query loss at the adapted state), or ``none`` (plain next-item training; the
    adaptation runs at inference only: fine-tuning the adapter on each history). Episodes come from training
    histories: a support of ``episode_support = [min, max]`` items, drawn per row, and the item after it as the
    query; ``first`` takes each history's first events (a new user's situation), ``random`` any window.
    ``next_item_weight`` adds the plain next-item loss over whole training rows to the meta loss. ``outer``: what
    meta-training changes: ``all`` weights (the shared ones too), or the ``adapter``'s initial value and step
    sizes alone (the warm model's weights stay as they are).
    """

    adapter: str = "none"
    algorithm: str = "maml"
    inner_steps: int = 3
    inner_lr: Union[float, tuple] = 0.5
    learn_inner_lr: bool = True
    support_window: int = 5
    episode_support: tuple = (1, 5)
    episodes: str = "first"
    next_item_weight: float = 0.0
    outer: str = "all"

    def __post_init__(self):
        from tfseqrec.models.adaptation.adapters import ADAPTERS

        if self.adapter != "none" and self.adapter not in ADAPTERS:
            raise ValueError(f"adaptation.adapter={self.adapter!r}: use none or one of {', '.join(sorted(ADAPTERS))}")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"adaptation.algorithm={self.algorithm!r}: use one of {', '.join(ALGORITHMS)}")
        if self.episodes not in EPISODES:
            raise ValueError(f"adaptation.episodes={self.episodes!r}: use one of {', '.join(EPISODES)}")
        if self.support_window < 2:
            raise ValueError(f"adaptation.support_window={self.support_window} must be >= 2 (one pair of items)")
        if self.inner_steps < 0:
            raise ValueError(f"adaptation.inner_steps={self.inner_steps} must be >= 0")
        steps = self.inner_lr if isinstance(self.inner_lr, (tuple, list)) else None
        if steps is not None and len(steps) != self.support_window - 1:
            raise ValueError(
                f"adaptation.inner_lr={list(steps)}: give one step size, or {self.support_window - 1} "
                f"(one per number of pairs, 1 to support_window - 1)"
            )
        if not all(isinstance(v, (int, float)) and v > 0 for v in (steps if steps is not None else [self.inner_lr])):
            raise ValueError(f"adaptation.inner_lr={self.inner_lr!r}: step sizes must be numbers > 0")
        low, high = (int(v) for v in self.episode_support)
        if not 1 <= low <= high:
            raise ValueError(
                f"adaptation.episode_support={list(self.episode_support)}: give [min, max], 1 <= min <= max"
            )
        if self.outer not in OUTER:
            raise ValueError(f"adaptation.outer={self.outer!r}: use one of {', '.join(OUTER)}")
        if self.next_item_weight < 0:
            raise ValueError(f"adaptation.next_item_weight={self.next_item_weight} must be >= 0")

    @property
    def step_sizes(self) -> tuple:
        """The step size for a history with ``1 .. support_window - 1`` pairs."""
        if isinstance(self.inner_lr, (tuple, list)):
            return tuple(float(v) for v in self.inner_lr)
        return (float(self.inner_lr),) * (self.support_window - 1)

    @property
    def enabled(self) -> bool:
        return self.adapter != "none"

    @property
    def meta_trains(self) -> bool:
        return self.enabled and self.algorithm != "none"
