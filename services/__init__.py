"""Domain logic over a Session and an explicit time; never imports Reflex or FastAPI."""
