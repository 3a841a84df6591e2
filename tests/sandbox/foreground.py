"""The command-line entry points of the stand-ins (server.py, iap.py): serve in the
foreground until Ctrl-C or SIGTERM, then stop cleanly."""
import signal
import threading


def serve_until_signalled(stop_serving):
    """Block until SIGINT or SIGTERM arrives, then call ``stop_serving()`` (also when the
    wait ends otherwise). The servers run in their own threads: this thread only waits."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    finally:
        stop_serving()
