import json
from django.test import Client
from botyard.api import api

def show(r):
    print(r.status_code, r.get("Content-Type"), r.content[:200])

def test_probe(db, user, user_token):
    print(json.dumps(list(api.get_openapi_schema()["paths"].keys())))
    for k, v in api.get_openapi_schema()["paths"].items():
        print(k, list(v.keys()))
    c = Client(enforce_csrf_checks=True)
    show(c.delete("/api/v1/auth/tokens/tok_x"))
    show(c.delete("/api/v1/auth/tokens/tok_x", headers={"Authorization": "Bearer byt_nope"}))
    show(c.post("/api/v1/auth/signup", "{bad", content_type="application/json"))
    show(c.post("/api/v1/auth/signup", "x=1", content_type="text/plain"))
    show(c.post("/api/v1/auth/signup", {"x": 1}))
    show(c.put("/api/v1/auth/signup", "{}", content_type="application/json"))
    show(c.get("/api/v1/auth/signup"))
    show(c.get("/api/v1/auth/tokens?limit=abc", headers={"Authorization": f"Bearer {user_token}"}))
    show(c.get("/api/v1/auth/tokens?limit=0", headers={"Authorization": f"Bearer {user_token}"}))
    show(c.get("/api/v1/auth/tokens?cursor=zzz", headers={"Authorization": f"Bearer {user_token}"}))
    show(c.post("/api/v1/auth/signup", json.dumps({"email": 1, "password": [], "name": None}), content_type="application/json"))
    show(c.post("/api/v1/auth/signup", json.dumps([1,2]), content_type="application/json"))
    show(c.post("/api/v1/auth/signup", json.dumps("x"), content_type="application/json"))
    show(c.post("/api/v1/auth/signup", "", content_type="application/json"))
    show(c.post("/api/v1/auth/signup", b"\xff\xfe", content_type="application/json"))
    show(c.generic("POST", "/api/v1/auth/signup", b"{}", content_type="application/json", CONTENT_LENGTH="99999999999"))
    show(c.generic("POST", "/api/v1/auth/signup", b"{}", content_type="application/json", CONTENT_LENGTH="abc"))
    show(c.get("/api/v1/nope"))
    show(c.get("/api/zzz"))
    show(c.get("/api"))
    show(c.get("/api/v1/"))
    show(c.get("/api/v1/openapi.json"))
    show(c.get("/api/v1/docs"))
    show(c.get("/api/v1/me", headers={"Authorization": "Bearer "}))
    show(c.get("/api/v1/me", headers={"Authorization": "Basic abc"}))
    show(c.options("/api/v1/me"))
    show(c.head("/api/v1/me"))
