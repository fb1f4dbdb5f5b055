"""What the screens need beyond the Lean API: runtime wiring, services, messages, charts, store."""
