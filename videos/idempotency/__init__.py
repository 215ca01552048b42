"""Idempotency-Key for the POSTs that start work: one table, one decorator, the database decides."""
