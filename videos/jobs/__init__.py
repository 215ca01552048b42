"""Job kinds: importing this package registers every kind with the task registry."""
