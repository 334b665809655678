"""Per-user adaptation of the query, meta-learned for new users (MAML, first-order MAML, Reptile).

``model_config.adaptation`` (``AdaptationConfig``) gives any causal model of the registry a per-user adapter
(``adapters.py``: ``query_offset``, ``film``) that a few gradient steps on the user's own next-item pairs adapt
before scoring (``inner_loop.py``). Training meta-learns the adapter's initial value, its step sizes and the
shared weights over episodes cut from training histories (``episodes.py``, ``meta_loss.py``); with
``algorithm: none`` the adaptation runs at inference only (plain fine-tuning of the adapter on each history).
Scoring, evaluation and exports call ``model.query``, which adapts, so a served new user's first
recommendations reflect their first clicks.
"""

from tfseqrec.models.adaptation.adapters import ADAPTERS, Adapter, register_adapter
from tfseqrec.models.adaptation.config import ALGORITHMS, AdaptationConfig
from tfseqrec.models.adaptation.inner_loop import Adaptation
from tfseqrec.models.adaptation.meta_loss import meta_loss

__all__ = ["ADAPTERS", "ALGORITHMS", "Adaptation", "AdaptationConfig", "Adapter", "meta_loss", "register_adapter"]
