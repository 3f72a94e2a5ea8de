"""Alerts: messages about runs sent to channels (mail, ntfy, webhooks, chat), heartbeat pings
and reports delivered by mail, from the app and the headless worker alike.

- :mod:`.spec` and :mod:`.config`: what the config says (``[alerts.NAME]``, a job's keys);
- :mod:`.compose`: the events a run makes, and their text;
- :mod:`.outbox`: the events queued in the run store (``alert_outbox``) by the engine;
- :mod:`.sender`: the thread that delivers them, with retries, quiet hours and summaries;
- :mod:`.channels`: how a message reaches a channel, behind a registry;
- :mod:`.stale`: the dead-man timer of ``stale_after``.

Nothing here imports Qt; the delivery library is imported only to deliver.
"""

