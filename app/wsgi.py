"""The WSGI entry point for gunicorn: `gunicorn app.wsgi:app`."""

from app import logs
from app.api import create_app
from app.settings import current

settings = current()
logs.configure(settings)  # text when embedded, JSON on AWS (IMAGEPIPE_LOG_FORMAT)
app = create_app(settings)
