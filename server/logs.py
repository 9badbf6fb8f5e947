"""Logs an operator can search: one JSON object per line on stderr, the access log one line per request."""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

ACCESS = logging.getLogger("digits.access")
FORMAT = {
    "()": JsonFormatter,
    "fmt": "{levelname}{name}{process}{message}",
    "style": "{",
    "rename_fields": {"levelname": "level", "name": "logger", "process": "pid"},  # pid: which worker
    "timestamp": True,  # ISO 8601, UTC
}


def config_dict(level: str, access_log: str) -> dict:
    """logging.config.dictConfig settings: JSON lines for the app's, gunicorn's and the access logs."""
    access = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "json"}
    if access_log not in ("", "-"):
        access = {"class": "logging.FileHandler", "filename": access_log, "formatter": "json"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": FORMAT},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "json"},
            "access": access,
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "CRITICAL", "propagate": False},  # the app writes the access log
            ACCESS.name: {
                "level": "INFO" if access_log else "CRITICAL",  # ACCESS_LOG= (empty) turns it off
                "handlers": ["access"],
                "propagate": False,
            },
        },
    }
