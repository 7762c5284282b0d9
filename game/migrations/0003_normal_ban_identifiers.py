"""Stored ban identifiers in the one form the edge now normalises to (issue 13 #20).

Before, a ban on ``LICENSE:ABC`` or ``license:a\u200bbc`` never matched the ``license:abc``
a game server reports. Each value is rewritten with ``normal_identifier``; a ban left with
two rows of the same value keeps one.
"""

from django.db import migrations


def normalise(apps, schema_editor) -> None:  # noqa: ANN001
    from game.schemas import normal_identifiers

    BanIdentifier = apps.get_model("game", "BanIdentifier")
    stored: dict[int, list[str]] = {}
    for ban_id, value in BanIdentifier.objects.values_list("ban_id", "value"):
        stored.setdefault(ban_id, []).append(value)
    for ban_id, values in stored.items():
        normal = normal_identifiers(values)
        if normal != sorted(values):
            BanIdentifier.objects.filter(ban_id=ban_id).delete()
            BanIdentifier.objects.bulk_create([BanIdentifier(ban_id=ban_id, value=v) for v in normal])


class Migration(migrations.Migration):
    dependencies = [("game", "0002_secissuer_audit_issuer")]
    operations = [migrations.RunPython(normalise, migrations.RunPython.noop)]
