"""The WSGI entry point for gunicorn: `gunicorn -c server/gunicorn.conf.py server.wsgi:app`.

Imported in each worker after the fork (no preload), so every worker builds its own onnxruntime session.
"""

from server.app import create_app
from server.config import Config

app = create_app(Config.from_env())  # logging is set up by gunicorn.conf.py (server.logs)
