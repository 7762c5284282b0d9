from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and socket permissions"

    def ready(self) -> None:
        # Model changes that alter someone's rights become accounts.signals announcements.
        from accounts import receivers

        receivers.connect()
