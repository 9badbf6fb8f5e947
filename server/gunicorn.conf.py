"""Gunicorn settings: the variable ones come from server.config.Config, like the app's."""

from server.config import Config

_config = Config.from_env()  # not "config": that name is a gunicorn setting
bind = f"{_config.host}:{_config.port}"
workers = _config.workers  # one sync worker per core on the 2-core target machine
worker_class = "server.worker.Worker"  # sync, with a time limit on slow request heads
preload_app = False  # each worker imports the app, so the onnxruntime session is created after the fork
worker_tmp_dir = "/dev/shm"  # the heartbeat file: memory, not disk
timeout = _config.worker_timeout
graceful_timeout = 10
keepalive = 5
max_requests = _config.max_requests  # recycle workers to bound slow leaks
max_requests_jitter = 2000  # ... but not all at once
limit_request_line = 4094
limit_request_fields = 50
accesslog = _config.access_log or None  # ACCESS_LOG= (empty) turns it off
errorlog = "-"
loglevel = _config.log_level
