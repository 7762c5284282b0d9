from django.apps import AppConfig


class GameConfig(AppConfig):
    name = "game"
    verbose_name = "Game world"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from accounts.models import IssuedToken
        from accounts.signals import tokens_revoking
        from game import server, signals
        from realtime.signals import client_disconnected, clients_expired

        client_disconnected.connect(server.on_client_disconnected, dispatch_uid="game.bridge-disconnect")
        clients_expired.connect(server.on_clients_expired, dispatch_uid="game.bridge-expired")
        post_save.connect(signals.on_token_saved, sender=IssuedToken, dispatch_uid="game.token-audit")
        tokens_revoking.connect(signals.on_tokens_revoking, dispatch_uid="game.token-revoke-audit")
