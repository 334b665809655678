"""HRNN (Quadrana et al., RecSys 2017): "Personalizing Session-based Recommendations with Hierarchical RNNs".

A session-level GRU runs inside each session; a user-level GRU runs across a user's sessions. When a
session ends, the user GRU consumes that session's final session-GRU state; the new user state then
initialises the next session's hidden state, ``h_session_0 = tanh(W_init c_user + b_init)``, and (variant
``user_input="all"``) is also fed, concatenated with the item embedding, as input at every step.

Layout in this package: a user's history is **one** left-padded item sequence ``item_ids [B, L]`` plus a
boolean ``session_starts [B, L]`` that is True at the first item of every session. ``encode`` scans over
the positions (``tf.scan``, batched over rows) carrying ``(session state, user state)``:

* at a session start that is not the row's first item, ``c <- UserGRU(h_session, c)`` and
  ``h_session <- tanh(W_init c + b_init)`` (``user_input="none"``: ``h_session <- 0`` and no user state,
  i.e. session-based GRU4Rec with resets, the baseline without the user path);
* then ``h_session <- SessionGRU(x_t [; c], h_session)`` and the output at ``t`` is that state (after
  dropout, and a linear map to ``embedding_dim`` when ``session_units != embedding_dim``).

Padding positions leave the states unchanged (left padding: the scan starts from zero states) and
output zeros. Without ``session_starts`` (for example batches from :func:`tfseqrec.data.make_dataset`)
there are no boundaries and the model is a one-layer GRU4Rec over the whole sequence (with the extra
user input of zeros for ``"all"``). The state at ``t`` depends on items and starts ``0..t`` only (causal).

Where the session starts come from (two ways, the first is what ``tfseqrec train`` uses):

1. **From timestamps** (``session_gap_seconds`` set): the data are ordinary per-user records with
   ``timestamps`` (ms, as ``tfseqrec preprocess`` writes them for any log with a time column, e.g.
   ML-1M's ``ratings.dat`` with the default leave-one-out split). The model then declares
   ``input_features = ("item_ids", "timestamps")``, the trainer and the evaluator pass the timestamps
   along, and :meth:`HRNN.session_starts` marks, in-graph, every item that follows the previous one by
   more than the gap (and the row's first item). Nothing has to be grouped beforehand, the standard
   loader and evaluator work unchanged, and training and evaluation see the same boundaries:
   training windows (``max_len + 1`` items) carry the target's timestamp, so a target that opens a
   session is known and, with ``predict_session_starts=False`` (the paper), never trained on; at
   evaluation the history's timestamps give its sessions, the target's are not seen, and the target
   is ranked from the last state as given, whether or not it opens a new session.
2. **Given explicitly**: ``session_starts [B, L]`` (bool) in the batch dict or as an argument, e.g.
   from :func:`load_user_sequences` (below), in a hand-written training loop.

Without either there are no boundaries and HRNN is a one-layer GRU over the whole history.

Training: ``compute_loss`` takes ``{"item_ids": [B, L + 1]}`` plus ``"timestamps"`` or
``"session_starts"`` (``[B, L + 1]``, optional), shifted like the base class: every non-padding
position is a target. The paper never predicts a session's first item; ``predict_session_starts=False``
masks those targets the same way. Scoring: ``score_all(item_ids, session_starts=None, timestamps=None)``
from the last position. A session's first item is an input: to recommend for a new session of a user,
pass the history including that item.

Data for way 2: :func:`sessions_to_user_sequences` groups sessionized records (one record per session
with ``user_id`` and ``session_index``, as the preprocessing pipeline writes with ``--session-gap``) per
user into the layout above (numpy, in memory); :func:`read_session_records` reads those three features
from TFRecord files and :func:`load_user_sequences` does both for a split of a preprocessed dataset;
:func:`user_sequence_dataset` batches the arrays as a ``tf.data.Dataset`` for ``model.fit``. This
in-memory path is meant for data sets that fit in memory. (Sessionized records have one leave-one-out
target per *session*, not per user, which is why ``tfseqrec train`` uses way 1.)
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, Optional, Sequence

import numpy as np

import tfseqrec  # noqa: F401  (Keras 2 for TFRS)
import tensorflow as tf

from tfseqrec.models.base import SequentialModelConfig, SequentialRecommender
from tfseqrec.ids import PAD_ID
from tfseqrec.models.dropout import FastDropout
from tfseqrec.models.registry import register

USER_INPUTS = ("init", "all", "none")


@dataclasses.dataclass(frozen=True)
class HRNNConfig(SequentialModelConfig):
    """HRNN's own fields (the shared ones are in :class:`SequentialModelConfig`).

    Attributes:
      session_units: units of the session GRU; ``None`` = ``embedding_dim``.
      user_units: units of the user GRU; ``None`` = ``session_units``.
      user_input: ``"init"`` (the user state initialises each session: HRNN Init), ``"all"`` (also fed
        as input at every step: HRNN All) or ``"none"`` (no user path; sessions restart from zero:
        session-based GRU4Rec, the ablation baseline).
      dropout_embedding: dropout on the input item embeddings.
      dropout_hidden: dropout on the session GRU's outputs (not on the carried state); ``None`` = the
        shared ``dropout`` field.
      predict_session_starts: False masks the targets that begin a session (the paper's protocol).
      session_gap_seconds: when set, a session starts at every item more than this many seconds after
        the previous one, computed from the ``timestamps`` feature (ms) in-graph; the model then reads
        ``timestamps`` (``input_features``). ``None``: ``session_starts`` are given explicitly, or none.
    """

    session_units: Optional[int] = None
    user_units: Optional[int] = None
    user_input: str = "init"
    dropout_embedding: float = 0.0
    dropout_hidden: Optional[float] = None
    predict_session_starts: bool = True
    session_gap_seconds: Optional[float] = None

    def __post_init__(self):
        super().__post_init__()
        for name in ("session_units", "user_units"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")
        if self.user_input not in USER_INPUTS:
            raise ValueError(f"user_input must be one of {USER_INPUTS}, got {self.user_input!r}")
        for name in ("dropout_embedding", "dropout_hidden"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise ValueError(f"{name}={value} must be in [0, 1)")
        gap = self.session_gap_seconds
        if gap is not None and (isinstance(gap, bool) or not isinstance(gap, (int, float)) or not gap > 0):
            raise ValueError(f"session_gap_seconds must be a number > 0 or None, got {gap!r}")

    @property
    def session_size(self) -> int:
        return self.session_units if self.session_units is not None else self.embedding_dim

    @property
    def user_size(self) -> int:
        return self.user_units if self.user_units is not None else self.session_size

    @property
    def hidden_dropout_rate(self) -> float:
        return self.dropout if self.dropout_hidden is None else self.dropout_hidden


@register("hrnn", HRNNConfig)
class HRNN(SequentialRecommender):
    """Hierarchical RNN; ``encode(item_ids [B, L], training, session_starts=None) -> [B, L, D]``."""

    reads_record_inputs = False  # item-level side inputs only (its features are timestamps for sessions)
    supports_heads = False  # its loss is its own (no per-position next-event states)

    @property
    def input_features(self) -> tuple:
        """``("item_ids", "timestamps")`` with ``session_gap_seconds`` (sessions from time gaps), else
        ``("item_ids",)``."""
        return ("item_ids", "timestamps") if self.config.session_gap_seconds is not None else ("item_ids",)

    def session_starts(self, item_ids, session_starts=None, timestamps=None) -> Optional[tf.Tensor]:
        """bool ``[B, L]`` session starts for left-padded ``item_ids [B, L]``, or None (no boundaries).

        ``session_starts`` when given; else, with ``session_gap_seconds`` and ``timestamps`` (int ms
        ``[B, L]``), True at each row's first item and at every item more than the gap after the one
        before it. Padding positions are never starts.
        """
        if session_starts is not None:
            return tf.cast(session_starts, tf.bool)
        gap = self.config.session_gap_seconds
        if gap is None or timestamps is None:
            return None
        is_item = tf.not_equal(tf.cast(item_ids, tf.int64), PAD_ID)  # [B, L]
        times = tf.cast(timestamps, tf.int64)
        previous_is_item = tf.pad(is_item[:, :-1], [[0, 0], [1, 0]])  # [B, L]
        gaps = times - tf.pad(times[:, :-1], [[0, 0], [1, 0]])  # ms since the previous
        after_gap = gaps > tf.cast(round(gap * 1000.0), tf.int64)
        return is_item & (tf.logical_not(previous_is_item) | after_gap)

    def __init__(self, config: HRNNConfig, num_items: int, item_counts=None, **kwargs):
        super().__init__(config, num_items, item_counts=item_counts, **kwargs)
        s, u, e = config.session_size, config.user_size, config.embedding_dim
        self.embedding_dropout = FastDropout(config.dropout_embedding, name="embedding_dropout")
        self.hidden_dropout = FastDropout(config.hidden_dropout_rate, name="hidden_dropout")
        session_input = e + u if config.user_input == "all" else e
        # Built here: the cells run inside tf.scan, where no variable may be created.
        self.session_cell = tf.keras.layers.GRUCell(s, name="session_gru")
        self.session_cell.build(tf.TensorShape([None, session_input]))
        self.user_cell = None
        self.session_init = None
        if config.user_input != "none":
            self.user_cell = tf.keras.layers.GRUCell(u, name="user_gru")
            self.user_cell.build(tf.TensorShape([None, s]))
            self.session_init = tf.keras.layers.Dense(s, activation="tanh", name="session_init")
            self.session_init.build(tf.TensorShape([None, u]))
        self.projection = None
        if s != e:
            self.projection = tf.keras.layers.Dense(e, use_bias=False, name="projection")
            self.projection.build(tf.TensorShape([None, s]))

    # -- the recurrence --------------------------------------------------------------------------------
    def run_states(self, item_ids, session_starts=None, training: bool = False) -> Dict[str, tf.Tensor]:
        """The scan's states for left-padded ``item_ids [B, L]`` (for inspection and tests).

        Returns a dict of ``[B, L, ...]`` tensors: ``"session"`` the session state after item ``t``,
        ``"session_before"`` the session state item ``t`` is applied to (the reset
        ``tanh(W_init c + b)`` at a session boundary), ``"user"`` the user state at ``t`` (updated at a
        boundary before the item; zeros for ``user_input="none"``). Padding positions keep the
        previous states.
        """
        cfg = self.config
        item_ids = tf.cast(item_ids, tf.int64)
        is_item = tf.not_equal(item_ids, PAD_ID)  # [B, L]
        if session_starts is None:
            starts = tf.zeros_like(is_item)
        else:
            starts = tf.logical_and(tf.cast(session_starts, tf.bool), is_item)
        x = self.embedding_dropout(self.embed_items(item_ids), training=training)  # [B, L, E]
        batch = tf.shape(item_ids)[0]
        s, u = cfg.session_size, cfg.user_size
        zeros_s = tf.zeros([batch, s], x.dtype)
        initial = (zeros_s, tf.zeros([batch, u], x.dtype), zeros_s, tf.zeros([batch], tf.bool))
        elems = (tf.transpose(x, [1, 0, 2]), tf.transpose(starts), tf.transpose(is_item))
        mode = cfg.user_input

        def step(carry, elem):
            h_s, h_u, _, seen = carry
            x_t, start_t, item_t = elem
            boundary = tf.logical_and(start_t, seen)[:, tf.newaxis]  # a new session after an earlier one
            if mode == "none":
                reset_s = tf.zeros_like(h_s)
            else:
                new_u, _ = self.user_cell(h_s, [h_u])
                h_u = tf.where(boundary, new_u, h_u)
                reset_s = self.session_init(h_u)
            h_s = tf.where(boundary, reset_s, h_s)
            inputs = tf.concat([x_t, h_u], axis=-1) if mode == "all" else x_t
            out, _ = self.session_cell(inputs, [h_s])
            new_s = tf.where(item_t[:, tf.newaxis], out, h_s)
            return new_s, h_u, h_s, tf.logical_or(seen, item_t)

        session, user, before, _ = tf.scan(step, elems, initializer=initial)
        to_batch_major = lambda t: tf.transpose(t, [1, 0, 2])  # noqa: E731
        return {
            "session": to_batch_major(session),
            "session_before": to_batch_major(before),
            "user": to_batch_major(user),
        }

    def encode(self, item_ids, training=False, session_starts=None):
        """States ``[B, L, D]`` for left-padded ``item_ids [B, L]`` (padding positions are 0)."""
        item_ids = tf.cast(item_ids, tf.int64)
        out = self.run_states(item_ids, session_starts, training=training)["session"]
        out = self.hidden_dropout(out, training=training)
        out = out * tf.cast(tf.not_equal(item_ids, PAD_ID), out.dtype)[..., tf.newaxis]
        return out if self.projection is None else self.projection(out)

    # -- queries, scoring, loss ------------------------------------------------------------------------------
    def query(self, item_ids, training: bool = False, session_starts=None, timestamps=None):
        session_starts = self.session_starts(item_ids, session_starts, timestamps)  # before truncating
        item_ids = self._truncate(tf.cast(item_ids, tf.int64))
        if session_starts is not None:
            session_starts = self._truncate(session_starts)
        return self.encode(item_ids, training=training, session_starts=session_starts)[:, -1, :]

    def score_all(self, item_ids, training: bool = False, session_starts=None, timestamps=None):
        """Scores ``[B, num_items]`` for the next item after each history (``session_starts`` or
        ``timestamps`` optional, ``[B, L]`` like ``item_ids``)."""
        return self.scores_for(
            self.query(item_ids, training=training, session_starts=session_starts, timestamps=timestamps)
        )

    def call(self, inputs, training: bool = False):
        if isinstance(inputs, dict):
            return self.score_all(
                inputs["item_ids"],
                training=training,
                session_starts=inputs.get("session_starts"),
                timestamps=inputs.get("timestamps"),
            )
        return self.score_all(inputs, training=training)

    def compute_loss(self, inputs, training: bool = False):
        """Next-item loss for ``{"item_ids": [B, L + 1]}`` with optional ``"session_starts"`` or
        ``"timestamps"`` ``[B, L + 1]`` (see the module docstring)."""
        item_ids = inputs["item_ids"] if isinstance(inputs, dict) else inputs
        starts = None
        if isinstance(inputs, dict):
            starts = self.session_starts(item_ids, inputs.get("session_starts"), inputs.get("timestamps"))
        keep = self.config.max_len + 1
        item_ids = tf.cast(item_ids, tf.int64)[:, -keep:]
        history, targets = item_ids[:, :-1], item_ids[:, 1:]
        mask = tf.logical_and(tf.not_equal(history, PAD_ID), tf.not_equal(targets, PAD_ID))
        history_starts = None
        if starts is not None:
            starts = starts[:, -keep:]
            history_starts = starts[:, :-1]
            if not self.config.predict_session_starts:
                mask = tf.logical_and(mask, tf.logical_not(starts[:, 1:]))
        states = self.encode(history, training=training, session_starts=history_starts)
        return self.task(
            states, targets, self.item_embeddings(), item_bias=self.item_biases(), mask=mask, training=training
        )


# -- data: sessions -> per-user sequences --------------------------------------------------------------------
def sessions_to_user_sequences(
    item_ids: Iterable[Sequence[int]],
    user_ids: Iterable,
    session_indices: Iterable[int],
    max_len: Optional[int] = None,
    pad_to_max_len: bool = False,
) -> Dict[str, np.ndarray]:
    """Groups session records per user into left-padded sequences with session-start flags.

    Args:
      item_ids: one item-id list per session record (lists, arrays or ragged rows).
      user_ids: the user of each record (str / bytes / int).
      session_indices: each record's 0-based session number within its user (orders the sessions).
      max_len: keep only each user's latest ``max_len`` items (a cut first session keeps no start flag;
        it does not matter: a row's first item never triggers a user update).
      pad_to_max_len: pad to ``max_len`` columns instead of the longest row.

    Returns:
      ``{"item_ids": int64 [U, L], "session_starts": bool [U, L], "user_id": [U]}``: users in order of
      first appearance, sessions by ``session_index``, left padding with 0, True at each session's first
      item. Empty sessions are dropped; users without items too.
    """
    sessions: Dict[object, list] = {}
    for items, user, index in zip(item_ids, user_ids, session_indices):
        items = [int(i) for i in np.asarray(items).reshape(-1) if int(i) != PAD_ID]
        if items:
            sessions.setdefault(user, []).append((int(index), items))
    rows, flags, users = [], [], []
    for user, parts in sessions.items():
        parts.sort(key=lambda p: p[0])
        row, flag = [], []
        for _, items in parts:
            row.extend(items)
            flag.extend([True] + [False] * (len(items) - 1))
        if max_len is not None:
            row, flag = row[-max_len:], flag[-max_len:]
        rows.append(row)
        flags.append(flag)
        users.append(user)
    width = max([len(r) for r in rows], default=0)
    if pad_to_max_len and max_len is not None:
        width = max_len
    out_ids = np.zeros([len(rows), width], np.int64)
    out_starts = np.zeros([len(rows), width], bool)
    for r, (row, flag) in enumerate(zip(rows, flags)):
        if row:
            out_ids[r, width - len(row) :] = row
            out_starts[r, width - len(row) :] = flag
    return {"item_ids": out_ids, "session_starts": out_starts, "user_id": np.array(users, dtype=object)}


def read_session_records(files: Sequence[str]) -> Dict[str, list]:
    """Reads ``item_ids``, ``user_id`` and ``session_index`` of every record in TFRecord ``files``."""
    features = {
        "item_ids": tf.io.RaggedFeature(tf.int64),
        "user_id": tf.io.FixedLenFeature([], tf.string),
        "session_index": tf.io.FixedLenFeature([], tf.int64),
    }
    items, users, indices = [], [], []
    for batch in tf.data.TFRecordDataset(list(files)).batch(1024).map(lambda x: tf.io.parse_example(x, features)):
        items.extend(batch["item_ids"].to_list())
        users.extend(batch["user_id"].numpy().tolist())
        indices.extend(batch["session_index"].numpy().tolist())
    return {"item_ids": items, "user_id": users, "session_index": indices}


def load_user_sequences(spec_or_dir, split: str = "train", max_len: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Per-user sequences (:func:`sessions_to_user_sequences`) from one split of a sessionized dataset.

    The records must carry ``user_id`` and ``session_index`` (preprocessing with ``--session-gap`` on a
    log with user ids). Only the records' ``item_ids`` are used (targets of valid/test records are not).
    """
    from tfseqrec.data.spec import resolve_spec

    spec = resolve_spec(spec_or_dir)
    missing = [name for name in ("user_id", "session_index") if name not in spec.features]
    if missing:
        raise ValueError(
            f"{spec.directory or 'this dataset'} has no {missing} feature(s): HRNN needs "
            f"sessionized records of known users; features: {sorted(spec.features)}"
        )
    files = sorted(tf.io.gfile.glob(spec.split_pattern(split)))
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {spec.split_pattern(split)!r} (split {split!r})")
    records = read_session_records(files)
    return sessions_to_user_sequences(
        records["item_ids"], records["user_id"], records["session_index"], max_len=max_len
    )


def user_sequence_dataset(
    sequences: Dict[str, np.ndarray], batch_size: int = 128, shuffle_buffer: int = 0, seed: Optional[int] = None
) -> tf.data.Dataset:
    """Batches ``{"item_ids", "session_starts"}`` from :func:`sessions_to_user_sequences` for ``model.fit``."""
    data = tf.data.Dataset.from_tensor_slices(
        {"item_ids": sequences["item_ids"], "session_starts": sequences["session_starts"]}
    )
    if shuffle_buffer:
        data = data.shuffle(shuffle_buffer, seed=seed)
    return data.batch(batch_size)
