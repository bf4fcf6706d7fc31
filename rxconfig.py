"""Reflex config; reads settings (environment variables), nothing else."""

import reflex as rx

from services.config import get_settings

_settings = get_settings()

config = rx.Config(
    app_name="supervision_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    frontend_port=_settings.port,
    backend_port=_settings.port,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
    # Reflex accepts websocket connections from any origin by default: only our own site.
    cors_allowed_origins=_settings.allowed_origins(),
    # Tabs' states live in memory: they are rebuilt when a tab reconnects, and the default
    # (one file per state on disk, listed on a loop) cost each dashboard event 2-5 ms more
    # as the files piled up (bench/presence.py).
    state_manager_mode=rx.constants.StateManagerMode.MEMORY,
)
