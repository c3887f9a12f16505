from __future__ import annotations

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from botyard.accounts import services
from botyard.accounts.forms import SignInForm, SignUpForm
from botyard.core.errors import ApplicationError
from botyard.core.request import client_address
from botyard.web.forms import apply_error


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


@require_http_methods(["GET", "HEAD", "POST"])
def signin(request: HttpRequest) -> HttpResponse:
    form = SignInForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_sign_in(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                address=client_address(request),
            )
        except ApplicationError as error:
            form.add_error(None, error.detail)
            status = error.status
        else:
            login(request, user, backend="botyard.accounts.backends.EmailBackend")
            return redirect(_next_url(request))
    elif request.method == "POST":
        status = 400
    return render(
        request, "accounts/signin.html", {"form": form, "next": _next_url(request)}, status=status
    )


@require_http_methods(["GET", "HEAD", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                name=form.cleaned_data["name"],
                via_signup=True,
            )
        except ApplicationError as error:
            apply_error(form, error)
            status = error.status
        else:
            login(request, user, backend="botyard.accounts.backends.EmailBackend")
            return redirect(_next_url(request))
    elif request.method == "POST":
        status = 400
    return render(
        request, "accounts/signup.html", {"form": form, "next": _next_url(request)}, status=status
    )


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("accounts:signin")
