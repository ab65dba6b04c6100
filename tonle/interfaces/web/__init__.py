"""The HTTPS front door of `tonle serve`: the NOC web console and the REST API (/api/v1, OpenAPI at
/api/v1/openapi.json). Another door onto the same actions as the Unix socket (tonle.interfaces.actions):
the same roles, guard, windows, two-person rule and audit log; only the way the caller is identified differs
(a password and a session cookie, or a bearer token, instead of SO_PEERCRED)."""
