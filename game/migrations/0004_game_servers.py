"""Several game servers (issue 14): GameServer gets a slug, a display name, a default
flag, a bridge account and a run id; online players are keyed by (server, source); a ban
may be scoped to one server. The one existing server becomes ``main``, the default; its
former ``name`` (the serverName its bridge reported) moves to ``reported_name``. Online
players are a mirror of the game server's state that every bridge snapshot rebuilds, so
the table is recreated empty."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def name_the_existing_server(apps, schema_editor):
    GameServer = apps.get_model("game", "GameServer")
    for index, server in enumerate(GameServer.objects.order_by("id")):
        server.slug = "main" if index == 0 else f"server-{server.pk}"
        server.reported_name = server.name
        server.name = ""
        server.is_default = index == 0
        server.bridge_client_id = ""
        server.save()


class Migration(migrations.Migration):

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("game", "0003_normal_ban_identifiers"),
    ]

    operations = [
        migrations.DeleteModel(name="Player"),
        migrations.AddField(
            model_name="gameserver", name="slug",
            field=models.SlugField(max_length=50, null=True, db_index=False),
        ),
        migrations.AddField(
            model_name="gameserver", name="reported_name",
            field=models.CharField(blank=True, max_length=200, verbose_name="serverName"),
        ),
        migrations.AddField(
            model_name="gameserver", name="is_default",
            field=models.BooleanField(default=False, help_text="requests without data.server go to the default server", verbose_name="default"),
        ),
        migrations.AddField(
            model_name="gameserver", name="account",
            field=models.OneToOneField(blank=True, help_text="the bridge account: its tokens speak for this server", null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="game_server", to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name="gameserver", name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name="gameserver", name="run_id",
            field=models.CharField(blank=True, help_text="new with every bridge session (getStats serverRunId)", max_length=32, verbose_name="run id"),
        ),
        migrations.RunPython(name_the_existing_server, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="gameserver", name="slug",
            field=models.SlugField(help_text="its name in the protocol (data.server)", unique=True),
        ),
        migrations.AlterField(
            model_name="gameserver", name="name",
            field=models.CharField(blank=True, max_length=200, verbose_name="display name"),
        ),
        migrations.AlterModelOptions(
            name="gameserver", options={"ordering": ["created_at", "id"], "verbose_name": "game server"},
        ),
        migrations.AddConstraint(
            model_name="gameserver",
            constraint=models.UniqueConstraint(condition=models.Q(is_default=True), fields=("is_default",), name="one_default_game_server"),
        ),
        migrations.AddField(
            model_name="ban", name="server",
            field=models.ForeignKey(blank=True, help_text="empty: the ban holds on every game server", null=True, on_delete=django.db.models.deletion.CASCADE, related_name="bans", to="game.gameserver"),
        ),
        migrations.CreateModel(
            name="Player",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("source", models.PositiveIntegerField()),
                ("name", models.CharField(max_length=255)),
                ("license", models.CharField(blank=True, db_index=True, max_length=128)),
                ("identifiers", models.JSONField(blank=True, default=dict)),
                ("joined_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("character", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="players", to="game.character")),
                ("server", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="players", to="game.gameserver")),
            ],
            options={
                "ordering": ["server", "source"],
                "constraints": [models.UniqueConstraint(fields=("server", "source"), name="player_server_source")],
            },
        ),
    ]
