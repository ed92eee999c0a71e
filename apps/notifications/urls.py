from django.urls import path

from apps.notifications import views

app_name = "notifications"

urlpatterns = [
    path("notify/action/<str:token>", views.action, name="action"),
]
