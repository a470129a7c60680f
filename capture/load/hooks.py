"""Hooks into the worker loop: the escape hatch for what fixed flags cannot express.

Every hook is optional and runs in the worker thread that sends the request, so it
should be quick; a hook that raises is recorded as a failure of kind `hook_error`
with its traceback, and never kills a worker. See docs/api.md.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capture.errors import UsageError
from capture.safe import regular_or_missing

if TYPE_CHECKING:
    import requests

    from capture.config import Target

__all__ = ["HOOK_NAMES", "Context", "Hooks", "Outcome", "load_hooks"]

HOOK_NAMES = ("build_request", "is_failure", "on_response", "on_failure")


@dataclass(slots=True)
class Context:
    """What a hook knows about the request at hand."""

    run_id: int
    seq: int
    worker: int
    session: int
    target: Target
    target_index: int
    _stop: Callable[[str], None] = field(repr=False, default=lambda reason: None)

    def stop(self, reason: str = "stopped by a hook") -> None:
        """Ends the run: no new requests start; those in flight finish and are stored."""
        self._stop(reason)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A failed request as on_failure sees it (a copy: changing it changes nothing)."""

    run_id: int
    seq: int
    worker: int
    session: int
    method: str
    url: str
    status: int | None
    error_kind: str | None
    latency_ms: float
    body: bytes | None
    response_headers: tuple[tuple[str, str], ...]
    error_message: str | None
    local_addr: str | None
    remote_addr: str | None
    _stop: Callable[[str], None] = field(repr=False, default=lambda reason: None)

    def stop(self, reason: str = "stopped by a hook") -> None:
        """Ends the run: no new requests start; those in flight finish and are stored."""
        self._stop(reason)


BuildRequest = Callable[[Context], "Target | requests.Request | None"]
IsFailure = Callable[["requests.Response", Context], "bool | str | None"]
OnResponse = Callable[["requests.Response", Context], None]
OnFailure = Callable[[Outcome], None]


@dataclass(frozen=True, slots=True)
class Hooks:
    """The optional hooks of a run.

    build_request(ctx): return a Target or requests.Request to send instead of
      ctx.target, or None to send it unchanged.
    is_failure(response, ctx): return True (failure, kind 'hook'), a string (failure
      of that kind), False (not a failure, whatever the status), or None (the usual
      rules decide). Called for every response that arrived; response.content holds
      the body (up to --max-body bytes).
    on_response(response, ctx): observe every response.
    on_failure(outcome): observe every failure, after it is judged.
    """

    build_request: BuildRequest | None = None
    is_failure: IsFailure | None = None
    on_response: OnResponse | None = None
    on_failure: OnFailure | None = None

    @property
    def any(self) -> bool:
        """Tells whether at least one hook is set."""
        return any(getattr(self, name) is not None for name in HOOK_NAMES)


_load_lock = threading.Lock()


def load_hooks(spec: str) -> Hooks:
    """Loads hooks from 'path/to/hooks.py', 'module' or 'module:object'.

    A file or module provides module-level functions named like the hooks; an object
    (a Hooks instance, a class instance or a module) provides them as attributes.
    """
    target, _, attr = spec.partition(":") if Path(spec).suffix != ".py" else (spec, "", "")
    with _load_lock:
        source: Any = _load_file(Path(target)) if target.endswith(".py") else _import(target)
    if attr:
        try:
            source = getattr(source, attr)
        except AttributeError:
            raise UsageError(f"--hooks {spec!r}: {target} has no attribute {attr!r}") from None
    if isinstance(source, Hooks):
        return source
    found = {name: getattr(source, name, None) for name in HOOK_NAMES}
    for name, fn in found.items():
        if fn is not None and not callable(fn):
            raise UsageError(f"--hooks {spec!r}: {name} is not callable")
    hooks = Hooks(**found)
    if not hooks.any:
        raise UsageError(f"--hooks {spec!r} defines none of: {', '.join(HOOK_NAMES)}")
    return hooks


def _load_file(path: Path) -> Any:
    if regular_or_missing(path, what="--hooks: file") is None:
        raise UsageError(f"--hooks: file {str(path)!r} does not exist")
    name = f"capture_hooks_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise UsageError(f"--hooks: cannot load {str(path)!r}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    # SystemExit and KeyboardInterrupt too: a hooks file that calls sys.exit(7) at import
    # would otherwise end capture with its code and not a word on stderr.
    except BaseException as exc:
        sys.modules.pop(name, None)
        raise UsageError(_failed(repr(str(path)), exc)) from None
    return module


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise UsageError(f"--hooks: cannot import {name!r}: {exc}") from None
    except BaseException as exc:  # the module's own code raised, or exited, at import
        raise UsageError(_failed(repr(name), exc)) from None


def _failed(what: str, exc: BaseException) -> str:
    """Returns the one-line message for a hooks file or module that raised at import."""
    return f"--hooks {what} failed to load: {type(exc).__name__}: {exc}"
