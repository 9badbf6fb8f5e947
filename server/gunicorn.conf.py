"""Gunicorn settings; every value can be overridden from the environment."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WORKERS", 2))  # one sync worker per core on the 2-core target machine
worker_class = "server.worker.Worker"  # sync, with a time limit on slow request heads
preload_app = False  # each worker imports the app, so the onnxruntime session is created after the fork
worker_tmp_dir = "/dev/shm"  # the heartbeat file: memory, not disk
timeout = int(os.environ.get("TIMEOUT", 30))
graceful_timeout = 10
keepalive = 5
max_requests = int(os.environ.get("MAX_REQUESTS", 20000))  # recycle workers to bound slow leaks
max_requests_jitter = 2000  # ... but not all at once
limit_request_line = 4094
limit_request_fields = 50
accesslog = os.environ.get("ACCESS_LOG", "-") or None  # ACCESS_LOG= (empty) turns it off
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
