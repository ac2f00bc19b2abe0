"""Bounded symbolic work: cheap size checks first, then worker processes whose tasks are killed on timeout.

Sympy and math-verify compute exactly and hold the GIL while they do: ``9^9^9`` is a 370-million-digit
integer, and no thread or signal-free timeout stops it. So every critique check that reaches sympy runs in
a small pool of worker processes (``run_bounded``): a task that overruns its time is killed with its worker
and the caller gets ``SymbolicTimeout``; a fresh worker starts in the background (about two seconds).
The size checks here (digits of a literal, base and exponent of a power, digits of a result, bracket
nesting) keep ordinary input from ever getting near the timeout: the one place those bounds live.

Workers are fresh interpreters (``python -c``; not forks of the app, whose threads a fork would copy
mid-state, nor multiprocessing children, which re-import the app's main module), talking pickled frames over
pipes. Each caps its own address space, so a blow-up ends in MemoryError inside the worker, not the web process.
"""

from __future__ import annotations

import ast
import atexit
import importlib
import logging
import os
import pickle
import queue
import re
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any, TypeVar

import sympy

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_LITERAL_DIGITS = 30
"""Digits of a number we compute with; longer numbers are not grade-school arithmetic and are skipped."""
MAX_EXPONENT = 64
"""Largest exponent of a power we compute (absolute value)."""
MAX_POWER_BASE = 10**6
"""Largest base (absolute value) of a power we compute."""
MAX_RESULT_BITS = 4096
"""Largest numerator or denominator (bits, about 1,233 digits) of any intermediate result."""
MAX_NESTING = 24
"""Deepest bracket nesting of an expression handed to sympy or math-verify."""
MAX_VERIFY_DIGITS = 100
"""Longest digit run in an answer handed to math-verify."""
MAX_VERIFY_CHARS = 400
"""Longest answer handed to math-verify (characters)."""

_HUGE_NUMBER_RE = re.compile(rf"\d{{{MAX_LITERAL_DIGITS + 1},}}")
_POWER_RE = re.compile(r"(?:\^|\*\*)\s*[{(]?\s*(-?\d+(?:\.\d+)?)?")
_FACTORIAL_RE = re.compile(r"\d{4,}\s*!")


class SymbolicTimeout(TimeoutError):
    """A symbolic task ran past its time (or no worker was free in time); its worker was killed."""


class SymbolicFailure(RuntimeError):
    """A symbolic task raised, or its worker died (e.g. out of memory)."""


def mask_huge_numbers(text: str) -> str:
    """Replace numbers longer than ``MAX_LITERAL_DIGITS`` digits by ``N``, so no step or value is read from them.

    >>> mask_huge_numbers("1" * 40 + " + 2 = 3")
    'N + 2 = 3'
    """
    return _HUGE_NUMBER_RE.sub("N", text)


def nesting_depth(text: str) -> int:
    """Deepest nesting of (), [] and {} (unbalanced closers are ignored).

    >>> nesting_depth("((1 + 2) * {3})"), nesting_depth("1 + 2")
    (2, 0)
    """
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}" and depth:
            depth -= 1
    return deepest


def oversized(text: str) -> str | None:
    """Why an answer is too big to hand to math-verify/sympy, or None when it is fine.

    >>> oversized("9^{9^{9}}"), oversized("2^{100000000}"), oversized("3/4"), oversized(r"\\frac{1}{2}^{10}")
    ('a power tower', 'an exponent above 64', None, None)
    """
    if len(text) > MAX_VERIFY_CHARS:
        return f"longer than {MAX_VERIFY_CHARS} characters"
    if re.search(rf"\d{{{MAX_VERIFY_DIGITS + 1},}}", text):
        return f"a number longer than {MAX_VERIFY_DIGITS} digits"
    if nesting_depth(text) > MAX_NESTING:
        return f"brackets nested deeper than {MAX_NESTING}"
    if _FACTORIAL_RE.search(text):
        return "the factorial of a large number"
    powers = list(_POWER_RE.finditer(text))
    for power in powers:
        exponent = power.group(1)
        if exponent is not None and abs(float(exponent)) > MAX_EXPONENT:
            return f"an exponent above {MAX_EXPONENT}"
    if len(powers) > 1 and re.search(r"(?:\^|\*\*)\s*[{(]?[^})]*(?:\^|\*\*)", text):
        return "a power tower"
    return None


def _check_size(value: sympy.Rational) -> sympy.Rational:
    if int(value.p).bit_length() > MAX_RESULT_BITS or int(value.q).bit_length() > MAX_RESULT_BITS:
        raise ValueError("result too large")
    return value


def _literal(node: ast.AST) -> sympy.Rational:
    value = node.value  # type: ignore[attr-defined]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("not a number")
    if len(repr(value)) > MAX_LITERAL_DIGITS:
        raise ValueError("literal too long")
    return sympy.Rational(repr(value)) if isinstance(value, float) else sympy.Integer(value)


def _affine(node: ast.AST, var: str | None) -> tuple[sympy.Rational, sympy.Rational]:
    """``(a, b)`` with the node's exact value ``a*var + b`` (``a`` is 0 without ``var``): only + - * / ** and
    numbers, linear in ``var``, a power only of numbers, every power and result within the bounds; raises
    ValueError otherwise (ZeroDivisionError on a division by zero)."""
    if isinstance(node, ast.Expression):
        return _affine(node.body, var)
    if isinstance(node, ast.Constant):
        return sympy.Integer(0), _literal(node)
    if var is not None and isinstance(node, ast.Name) and node.id == var:
        return sympy.Integer(1), sympy.Integer(0)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        a, b = _affine(node.operand, var)
        return (-a, -b) if isinstance(node.op, ast.USub) else (a, b)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
        (a1, b1), (a2, b2) = _affine(node.left, var), _affine(node.right, var)
        if isinstance(node.op, ast.Add):
            return _check_size(a1 + a2), _check_size(b1 + b2)
        if isinstance(node.op, ast.Sub):
            return _check_size(a1 - a2), _check_size(b1 - b2)
        if isinstance(node.op, ast.Mult):
            if a1 != 0 and a2 != 0:
                raise ValueError("not linear")
            return _check_size(a1 * b2 + a2 * b1), _check_size(b1 * b2)
        if isinstance(node.op, ast.Div):
            if a2 != 0:
                raise ValueError("not linear")
            if b2 == 0:
                raise ZeroDivisionError
            return _check_size(a1 / b2), _check_size(b1 / b2)
        if a1 != 0 or a2 != 0:
            raise ValueError("not linear")
        if not b2.is_integer or abs(int(b2)) > MAX_EXPONENT or abs(b1) > MAX_POWER_BASE:
            raise ValueError("exponent out of range")
        if b1 == 0 and b2 < 0:
            raise ZeroDivisionError
        return sympy.Integer(0), _check_size(b1 ** int(b2))
    raise ValueError(f"unsupported: {type(node).__name__}")


def _affine_of(expr: str, var: str | None) -> tuple[sympy.Rational, sympy.Rational]:
    """``_affine`` of an expression's text, within the nesting bound ("05" read as 5: Python refuses leading
    zeros); too deep a nesting, in the parser or in the walk, is a ValueError."""
    if nesting_depth(expr) > MAX_NESTING:
        raise ValueError("nested too deep")
    expr = re.sub(r"(?<![\d.])0+(?=\d)", "", expr)
    try:
        tree = ast.parse(expr, mode="eval")
    except (RecursionError, MemoryError) as exc:
        raise ValueError("nested too deep") from exc
    try:
        return _affine(tree, var)
    except RecursionError as exc:
        raise ValueError("nested too deep") from exc


def evaluate_arithmetic(expr: str) -> sympy.Rational:
    """Exact value of a plain arithmetic expression in Python syntax, within the bounds above; raises
    ValueError (too big, not arithmetic), ZeroDivisionError or SyntaxError otherwise.

    >>> evaluate_arithmetic("2**10 - 3/4")
    4093/4
    >>> evaluate_arithmetic("9**9**9")
    Traceback (most recent call last):
    ...
    ValueError: exponent out of range
    """
    return sympy.Rational(_affine_of(expr, None)[1])


def solve_linear_equation(left: str, right: str, var: str) -> sympy.Rational:
    """The one solution of ``left = right``, both sides linear in ``var`` (Python syntax, numbers and + - * /
    only); raises ValueError when it is not linear, has no single solution or leaves the bounds above.

    >>> solve_linear_equation("9*x", "180", "x"), solve_linear_equation("x + 3", "5", "x")
    (20, 2)
    >>> solve_linear_equation("2*(y - 1)", "y/2 + 4", "y")
    4
    >>> solve_linear_equation("x*x", "4", "x")
    Traceback (most recent call last):
    ...
    ValueError: not linear
    """
    (a1, b1), (a2, b2) = _affine_of(left, var), _affine_of(right, var)
    if a1 == a2:
        raise ValueError("no single solution")
    return sympy.Rational(_check_size((b2 - b1) / (a1 - a2)))


# --- the worker pool ---------------------------------------------------------------------------------

_IN_WORKER = False
"""True inside a worker: a bounded call made there runs inline (it is already bounded by its caller)."""
_REPO_ROOT = Path(__file__).resolve().parents[2]
_WORKER_CODE = f"import sys; sys.path.insert(0, {str(_REPO_ROOT)!r}); from serving.critique.bounded import serve; serve()"
"""Run with ``python -I`` (no current directory or PYTHONPATH on the path): this checkout's code, nothing else."""
START_RETRY_S = 10.0
"""After a worker failed to start, calls fail at once for this long instead of each starting one (seconds)."""
_HEADER = struct.Struct("!Q")


def _write_frame(fd: int, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, left = [], n
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("worker closed its pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int, deadline: float | None = None) -> Any:
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    return pickle.loads(_read_exact(fd, size, deadline))


def serve() -> None:
    """A worker's loop (``python -c``): replies go to a private copy of stdout, and fd 1 goes to stderr, so
    nothing a library prints can corrupt them. Sends "ready", then per task ("ok", value) or ("error", text)."""
    global _IN_WORKER
    _IN_WORKER = True
    memory_bytes = int(os.environ.get("MATHCHAT_SYMBOLIC_MEMORY_BYTES", "0"))
    if memory_bytes > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    replies = os.dup(1)
    os.dup2(2, 1)
    for name in _PRELOAD:
        importlib.import_module(name)
    _write_frame(replies, "ready")
    while True:
        try:
            fn, args = _read_frame(0)
        except EOFError:
            return
        try:
            reply = ("ok", fn(*args))
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the caller as text
            reply = ("error", f"{type(exc).__name__}: {str(exc)[:300]}")
        try:
            _write_frame(replies, reply)
        except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable result
            _write_frame(replies, ("error", f"result not sendable: {type(exc).__name__}"))


_PRELOAD = ("serving.critique.answers", "serving.critique.steps", "serving.critique.question_solver")


class _Worker:
    """One worker process and its pipes; started on first use, replaced after a kill."""

    def __init__(self, memory_bytes: int, startup_timeout_s: float) -> None:
        self._memory_bytes = memory_bytes
        self._startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen | None = None
        self._failed_at: float | None = None
        self._failure = ""

    def ensure(self) -> None:
        """Start the process unless it runs, and wait until it has imported sympy and math-verify."""
        if self.process is not None and self.process.poll() is None:
            return
        self.close()
        if self._failed_at is not None and time.monotonic() - self._failed_at < START_RETRY_S:
            raise SymbolicFailure(self._failure)
        env = {**os.environ, "MATHCHAT_SYMBOLIC_MEMORY_BYTES": str(self._memory_bytes)}
        self.process = subprocess.Popen([sys.executable, "-I", "-c", _WORKER_CODE], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env, close_fds=True)
        try:
            if _read_frame(self.process.stdout.fileno(), time.monotonic() + self._startup_timeout_s) != "ready":
                raise EOFError("no ready signal")
        except (TimeoutError, EOFError, OSError, pickle.UnpicklingError) as exc:
            self.close()
            self._failed_at, self._failure = time.monotonic(), f"symbolic worker did not start: {exc!r}"
            raise SymbolicFailure(self._failure) from exc
        self._failed_at = None

    def run(self, fn: Callable[..., T], args: tuple, timeout_s: float) -> T:
        self.ensure()
        assert self.process is not None and self.process.stdin is not None and self.process.stdout is not None
        try:
            _write_frame(self.process.stdin.fileno(), (fn, args))
            status, value = _read_frame(self.process.stdout.fileno(), time.monotonic() + timeout_s)
        except TimeoutError:
            self.close()
            raise SymbolicTimeout(f"{fn.__name__} ran past {timeout_s:g} s and was stopped") from None
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            code = self.process.poll() if self.process else None
            self.close()
            raise SymbolicFailure(f"symbolic worker died (exit code {code}): {exc}") from exc
        if status != "ok":
            raise SymbolicFailure(value)
        return value

    def close(self) -> None:
        """Kill the process (a task it runs is lost) and forget it."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait(10)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


class SymbolicPool:
    """``workers`` processes; ``run(fn, *args)`` runs a module-level ``fn`` in a free one, at most ``timeout_s``.

    A killed worker is replaced in the background, so the next task does not wait for its start.
    """

    def __init__(self, workers: int = 2, timeout_s: float = 2.0, memory_mib: int = 2048,
                 startup_timeout_s: float = 120.0) -> None:
        self.timeout_s = timeout_s
        self._closed = False
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all = [_Worker(memory_mib * 2**20, startup_timeout_s) for _ in range(max(1, workers))]
        for worker in self._all:
            self._idle.put(worker)

    def run(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
        """``fn(*args)`` in a worker; SymbolicTimeout when it (or the wait for a free worker) runs too long.
        The wait for a worker to start (first use, or after a crash) does not count against ``timeout_s``."""
        limit = self.timeout_s if timeout_s is None else timeout_s
        try:
            worker = self._idle.get(timeout=limit)
        except queue.Empty:
            raise SymbolicTimeout(f"no symbolic worker free within {limit:g} s") from None
        try:
            return worker.run(fn, args, limit)
        except SymbolicTimeout:
            threading.Thread(target=self._restart, args=(worker,), daemon=True).start()
            worker = None  # type: ignore[assignment]  # back in the queue once restarted
            raise
        finally:
            if worker is not None:
                self._idle.put(worker)

    def _start(self, worker: _Worker) -> None:
        try:
            if not self._closed:
                worker.ensure()
        except SymbolicFailure as exc:
            if not self._closed:
                log.warning("%s", exc)

    def _restart(self, worker: _Worker) -> None:
        self._start(worker)
        self._idle.put(worker)

    def warm(self) -> None:
        """Start every worker now, in the background (each imports sympy and math-verify: about two seconds)."""
        for worker in self._all:
            threading.Thread(target=self._start, args=(worker,), daemon=True).start()

    def close(self) -> None:
        """Stop every worker (a later ``run`` starts them again)."""
        self._closed = True
        for worker in self._all:
            worker.close()


_pool: SymbolicPool | None = None
_pool_lock = threading.Lock()
_config: dict[str, Any] = {}


def configure(settings: Any) -> None:
    """Take the pool's size and limits from a ``CritiqueSettings``; a running pool with other limits is replaced."""
    global _pool
    wanted = {"workers": settings.symbolic_workers, "timeout_s": settings.symbolic_timeout_s,
              "memory_mib": settings.symbolic_memory_mib}
    with _pool_lock:
        if wanted == _config:
            return
        _config.clear()
        _config.update(wanted)
        if _pool is not None:
            _pool.close()
            _pool = None


def pool() -> SymbolicPool:
    """The process-wide pool, created on first use (with the settings' defaults unless ``configure`` ran)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            if not _config:
                from mathchat.settings import CritiqueSettings

                defaults = CritiqueSettings()
                _config.update(workers=defaults.symbolic_workers, timeout_s=defaults.symbolic_timeout_s,
                               memory_mib=defaults.symbolic_memory_mib)
            _pool = SymbolicPool(**_config)
            atexit.register(_pool.close)
        return _pool


def run_bounded(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker process, killed after the configured timeout (SymbolicTimeout); a task that
    raises or kills its worker raises SymbolicFailure. Inside a worker it just runs. ``fn`` must be a
    module-level function (it travels by name)."""
    if _IN_WORKER:
        return fn(*args)
    return pool().run(fn, *args)
