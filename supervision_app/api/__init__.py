"""HTTP routes for agents and supervisors, served under /api by the Reflex app."""
