"""An example role: the "Moderator" group holds players.view and players.kick."""

from django.db import migrations

GROUP = "Moderator"
GRANTS = ["players.view", "players.kick"]


def create_moderator(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Django creates permissions after the last migration; this one needs them now.
    config = apps.get_app_config("accounts")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(schema_editor.connection.alias).get_or_create(name=GROUP)
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="accounts", codename__in=GRANTS)
    )


def remove_moderator(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_moderator, remove_moderator)]
