"""Outgoing email: the SMTP client, the messages Corral sends, and sending after commit."""
