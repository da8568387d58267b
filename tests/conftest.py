"""pytest fixtures; the helpers themselves live in :mod:`tests.support`.

Ctrl-C is taken back from an ignoring parent here: a suite started in the background
by a non-interactive shell (``cmd &``, nohup) inherits SIGINT ignored, which the
commands the Ctrl-C tests start would inherit in turn (an ignored signal stays
ignored across exec), so they would never see the SIGINT those tests send. With
Python's own handler in this process, the commands start with the default action.
"""

import signal

from tests.support import in_coffer, native  # noqa: F401 - fixtures

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
