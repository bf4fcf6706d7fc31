"""The Reflex dashboard and the HTTP API it serves."""
