"""Loads the configured models' versions, keeps them fresh, and hands requests a held version.

A poller thread (every ``poll_seconds``) lists each base path's integer version directories (names starting
with ``.`` are exports in progress and are ignored), applies the model's version policy, loads and warms up
new versions off the request path, then swaps them in: the new version enters the live map before the old
one leaves it, so a request always finds a servable version; requests already holding the old version finish
on it (``Servable.close`` waits for them) before its batchers stop.

A version that fails to load or warm up is reported as ``END`` with an error status and is never served;
it is retried only when its files change. With a ``latest N`` policy, failed versions do not count, so a
corrupt new export leaves the previous good version live. Per version states follow TF Serving's
``ModelVersionStatus``: START -> LOADING -> AVAILABLE -> UNLOADING -> END.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import threading
import time
from typing import Iterator, Optional, Sequence

from tfseqrec.export import contract
from tfseqrec.serving.batching import BatchingOptions
from tfseqrec.serving.errors import not_found, unavailable
from tfseqrec.serving.model_config import ModelEntry
from tfseqrec.serving.servable import LoadError, Servable, load_servable
from tfseqrec.serving.session_runner import SessionOptions
from tfseqrec.serving.user_state import StatefulSignatures, UserStateCache, UserStateOptions

log = logging.getLogger(__name__)
START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"
_VERSION_DIR = re.compile(r"[0-9]+")


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """One version's state; ``error_code`` is a ``tensorflow.error.Code`` name (``"OK"`` when healthy)."""

    version: int
    state: str
    error_code: str = "OK"
    error_message: str = ""


class _Model:
    def __init__(self, entry: ModelEntry):
        self.entry = entry
        self.live: dict[int, Servable] = {}  # replaced whole on every change (readers need no lock)
        self.states: dict[int, VersionStatus] = {}
        self.failed: dict[int, tuple] = {}  # version -> fingerprint of the files that failed
        self.missing_logged = False


def scan_versions(base_path: str) -> Optional[dict[int, str]]:
    """``{version: path}`` of the integer directories in ``base_path``; None when it cannot be listed."""
    found: dict[int, str] = {}
    try:
        if "://" in base_path:
            import tensorflow as tf

            names = [n.rstrip("/") for n in tf.io.gfile.listdir(base_path)]
            dirs = [n for n in names if _VERSION_DIR.fullmatch(n) and tf.io.gfile.isdir(f"{base_path}/{n}")]
        else:
            with os.scandir(base_path) as it:
                dirs = [e.name for e in it if _VERSION_DIR.fullmatch(e.name) and e.is_dir()]
    except Exception as e:  # noqa: BLE001  (OSError locally, tf.errors.* from remote file systems)
        log.debug("cannot list %s: %s", base_path, e)
        return None
    for name in sorted(dirs):
        found.setdefault(
            int(name), os.path.join(base_path, name) if "://" not in base_path else f"{base_path.rstrip('/')}/{name}"
        )
    return found


def fingerprint(path: str) -> tuple:
    """(relative path, size, mtime) of every file under ``path``: changes when an export is rewritten."""
    entries = []
    try:
        if "://" in path:
            import tensorflow as tf

            for root, _, files in tf.io.gfile.walk(path):
                for f in files:
                    st = tf.io.gfile.stat(f"{root}/{f}")
                    entries.append((f"{root}/{f}", st.length, st.mtime_nsec))
        else:
            for root, _, files in os.walk(path):
                for f in files:
                    st = os.stat(os.path.join(root, f))
                    entries.append((os.path.relpath(os.path.join(root, f), path), st.st_size, st.st_mtime_ns))
    except Exception as e:  # noqa: BLE001
        entries.append(("<error>", str(e)))
    return tuple(sorted(entries))


class ModelManager:
    """Serves every configured model's versions; ``hold(name, version)`` gives a request its servable."""

    def __init__(
        self,
        entries: Sequence[ModelEntry],
        batching: BatchingOptions = BatchingOptions(),
        poll_seconds: float = 2.0,
        unload_grace_seconds: float = 30.0,
        metrics=None,
        user_state: Optional[UserStateOptions] = None,
        session: SessionOptions = SessionOptions(),
    ):
        """``metrics``: a ``monitoring.ServingMetrics`` told of loads, unloads and batches (optional);
        ``user_state``: keep each user's state for the ``append`` / ``reset`` signatures of streamable exports
        (``user_state.py``; one cache per model, shared by its versions); ``session``: TensorFlow's threads for
        every loaded version (``session_runner``)."""
        self._models = {e.name: _Model(e) for e in entries}
        self._metrics = metrics
        self._stateful = {}
        if user_state is not None:
            self._stateful = {e.name: StatefulSignatures(UserStateCache(user_state)) for e in entries}
            if metrics is not None:
                for name, stateful in self._stateful.items():
                    metrics.watch_user_states(name, stateful.cache)
        self._batching = batching
        self._session = session
        self._poll_seconds = poll_seconds
        self._grace = unload_grace_seconds
        self._lock = threading.Lock()  # guards states/live replacement
        self._poll_lock = threading.Lock()  # one poll at a time
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._polls = 0  # completed polling passes
        self._polled = threading.Condition()

    # -- lifetime ---------------------------------------------------------------------------------------
    def start(self, wait: bool = True) -> None:
        """Loads what is on disk now (in this thread when ``wait``), then polls every ``poll_seconds``."""
        if wait:
            self.poll_once()
        self._thread = threading.Thread(
            target=self._poll_loop, args=(not wait,), name="tfseqrec-model-poller", daemon=True
        )
        self._thread.start()

    def _poll_loop(self, poll_first: bool) -> None:
        if poll_first:
            self.poll_once()
        while self._poll_seconds > 0 and not self._stop.wait(self._poll_seconds):
            self.poll_once()

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stops polling and unloads every version (waiting up to ``timeout`` s for in-flight requests)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._poll_lock:
            for model in self._models.values():
                for version in sorted(model.live):
                    self._unload(model, version, timeout)

    # -- polling ----------------------------------------------------------------------------------------
    def poll_once(self) -> None:
        """One pass over every model: load new versions, drop removed or superseded ones."""
        with self._poll_lock:
            try:
                for model in self._models.values():
                    if self._stop.is_set():
                        return
                    try:
                        self._poll_model(model)
                    except Exception:  # noqa: BLE001  (never let one model stop the poller)
                        log.exception("polling model %s failed", model.entry.name)
            finally:
                with self._polled:
                    self._polls += 1
                    self._polled.notify_all()

    @property
    def polls(self) -> int:
        """Polling passes completed so far (the start-up load included)."""
        return self._polls

    def wait_for_polls(self, count: int, timeout: Optional[float] = None) -> bool:
        """Blocks until ``count`` polling passes have completed (see :attr:`polls`); False if ``timeout`` ran
        out. Lets a caller see what later polls did, e.g. that a failed version was not retried."""
        with self._polled:
            return self._polled.wait_for(lambda: self._polls >= count, timeout)

    def _poll_model(self, model: _Model) -> None:
        entry = model.entry
        found = scan_versions(entry.base_path)
        if found is None:
            if not model.missing_logged:
                log.warning(
                    "model %s: cannot list base path %s; keeping its current versions", entry.name, entry.base_path
                )
                model.missing_logged = True
            return
        model.missing_logged = False
        for version in list(model.failed):  # retry a failed version only when its files changed
            if version not in found or fingerprint(found[version]) != model.failed[version]:
                del model.failed[version]
        for _ in range(len(found) + 1):
            desired = entry.policy.select([v for v in found if v not in model.failed])
            to_load = [v for v in desired if v not in model.live]
            if not to_load:
                break
            for version in sorted(to_load, reverse=True):  # newest first
                if self._stop.is_set():
                    return
                self._load(model, version, found[version])
        desired = set(entry.policy.select([v for v in found if v not in model.failed]))
        for version in sorted(model.live):
            if version not in desired:
                self._unload(model, version, self._grace)

    def _set_state(self, model: _Model, status: VersionStatus) -> None:
        with self._lock:
            model.states = {**model.states, status.version: status}

    def _load(self, model: _Model, version: int, path: str) -> None:
        name = model.entry.name
        files = fingerprint(path)
        self._set_state(model, VersionStatus(version, START))
        self._set_state(model, VersionStatus(version, LOADING))
        started = time.monotonic()
        metrics = self._metrics
        try:
            servable = load_servable(
                name,
                version,
                path,
                self._batching,
                None if metrics is None else metrics.batch_observer(name),
                self._session,
            )
        except LoadError as e:
            model.failed[version] = files
            self._set_state(model, VersionStatus(version, END, e.code, str(e)))
            log.error("model %s version %s failed to load and is not served: %s", name, version, e)
            if metrics is not None:
                metrics.loaded(name, version, e.code)
            return
        except Exception as e:  # noqa: BLE001
            model.failed[version] = files
            self._set_state(model, VersionStatus(version, END, "UNKNOWN", f"{type(e).__name__}: {e}"))
            log.exception("model %s version %s failed to load and is not served", name, version)
            if metrics is not None:
                metrics.loaded(name, version, "UNKNOWN")
            return
        if name in self._stateful and contract.APPEND_SIGNATURE in servable.signatures:
            servable.stateful = self._stateful[name]
        with self._lock:
            model.live = {**model.live, version: servable}
            model.states = {**model.states, version: VersionStatus(version, AVAILABLE)}
        if metrics is not None:
            metrics.loaded(name, version, "OK")
            metrics.set_available(name, len(model.live))
        log.info(
            "model %s version %s is AVAILABLE (%s, loaded in %.1fs; signatures: %s)",
            name,
            version,
            path,
            time.monotonic() - started,
            ", ".join(sorted(servable.signatures)),
        )

    def _unload(self, model: _Model, version: int, timeout: Optional[float]) -> None:
        with self._lock:
            servable = model.live.get(version)
            if servable is None:
                return
            model.live = {v: s for v, s in model.live.items() if v != version}
            model.states = {**model.states, version: VersionStatus(version, UNLOADING)}
        if self._metrics is not None:
            self._metrics.set_available(model.entry.name, len(model.live))
        drained = servable.close(timeout)
        if not drained:
            log.warning(
                "model %s version %s: in-flight requests still running after %ss; unloading anyway",
                model.entry.name,
                version,
                timeout,
            )
        self._set_state(model, VersionStatus(version, END))
        if self._metrics is not None:
            self._metrics.unloaded(model.entry.name, version)
        log.info("model %s version %s unloaded", model.entry.name, version)

    # -- request path -----------------------------------------------------------------------------------
    def _model(self, name: str) -> _Model:
        model = self._models.get(name)
        if model is None:
            raise not_found(f"model {name!r} is not served here; served models: {', '.join(sorted(self._models))}")
        return model

    def acquire(self, name: str, version: Optional[int] = None) -> Servable:
        """The requested (default: latest available) version, held until ``servable.release()``."""
        model = self._model(name)
        for _ in range(5):  # a version can close between lookup and hold; its successor is already live
            live = model.live
            if version is None:
                if not live:
                    raise unavailable(f"model {name!r} has no available version yet{self._why(model)}")
                servable = live[max(live)]
            else:
                servable = live.get(version)
                if servable is None:
                    state = model.states.get(version)
                    if state is not None and state.state in (START, LOADING):
                        raise unavailable(f"version {version} of model {name!r} is still loading")
                    raise not_found(
                        f"version {version} of model {name!r} is not available; available "
                        f"versions: {sorted(live) or 'none'}"
                    )
            if servable.try_acquire():
                return servable
        raise unavailable(f"model {name!r} is being unloaded; retry the request")

    @contextlib.contextmanager
    def hold(self, name: str, version: Optional[int] = None) -> Iterator[Servable]:
        servable = self.acquire(name, version)
        try:
            yield servable
        finally:
            servable.release()

    def _why(self, model: _Model) -> str:
        if not model.states:
            return f" (no version directories found under {model.entry.base_path})"
        states = ", ".join(
            f"{s.version}: {s.state}" + (f" ({s.error_message})" if s.error_code != "OK" else "")
            for s in sorted(model.states.values(), key=lambda s: -s.version)
        )
        return f" (versions: {states})"

    # -- status -----------------------------------------------------------------------------------------
    def user_states(self, name: str) -> Optional[UserStateCache]:
        """The user cache of model ``name`` (None when the server keeps no state)."""
        stateful = self._stateful.get(name)
        return None if stateful is None else stateful.cache

    @property
    def model_names(self) -> list[str]:
        return sorted(self._models)

    def status(self, name: str, version: Optional[int] = None) -> list[VersionStatus]:
        """Known versions' states, newest first (TF Serving's GetModelStatus); NOT_FOUND when none."""
        model = self._model(name)
        states = model.states
        if version is not None:
            if version not in states:
                raise not_found(f"could not find version {version} of model {name!r}")
            return [states[version]]
        if not states:
            raise not_found(f"could not find any versions of model {name!r}{self._why(model)}")
        return [states[v] for v in sorted(states, reverse=True)]

    def live_versions(self, name: str) -> list[int]:
        return sorted(self._model(name).live)

    def ready(self) -> bool:
        """True once every configured model has an available version."""
        return all(m.live for m in self._models.values())

    def servables(self) -> list[Servable]:
        return [s for m in self._models.values() for _, s in sorted(m.live.items())]
