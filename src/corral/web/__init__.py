"""The operator dashboard: server-rendered pages on the API's app and cookie sessions."""
