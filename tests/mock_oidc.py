"""A small OpenID Connect provider for the sign-in browser test: discovery, /auth, /token and
/jwks on loopback, signing ID tokens with a fresh RSA key. Whoever the test names next signs in."""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode

from authlib.jose import JsonWebKey, jwt
from werkzeug import Request, Response
from werkzeug.serving import make_server

CLIENT_ID = "studio-test"
CLIENT_SECRET = "not-a-real-secret"


class MockOIDC:
    def __init__(self) -> None:
        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "test-key"})
        self.next_user: dict[str, Any] = {"email": "ann@example.com", "name": "Ann"}
        self._codes: dict[str, dict[str, Any]] = {}
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> MockOIDC:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()

    def _json(self, payload: dict[str, Any]) -> Response:
        return Response(json.dumps(payload), content_type="application/json")

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/.well-known/openid-configuration":
            response = self._json(
                {
                    "issuer": self.url,
                    "authorization_endpoint": f"{self.url}/auth",
                    "token_endpoint": f"{self.url}/token",
                    "jwks_uri": f"{self.url}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "scopes_supported": ["openid", "email", "profile"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                }
            )
        elif request.path == "/jwks":
            response = self._json({"keys": [self.key.as_dict(is_private=False)]})
        elif request.path == "/auth":
            code = secrets.token_urlsafe(16)
            self._codes[code] = {"nonce": request.args.get("nonce"), "user": dict(self.next_user)}
            query = urlencode({"code": code, "state": request.args.get("state", "")})
            response = Response(status=302, headers={"Location": f"{request.args['redirect_uri']}?{query}"})
        elif request.path == "/token":
            grant = self._codes.pop(request.form.get("code", ""), None)
            if grant is None:
                response = Response(json.dumps({"error": "invalid_grant"}), status=400, content_type="application/json")
            else:
                now = int(time.time())
                claims = {
                    "iss": self.url,
                    "aud": CLIENT_ID,
                    "sub": grant["user"]["email"],
                    "iat": now,
                    "exp": now + 600,
                    "nonce": grant["nonce"],
                    "email_verified": True,
                    **grant["user"],
                }
                id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key).decode()
                response = self._json(
                    {"access_token": "token", "token_type": "Bearer", "expires_in": 600, "id_token": id_token}
                )
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)
