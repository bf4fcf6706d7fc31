"""Settings, read once from environment variables; every setting is declared here."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All settings with their defaults; each is read from the upper-cased field name."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    data_dir: Path = Field(
        Path("data"), description="Folder for the SQLite file and the secret key."
    )
    database_url: str = Field("", description="SQLAlchemy URL; empty means sqlite in DATA_DIR.")
    port: int = Field(3000, description="The single port the app serves on.")
    site_url: str = Field(
        "", description="Public URL of the dashboard; defaults to localhost:PORT."
    )
    session_ttl_hours: int = Field(12, description="How long a sign-in lasts.")
    llm_model: str = Field(
        "", description="LiteLLM model name; empty uses the rule-based reviewer."
    )
    presence_away_after_s: int = Field(300, description="No heartbeat for this long: away.")
    presence_offline_after_s: int = Field(900, description="No heartbeat for this long: offline.")
    presence_heartbeat_s: int = Field(30, description="How often an active tab sends a heartbeat.")
    live_safety_net_s: float = Field(
        30.0,
        gt=0,
        description="How often an open page checks for changes no push announced (made by "
        "another process on SQLite, say); pushes themselves arrive at once.",
    )
    presence_close_grace_s: int = Field(
        10,
        ge=0,
        description="After a user's last tab closes, wait this long before counting it "
        "(a page reload closes and reopens its tab); 0 counts it at once.",
    )
    presence_online_override_max_minutes: int = Field(
        480,
        ge=1,
        description="The longest a supervisor may 'appear online' by hand; it also ends "
        "when their last dashboard tab closes.",
    )
    away_counts_as_available: bool = Field(
        False, description="Let 'away' supervisors be available."
    )
    queue_max_attempts: int = Field(3, description="Attempts before a queue entry fails.")
    queue_expiry_hours: int = Field(24, description="A pending queue entry expires after this.")
    run_stale_after_s: int = Field(
        60,
        ge=1,
        description="A run whose agent neither reported nor polled for this long is shown stale.",
    )
    run_lost_after_s: int = Field(
        300,
        ge=1,
        description="Silent this long, a run ends 'lost' (the agent is told to stop if it comes "
        "back); also the time an agent has to pick up work it was offered. A queued run lost "
        "after its agent started it is failed, not run again.",
    )
    proposal_expiry_hours: int = Field(24, description="A pending proposal is rejected after this.")
    llm_timeout_s: float = Field(20.0, description="How long one LLM review may take.")
    review_confidence_threshold: float = Field(
        0.8, description="Autonomous approval needs at least this confidence."
    )
    review_high_risk_words: str = Field(
        "",
        description="Extra comma-separated words that make an action high risk, on top of the "
        "built-in rules (deletes, payments, code, outside sends, secrets, access, systems).",
    )
    review_medium_risk_words: str = Field(
        "", description="Extra comma-separated words that make an action medium risk."
    )
    review_safe_actions: str = Field(
        "",
        description="Comma-separated action-name patterns (fnmatch, e.g. 'list_*,get_*') the "
        "rule reviewer may approve when no risk rule fires; empty: names starting with a "
        "looking verb (list, get, read, search, fetch, summarize, …).",
    )
    shadow_reviews: bool = Field(
        True,
        description="When a human decides a proposal the AI reviewer did not see, compute its "
        "verdict anyway and record it beside theirs (the Reviewers screen compares them). "
        "With LLM_MODEL set, that is one model call per human decision.",
    )
    review_amount_limit: float = Field(
        1000.0,
        description="A money-like parameter (amount, total, price…) above this is high risk.",
    )
    review_internal_hosts: str = Field(
        "localhost,127.0.0.1",
        description="Hosts whose URLs in parameters do not count as sending outside.",
    )
    monitor_high_risk_words: str = Field(
        "delete,drop,purge,destroy,truncate,wipe,erase,rm,transfer,wire,refund,shutdown,"
        "credential,password,secret",
        description="Words in a run's log or output that the autonomous supervisor acts on "
        "(matched in any form: camelCase, plurals, -ing), besides SQL and shell commands.",
    )
    monitor_action: str = Field(
        "pause", description="What the autonomous supervisor does on a high-risk finding."
    )
    login_attempts_per_15_min: int = Field(
        10, description="Failed sign-ins allowed per username and address in 15 minutes."
    )
    login_attempts_per_address_15_min: int = Field(
        50,
        description="Sign-in attempts allowed from one address in 15 minutes, across "
        "usernames (a successful sign-in does not count).",
    )
    agent_requests_per_minute: int = Field(
        1200, description="Requests one agent may make per minute before getting 429."
    )
    max_payload_bytes: int = Field(262_144, description="Largest request body the API accepts.")
    governance_cache: bool = Field(
        True,
        description="Cache supervisors' presence for the governance check, at most 2 s "
        "(so several processes agree within 2 s).",
    )
    callback_allowed_hosts: str = Field(
        "",
        description="Comma-separated host names or IP networks (CIDR) agents' callbacks may "
        "reach besides public addresses, e.g. a receiver on this machine or network; "
        "loopback, private, link-local and metadata addresses are refused otherwise.",
    )
    db_write_wait_s: float = Field(
        5.0,
        description="How long a write waits for the database (another writer, a locked row) "
        "before it gives up with 503 and Retry-After; nothing is written then.",
    )
    scheduler_enabled: bool = Field(True, description="Run the in-process scheduler.")
    demo_mode: bool = Field(
        False,
        description="Set by `make demo`: the sign-in page lists the demo accounts and their "
        "known password (never serve a network like that).",
    )
    smtp_password: str = Field(
        "",
        description="Password of the e-mail channels' SMTP account (their host, port, TLS, "
        "sender and user name are set on the Escalation screen); never stored in the database.",
    )
    decision_links_sign_in: str = Field(
        "high",
        pattern="^(high|always)$",
        description="Which e-mailed Approve/Reject links need a sign-in: 'high' (high-risk "
        "actions; the default) or 'always'. Chat channels' links always do.",
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'supervision.db').resolve()}"

    @property
    def resolved_site_url(self) -> str:
        return self.site_url.rstrip("/") or f"http://localhost:{self.port}"

    def allowed_origins(self) -> list[str]:
        """Origins whose pages may call the API and open the dashboard's websocket."""
        if self.site_url:
            return [self.site_url.rstrip("/")]
        return [f"http://localhost:{self.port}", f"http://127.0.0.1:{self.port}"]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
