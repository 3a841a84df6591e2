"""Framework-free Sweego helpers: the SMS client and the webhook checks."""
