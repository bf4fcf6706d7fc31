"""Reflex states: view data for the pages; they call services, never SQL."""
