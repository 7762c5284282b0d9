from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0006_secjobs_issuedtoken_session_hash'),
    ]

    operations = [
        migrations.CreateModel(
            name='AccessChange',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('user_ids', models.JSONField(default=list)),
                ('usernames', models.JSONField(default=list)),
                ('jtis', models.JSONField(default=list)),
            ],
            options={'ordering': ['id']},
        ),
    ]
