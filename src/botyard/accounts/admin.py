from django.contrib import admin

from botyard.accounts.models import AccessToken, User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("email", "name", "is_staff", "is_active", "created_at")
    search_fields = ("email", "name")
    exclude = ("password", "user_permissions", "groups")
    readonly_fields = ("id", "last_login", "created_at")


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "created_at", "last_used_at")
    exclude = ("digest",)
    readonly_fields = ("id", "user", "name", "created_at", "last_used_at")
