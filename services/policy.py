"""Turns settings into the explicit policies the services take."""

from __future__ import annotations

from datetime import timedelta

from services.config import Settings, get_settings
from services.governance import GovernancePolicy
from services.presence import PresenceRules
from services.queue import QueuePolicy


def presence_rules(settings: Settings | None = None) -> PresenceRules:
    return PresenceRules.from_settings(settings or get_settings())


def governance_policy(settings: Settings | None = None) -> GovernancePolicy:
    settings = settings or get_settings()
    return GovernancePolicy(
        presence=presence_rules(settings),
        proposal_ttl=timedelta(hours=settings.proposal_expiry_hours),
        queue_ttl=timedelta(hours=settings.queue_expiry_hours),
        queue_max_attempts=settings.queue_max_attempts,
    )


def queue_policy(settings: Settings | None = None) -> QueuePolicy:
    settings = settings or get_settings()
    return QueuePolicy(
        lease=timedelta(seconds=settings.queue_lease_s), presence=presence_rules(settings)
    )
