"""The serving contract: signature, input and output names shared by the exporter, the server and clients.

An export is a SavedModel in TF Serving's layout ``<base>/<model_name>/<version>/`` whose signatures are:

``serving_default``
    inputs  ``history``  string ``[B, H]``: a user's recent raw item ids, oldest first. ``""`` entries are
            padding and are ignored wherever they are (rows may be padded on either side). Ids unknown to the
            vocabulary map to OOV. Histories longer than the model's ``max_len`` keep their latest items.
            Plus one input per history feature of the model (see below).
    outputs ``item_ids`` string ``[B, K]`` and ``scores`` float32 ``[B, K]``, best first, ``K`` = the export's
            ``default_k``; items of the history are excluded when the export's ``exclude_seen`` is on
            (the default). A row without any item (all ``""``) gets the most popular items, scored by their
            training counts.
``recommend``
    inputs  ``history`` and its features as above, ``k`` int32 ``[B]``, ``exclude_seen`` bool ``[B]``.
    outputs as above with ``K = min(max(k), max_k)``; row ``b`` has ``k[b]`` real entries, the rest are
            ``""`` with score ``-inf``.
``encode_query``
    inputs  ``history`` and its features; outputs ``query`` float32 ``[B, D]`` (the model's query embedding).
``adapt_and_recommend`` (exports of models with ``model_config.adaptation`` only)
    inputs  ``support`` string ``[B, S]``: a new user's first items, oldest first (``""`` pads), its features
            as for ``history``, and ``k`` int32 ``[B]``. The model adapts its per-user parameters on the
            support's own next-item pairs inside the signature (``tfseqrec.models.adaptation``), then ranks;
            outputs as ``recommend``, with the support excluded. (``serving_default`` and ``recommend`` of such
            an export adapt on the history's latest items the same way.)
``item_embeddings``
    no inputs; outputs ``item_ids`` string ``[N]``, ``embeddings`` float32 ``[N, D]`` and ``biases`` float32
    ``[N]`` (zeros when the model has none) for the ``N`` real items: ``score = query . embedding + bias``.

History features: a model that reads record features besides item ids (its ``input_features``, e.g. HRNN
with ``session_gap_seconds`` reads ``timestamps`` to cut a history into sessions) takes each of them in the
three signatures above as an input named like the feature, of dtype ``HISTORY_FEATURES[name]`` and the shape of
``history`` ``[B, H]``: one value per history entry, in the unit of the records (``timestamps``: milliseconds
since the epoch; ``event_types``: the dataset's 1-based event-type ids). Values at ``""`` entries are ignored
(pad with 0). Exports of models that read only item ids take ``history`` alone; ``tfseqrec_export.json``
lists an export's features as ``history_features`` (name -> dtype), and the SignatureDefs (GetModelMetadata)
name them with their dtype and shape.

Row features: a model with a target behaviour (``model_config.target_behaviour``) also takes
``target_event_type`` int64 ``[B]`` in those three signatures, after the history features: the behaviour each
row asks about (the dataset's 1-based event-type ids; 0 = any behaviour, the unconditioned query).
``tfseqrec_export.json`` lists them as ``row_features``.

Each export directory also holds ``assets.extra/tfseqrec_export.json`` (see ``EXPORT_INFO_FILE``).

``tfseqrec export`` (``tfseqrec/export/exporter.py``) writes one export per top-K variant of ``VARIANTS``,
served as ``<name>_<variant>`` (the ``<model_name>`` above), and lists them in ``<base>/models.config``
(all variants) and ``<base>/models.brute_force.config`` (plain TF ops only), TF Serving's text-format
``ModelServerConfig``. The ``scann`` variant needs the ScaNN custom ops (``import scann`` before loading).
"""

from __future__ import annotations

SERVING_SIGNATURE = "serving_default"
RECOMMEND_SIGNATURE = "recommend"
ENCODE_SIGNATURE = "encode_query"
ITEM_EMBEDDINGS_SIGNATURE = "item_embeddings"
ADAPT_SIGNATURE = "adapt_and_recommend"
STREAM_START_SIGNATURE = "stream_start"
STREAM_APPEND_SIGNATURE = "stream_append"
# What the server offers on top of the stream signatures, keeping each user's state (``serving.user_state``).
APPEND_SIGNATURE = "append"
RESET_SIGNATURE = "reset"

HISTORY = "history"
SUPPORT = "support"
K = "k"
EXCLUDE_SEEN = "exclude_seen"
ITEM_IDS = "item_ids"
SCORES = "scores"
QUERY = "query"
EMBEDDINGS = "embeddings"
BIASES = "biases"
STATE = "state"
ITEM = "item"
SEEN = "seen"
USER = "user"
RESET = "reset"

# Record features (``tfseqrec.data.spec``) aligned with ``item_ids`` that an export can take next to ``history``:
# name -> dtype (numpy / TensorFlow name). ``RECORD_ITEM_IDS`` is the one ``history`` carries.
RECORD_ITEM_IDS = "item_ids"
HISTORY_FEATURES = {"timestamps": "int64", "event_types": "int64"}
# Inputs with one value per row ``[B]`` that an export can take: name -> dtype.
ROW_FEATURES = {"target_event_type": "int64"}

PADDING_TOKEN = ""
VARIANTS = ("brute_force", "scann")
EXPORT_INFO_FILE = "assets.extra/tfseqrec_export.json"
