from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jodo_webhooks", "0004_operator_fields"),
    ]

    operations = [
        migrations.AddField(
            model_name="inboundevent",
            name="error_records",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
