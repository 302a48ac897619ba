"""The HTTP API: REST, WebSocket feed, GraphQL and the dashboard (`create_app`)."""
