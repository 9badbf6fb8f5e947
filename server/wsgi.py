"""The WSGI entry point for gunicorn: `gunicorn -c server/gunicorn.conf.py server.wsgi:app`.

Imported in each worker after the fork (no preload), so every worker builds its own onnxruntime session.
"""

import logging

from server.app import create_app
from server.config import Config

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
app = create_app(Config.from_env())
