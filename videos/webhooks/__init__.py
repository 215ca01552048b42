"""Signed webhooks: endpoints, an outbox of deliveries written with task transitions, a sender."""
