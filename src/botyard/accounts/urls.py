from django.urls import path

from botyard.accounts import views

app_name = "accounts"

urlpatterns = [
    path("signin", views.signin, name="signin"),
    path("signup", views.signup, name="signup"),
    path("signout", views.signout, name="signout"),
]
