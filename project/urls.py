from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", lambda request: HttpResponseRedirect("/admin/"), name="home"),
]
