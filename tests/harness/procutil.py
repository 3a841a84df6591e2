"""Small process helpers shared by the harness scripts: signals, free ports, child shutdown."""
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM or SIGHUP.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that ``finally`` blocks and context
    managers still run and stop the throwaway cluster and child processes.
    """

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, _frame):
    raise Terminated(signum)


def install_signal_handlers():
    """Turn SIGTERM/SIGHUP into an exception so that clean-up code runs (SIGINT already is)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(sig, _raise_terminated)
        except (ValueError, OSError):  # not the main thread, or not supported
            pass


def free_port(host='127.0.0.1', avoid=()):
    """Return a TCP port that is free on ``host`` right now."""
    for _attempt in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            return port
    raise RuntimeError('could not find a free TCP port')


def port_is_free(port, host='127.0.0.1'):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_port(port, host='127.0.0.1', timeout=30.0, proc=None):
    """Wait until something accepts TCP connections on ``host:port``.

    Returns False on timeout or when ``proc`` (a Popen) exits first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def stop_child(proc, name='child', first_signal=signal.SIGINT, grace=20.0):
    """Stop a child started with ``start_new_session=True`` and wait for it.

    Sends ``first_signal`` to its process group, then SIGTERM, then SIGKILL.
    """
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((first_signal, grace), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        except PermissionError:
            proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            print(f'[harness] {name} (pid {proc.pid}) still running after '
                  f'{signal.Signals(sig).name}', file=sys.stderr, flush=True)
    # Reap whatever is left in its group (e.g. a worker that outlived its parent).
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def fmt_duration(seconds):
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    return f'{minutes}m{seconds:02d}s' if minutes else f'{seconds}s'


class OutputReader:
    """Reads a child's output in a thread of its own, so that the caller can wait for lines
    with a timeout (to keep a heartbeat or a deadline) and collect what is left once it has
    stopped the child."""

    def __init__(self, proc):
        self._lines = queue.Queue()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def lines(self, idle=1.0):
        """Yield each line, or '' after ``idle`` seconds without one, until the output ends."""
        while True:
            try:
                line = self._lines.get(timeout=idle)
            except queue.Empty:
                line = ''
            if line is None:
                return
            yield line

    def drain(self):
        """The lines read and not yet taken (after the child was stopped)."""
        rest = []
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return rest
            if line:
                rest.append(line)
