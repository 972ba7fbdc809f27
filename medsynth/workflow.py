"""Support for the workflow's scripts: logging into the rule's log file."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def logged(snakemake) -> Iterator[logging.Logger]:
    """Send a script's output, warnings and any traceback to its rule's log."""
    log_path = Path(snakemake.log[0])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", buffering=1) as handle, \
            contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
        logging.basicConfig(stream=handle, level=logging.INFO, force=True,
                            format="%(asctime)s %(levelname)s %(message)s")
        logging.captureWarnings(True)
        logger = logging.getLogger(f"medsynth.{snakemake.rule}")
        try:
            yield logger
        except BaseException:
            logger.exception("rule %s failed", snakemake.rule)
            raise


def dataset_root(path: str | Path) -> Path:
    """The root of a BIDS-like dataset from one of its files
    (``<root>/sub-<id>/anat/<file>``), or the path itself when it is the root
    (a real dataset's converted folder is one checkpoint output)."""
    path = Path(path)
    return path if path.is_dir() else path.parents[2]
