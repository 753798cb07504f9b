"""One router per resource; routers carry their prefix, so route templates are whole paths."""

API_PREFIX = "/api/v1"
