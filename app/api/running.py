"""Where the running app keeps its platform, and the settings in it.

`context.platform()` gives the whole platform to the routes; the modules context.py itself
imports (limits, client, request_log) read the settings here, which would otherwise be an
import cycle.
"""

from __future__ import annotations

from flask import current_app

from app.settings import Settings

PLATFORM_KEY = "imagepipe"  # app.extensions[PLATFORM_KEY] is the Platform (app/api/context.py)


def current_settings() -> Settings:
    """The app's settings, inside a request or app context."""
    value: Settings = current_app.extensions[PLATFORM_KEY].services.settings
    return value
