"""Imported first by the readers' fork server: it and the workers it forks ignore Ctrl-C.

A terminal's Ctrl-C reaches every process of the foreground group. The process that owns
the pool turns it into a clean cancel; its workers would only print a traceback each. It
sits outside ``tg_pipeline.readers``, whose package import (pyarrow) takes long enough for
a Ctrl-C to land in it.
"""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
