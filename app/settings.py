"""Settings from POWERCAT_* environment variables, read once and cached."""

from __future__ import annotations

import re
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob the service has; the README lists them with their defaults."""

    model_config = SettingsConfigDict(env_prefix="POWERCAT_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./var/powercat.db"
    # A read replica (or a second connection) for GETs that need no read-your-writes guarantee.
    read_database_url: str | None = None
    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_pool_timeout_s: float = Field(default=10.0, gt=0)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    public_read: bool = True
    log_level: str = "INFO"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_upload_bytes: int = Field(default=20 * 1_048_576, ge=1024)
    cursor_secret: str = "powercat-dev-cursor-secret"
    cors_origins: list[str] = Field(default_factory=list)
    rate_limit_per_minute: int = Field(default=600, ge=1)
    request_timeout_s: float = Field(default=30.0, gt=0)


# Not ours but prometheus_client's: the directory where several server processes keep their
# metrics (app/api/metrics.py). Named here, below everything, so that `powercat serve` can ready
# it without importing the client, which would start writing its own figures there first.
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# How prometheus_client names its files there: <kind>_<pid>.db, a gauge's kind with its mode
# (`gauge_livesum_4242.db`); `serve` empties the directory of them, a scrape drops dead workers'.
METRICS_FILE = re.compile(
    r"(?P<kind>counter|histogram|summary|gauge_(?P<mode>[a-z]+))_(?P<pid>[0-9]+)\.db"
)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call get_settings.cache_clear() after changing env."""
    return Settings()
