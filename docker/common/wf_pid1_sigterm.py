"""Let SIGTERM stop a Python program that runs as PID 1 in a container.

The kernel drops a signal whose handler is the default one when it is sent to the first process of a
PID namespace, so `docker stop`, `podman stop` and Kubernetes would wait out the grace period and
SIGKILL a CLI (wf-gate) that installs no SIGTERM handler of its own. The images load this module at
interpreter start-up through wf_pid1_sigterm.pth in the venv's site-packages. It acts only as PID 1
and only while SIGTERM has its default handler; a program that installs its own handler afterwards
(the services drain their gRPC server) replaces it. SystemExit unwinds the main thread, so `finally`
blocks and atexit hooks (multiprocessing pools terminating their workers) still run.
"""

import os
import signal


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


if os.getpid() == 1 and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
