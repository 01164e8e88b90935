"""Configuration in one place: defaults, overridable by environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

TARGET_KINDS = ("portal", "search", "finance", "realestate", "p2p", "appstore")
RENDER_POLICIES = ("never", "auto", "always")
REGIONS = ("shanghai", "yancheng", "ningxia", "tianjin-baodi", "wenzhou")


@dataclass(frozen=True)
class Settings:
    """Run-time settings; each field names the environment variable that overrides it."""

    store: str = field(default_factory=lambda: os.environ.get("JINJIAN_STORE", "./jinjian-data"))
    chromium: str = field(
        default_factory=lambda: os.environ.get("JINJIAN_CHROMIUM", "/usr/bin/chromium")
    )
    # bounds on hostile content
    max_page_bytes: int = field(
        default_factory=lambda: int(os.environ.get("JINJIAN_MAX_PAGE_BYTES", 8 * 1024 * 1024))
    )
    download_timeout: int = field(
        default_factory=lambda: int(os.environ.get("JINJIAN_DOWNLOAD_TIMEOUT", 30))
    )
    render_timeout_ms: int = field(
        default_factory=lambda: int(os.environ.get("JINJIAN_RENDER_TIMEOUT_MS", 20000))
    )
    # the admission, negative, flagged-advertiser and licence-scope list files (rules/lists.py);
    # "" is the shipped example data in rules/data/lists. The crawler's ClassifyPipeline reads
    # the same variable (crawlers/ never import jinjian).
    lists_dir: str = field(default_factory=lambda: os.environ.get("JINJIAN_LISTS_DIR", ""))
    # the classifier's artefact (nlp/model.py); "" is nlp/model/jinjian-model.joblib, built by
    # `jinjian model train` (make does it); "off" classifies with the rules alone. nlp/ reads
    # the same variable.
    model: str = field(default_factory=lambda: os.environ.get("JINJIAN_MODEL", ""))
    # where `jinjian crawl` POSTs each run's JSON summary (jinjian/monitors.py); "" posts nothing
    webhook_url: str = field(default_factory=lambda: os.environ.get("JINJIAN_WEBHOOK_URL", ""))


def settings() -> Settings:
    return Settings()


def log_dir(store: str) -> Path:
    """Where a crawl writes its full log: beside the embedded store, or ./jinjian-logs."""
    if store.startswith(("http://", "https://")):
        return Path("jinjian-logs")
    return Path(store) / "logs"
