"""Knowledge distillation: a small student trained on a finished teacher run's soft targets plus the hard one.

At every position the student predicts the next item, the teacher's distribution over the whole catalogue is
the soft target (Hinton et al., 2015)::

    loss = (1 - weight) * hard_loss + weight * T^2 * mean_positions KL(softmax(t / T) || softmax(s / T))

with ``t`` and ``s`` the teacher's and the student's scores ``[N, C]`` over the ``C`` real items (PAD and OOV
left out) at the ``N`` real positions of the batch, ``T`` the temperature (``T^2`` keeps the soft gradients'
scale as ``T`` grows) and ``hard_loss`` the student's own next-item loss (``model_config.loss``). The teacher is
frozen and reads the same histories (its latest ``max_len`` columns when its ``max_len`` is shorter); only the
training loss changes, validation and testing score the student alone.

Config (``TrainConfig.distillation``)::

    distillation: {teacher: runs/gsasrec_d128, temperature: 2.0, weight: 0.5}

The teacher must be a causal next-item model (SASRec, gSASRec, GRU4Rec, HSTU, ...: a state per position) trained
on the same item vocabulary; the student any model trained with the next-item loss at every position. A teacher
trained on an earlier vocabulary that this data extends (``tfseqrec preprocess --base-vocabulary``) teaches over
its own items only (both distributions over the ``C`` items it knows; newer items in a history read as OOV to
it): while fine-tuning on a new slice, the
previous model keeps the new one close to what it predicted for the earlier items, as ADER (Mi et al., RecSys
2020) distils the previous cycle's model.
"""

from __future__ import annotations

import tfseqrec  # noqa: F401  (Keras 2)
import tensorflow as tf

from tfseqrec.ids import FIRST_ITEM_ID, OOV_ID
from tfseqrec.tasks.replicas import global_mean
from tfseqrec.training.config import DistillationConfig


class Distiller:
    """Blends a student's hard next-item loss with the frozen ``teacher``'s soft targets (module docstring).

    A plain object (not a Keras layer), so the teacher's weights are never the student's: they are not trained,
    not counted and not saved with it.
    """

    def __init__(self, teacher, config: DistillationConfig):
        self.teacher, self.config = teacher, config
        self.items = teacher.num_items  # the ids both score (a prefix of the student's when it grew)

    def blend(self, hard_loss, student, history, features: dict, queries, mask) -> tf.Tensor:
        """``(1 - w) hard_loss + w T^2 KL``; ``history [B, L]`` and ``features {name: [B, L]}`` are the student's
        inputs, ``queries [B, L, D]`` its query states, ``mask [B, L]`` the positions with a target."""
        keep = self.teacher.config.max_len
        history, queries, mask = history[:, -keep:], queries[:, -keep:], mask[:, -keep:]
        features = {name: value[:, -keep:] for name, value in features.items()}
        if self.items < student.num_items:  # items newer than the teacher are out of its vocabulary
            history = tf.where(history >= self.items, tf.constant(OOV_ID, history.dtype), history)
        teacher_states = self.teacher.encode_inputs(history, False, features)  # [B, Lt, Dt]
        temperature = float(self.config.temperature)
        teacher_logits = self.teacher.scores_for(tf.boolean_mask(teacher_states, mask))[:, FIRST_ITEM_ID:]
        student_logits = student.scores_for(tf.boolean_mask(queries, mask))[:, FIRST_ITEM_ID : self.items]  # [N, C]
        teacher_log_p = tf.nn.log_softmax(tf.stop_gradient(teacher_logits) / temperature)
        student_log_p = tf.nn.log_softmax(student_logits / temperature)
        kl = tf.reduce_sum(tf.exp(teacher_log_p) * (teacher_log_p - student_log_p), axis=-1)  # [N]
        soft = global_mean(tf.reduce_sum(kl), tf.cast(tf.size(kl), tf.float32)) * temperature**2
        weight = float(self.config.weight)
        return (1.0 - weight) * hard_loss + weight * soft


def attach_teacher(student, teacher, config: DistillationConfig, grown: bool = False) -> Distiller:
    """Checks that ``teacher`` can teach ``student`` and sets ``student.distiller``; returns it. ``grown``: the
    student's vocabulary extends the teacher's (checked by the caller), which then teaches over its own ids."""
    same = teacher.num_items == student.num_items
    if not (same or (grown and teacher.num_items < student.num_items)):
        raise ValueError(
            f"distillation.teacher={config.teacher!r} scores {teacher.num_items} item ids, the student "
            f"{student.num_items}: train the teacher on the same preprocessed data (same vocabulary), or on an "
            f"earlier slice that this data extends (tfseqrec preprocess --base-vocabulary)"
        )
    if not (teacher.causal and teacher.supports_heads and teacher.adaptation is None):
        raise ValueError(
            f"distillation.teacher={config.teacher!r} trains {teacher.registry_name!r}, which has no next-item "
            f"state at every position: teach with a causal next-item model (sasrec, gsasrec, gru4rec, hstu, ...)"
        )
    if not student.supports_heads:
        raise ValueError(
            f"model {student.registry_name!r} has its own training loss, which distillation does not blend: "
            f"distil into a model trained with the next-item loss (sasrec, gru4rec, hstu, ...)"
        )
    teacher.trainable = False
    distiller = Distiller(teacher, config)
    student.distiller = distiller
    return distiller
