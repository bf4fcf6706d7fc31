"""The in-process APScheduler and its jobs."""
