"""Dashboard screens; each module holds its page and its state."""
