"""Celery tasks: thin wrappers that hand image IDs to app.processing."""
