"""Logging as the spec report has it: file and console, one format."""

from __future__ import annotations

import logging
from pathlib import Path

LOG_FORMAT = "%(asctime)s [%(levelname)s] %(message)s"
LOGGER_NAME = "asyncgen"


def configure_logging(
    level: str = "INFO", log_file: Path | None = None, *, console: bool = True
) -> logging.Logger:
    """Attach a file handler (in the run directory) and a console handler to our logger."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(file_handler)
    if console:
        from rich.logging import RichHandler  # only with a console: a quiet run starts sooner

        console_handler = RichHandler(show_path=False, rich_tracebacks=False)
        console_handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(console_handler)
    logger.propagate = False
    return logger


def get_logger(name: str) -> logging.Logger:
    """A child of the asyncgen logger, e.g. ``get_logger(__name__)``."""
    return logging.getLogger(name if name.startswith(LOGGER_NAME) else f"{LOGGER_NAME}.{name}")
