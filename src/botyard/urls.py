from django.contrib import admin
from django.urls import include, path, re_path

from botyard.api import api
from botyard.messaging import endpoint as message_endpoint
from botyard.web import views as web_views

urlpatterns = [
    # Declared in the Ninja API (its OpenAPI entry) but answered by a plain view: most of
    # the traffic is messages (ADR 0007).
    path("api/v1/bots/<str:bot_id>/messages", message_endpoint.message_post),
    path("api/v1/", api.urls),
    # Anything else under /api/ is a problem-details 404, never an HTML page.
    re_path(r"^api(?:/.*)?$", web_views.api_not_found),
    path("admin/", admin.site.urls),
    path("", include("botyard.accounts.urls")),
    path("", include("botyard.web.urls")),
]

handler400 = "botyard.web.views.bad_request"
handler403 = "botyard.web.views.forbidden"
handler404 = "botyard.web.views.not_found"
handler500 = "botyard.web.views.server_error"
