"""``next_event_type``: which behaviour (click / cart / order) the next event will be."""

from __future__ import annotations

from tfseqrec.models.heads.base import ClassificationHead, HeadConfig
from tfseqrec.models.heads.registry import register_head
from tfseqrec.models.inputs import EVENT_TYPES


@register_head("next_event_type", HeadConfig)
class NextEventType(ClassificationHead):
    """Softmax over the data's event types (ids 1..n; 0 is padding), read from the ``event_types`` records."""

    record_features = (EVENT_TYPES,)

    def classes(self, side_inputs) -> int:
        if side_inputs is None or side_inputs.num_event_types < 1:
            raise ValueError("head next_event_type: the data have no event types (preprocess with --event-col)")
        return side_inputs.num_event_types + 1

    def labels(self, next_events, current):
        return next_events[EVENT_TYPES]
