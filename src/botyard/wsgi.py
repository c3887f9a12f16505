import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botyard.settings")
_django = get_wsgi_application()

# Imported once Django is set up. The message path is answered ahead of the middleware
# chain, every other request by Django (messaging/fast_path.py, ADR 0010).
from botyard.messaging.fast_path import MessageFastPath  # noqa: E402

application = MessageFastPath(_django)
