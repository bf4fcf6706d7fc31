"""Turns settings into the explicit policies the services take."""

from __future__ import annotations

from datetime import timedelta

from services.config import Settings, get_settings
from services.escalation import EscalationPolicy
from services.executions import LivenessPolicy
from services.governance import GovernancePolicy
from services.outbound_urls import CallbackTargets
from services.presence import PresenceRules
from services.queue import QueuePolicy
from services.review import ReviewPolicy
from services.risk_analysis import RiskRules
from services.run_monitor import MonitorPolicy


def presence_rules(settings: Settings | None = None) -> PresenceRules:
    return PresenceRules.from_settings(settings or get_settings())


def governance_policy(settings: Settings | None = None) -> GovernancePolicy:
    settings = settings or get_settings()
    return GovernancePolicy(
        presence=presence_rules(settings),
        proposal_ttl=timedelta(hours=settings.proposal_expiry_hours),
        queue_ttl=timedelta(hours=settings.queue_expiry_hours),
        queue_max_attempts=settings.queue_max_attempts,
        risk_rules=review_policy(settings).risk_rules,
    )


def escalation_policy(settings: Settings | None = None) -> EscalationPolicy:
    return governance_policy(settings).escalation


def queue_policy(settings: Settings | None = None) -> QueuePolicy:
    settings = settings or get_settings()
    return QueuePolicy(presence=presence_rules(settings))


def liveness_policy(settings: Settings | None = None) -> LivenessPolicy:
    settings = settings or get_settings()
    return LivenessPolicy(
        stale_after=timedelta(seconds=settings.run_stale_after_s),
        lost_after=timedelta(seconds=max(settings.run_lost_after_s, settings.run_stale_after_s)),
    )


def _words(value: str) -> frozenset[str]:
    return frozenset(w.strip().lower() for w in value.split(",") if w.strip())


def review_policy(settings: Settings | None = None) -> ReviewPolicy:
    settings = settings or get_settings()
    return ReviewPolicy(
        model=settings.llm_model,
        timeout_s=settings.llm_timeout_s,
        confidence_threshold=settings.review_confidence_threshold,
        risk_rules=RiskRules(
            extra_high_words=_words(settings.review_high_risk_words),
            extra_medium_words=_words(settings.review_medium_risk_words),
            internal_hosts=_words(settings.review_internal_hosts),
            amount_limit=settings.review_amount_limit,
        ),
        safe_actions=tuple(sorted(_words(settings.review_safe_actions))),
    )


def callback_targets(settings: Settings | None = None) -> CallbackTargets:
    """Where agents' callbacks may go besides public hosts (CALLBACK_ALLOWED_HOSTS)."""
    settings = settings or get_settings()
    return CallbackTargets.parse(settings.callback_allowed_hosts.split(","))


def monitor_policy(settings: Settings | None = None) -> MonitorPolicy:
    settings = settings or get_settings()
    return MonitorPolicy(
        high_risk_words=_words(settings.monitor_high_risk_words),
        action="terminate" if settings.monitor_action == "terminate" else "pause",
        model=settings.llm_model,
        timeout_s=settings.llm_timeout_s,
    )
