"""What apps.alerts tells other apps, without knowing them.

`outbox_written` is sent after a transaction that wrote transitions to notify of (the outbox,
apps.alerts.models.Transition) has committed: an evaluation's batch, or a member acknowledging or
resolving an incident. No arguments; once per transaction. apps.notifications listens and
dispatches at once, so a P1 alert (no group wait) goes out within a second of its evaluation
instead of at the next dispatch tick; the tick stays as the backstop.
"""

from django.dispatch import Signal

outbox_written = Signal()
