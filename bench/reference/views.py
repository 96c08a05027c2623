"""The whole reference receiver: check the HMAC, parse the JSON, one INSERT ... ON CONFLICT.

Its table is created by bench/run.py:
    CREATE TABLE ref_event (event_id text PRIMARY KEY, body jsonb NOT NULL)
It answers like the project does, {"status": "accepted"|"duplicate", "event_id": ...}, so that
the wrk script checks both the same way.
"""

import hashlib
import hmac
import json

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

SECRETS = [secret.encode() for secret in settings.JODO_WEBHOOK_SECRETS if secret]
INSERT = "INSERT INTO ref_event (event_id, body) VALUES (%s, %s::jsonb) ON CONFLICT DO NOTHING"


def receive(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    body = request.body
    given = request.META.get("HTTP_X_JODO_SIGNATURE", "").strip().encode("latin-1", "replace")
    if not any(
        hmac.compare_digest(hmac.new(secret, body, hashlib.sha256).hexdigest().encode(), given)
        for secret in SECRETS
    ):
        return HttpResponse(status=401)
    try:
        event_id = json.loads(body)["event_id"]
        if not isinstance(event_id, str):
            raise TypeError
        text = body.decode()
    except (ValueError, KeyError, TypeError):
        return HttpResponse(status=400)
    with connection.cursor() as cursor:
        cursor.execute(INSERT, [event_id, text])
        status = "accepted" if cursor.rowcount == 1 else "duplicate"
    return HttpResponse(
        json.dumps({"status": status, "event_id": event_id}), content_type="application/json"
    )
