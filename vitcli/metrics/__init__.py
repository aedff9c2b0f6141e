"""Pure-Python metrics over strings. Nothing here imports torch."""
