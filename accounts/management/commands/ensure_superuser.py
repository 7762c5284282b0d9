import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts.models import PasswordChangeRequired


class Command(BaseCommand):
    help = "On first start: create a staff superuser with a random password, printed once."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://localhost:3001/admin/")

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(options["username"], "", password)
        # The password is printed (and so in a log): the first sign-in must replace it.
        PasswordChangeRequired.objects.create(user=user, password=user.password)
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "  Created the first staff superuser (shown once, write it down):",
                    f"    username: {options['username']}",
                    f"    password: {password}",
                    f"  Admin: {options['url']}",
                    "  You will be asked to change this password when you first sign in.",
                    "",
                ]
            )
        )
