"""The WSGI entry point for gunicorn: `gunicorn -c server/gunicorn.conf.py server.wsgi:app`.

Imported in each worker after the fork (no preload), so every worker builds its own onnxruntime session.
"""

import gc

from server.app import create_app
from server.config import Config

app = create_app(Config.from_env())  # logging is set up by gunicorn.conf.py (server.logs)
# The ~43,000 objects built so far live as long as the worker: out of the collector's sight, a full
# collection takes microseconds instead of ~12 ms in the middle of some request.
gc.freeze()
