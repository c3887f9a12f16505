import httpx


def test_invitation_email_reaches_mail_dir(server):
    server.run_cli("createuser", "--email", "own@example.test", "--password", "harbour-lantern-7093", "--name", "Own")
    c = httpx.Client(base_url=server.base_url)
    r = c.post("/api/v1/auth/tokens", json={"email": "own@example.test", "password": "harbour-lantern-7093", "name": "t"})
    assert r.status_code == 201, r.text
    h = {"Authorization": f"Bearer {r.json()['token']}"}
    r = c.post("/api/v1/workspaces", json={"name": "Acme"}, headers=h)
    assert r.status_code == 201, r.text
    ws = r.json()["id"]
    r = c.post(f"/api/v1/workspaces/{ws}/invitations", json={"email": "new@example.test", "role": "developer"}, headers=h)
    assert r.status_code == 201, r.text
    m = server.wait_for_email("new@example.test")
    print(m["Subject"]); print(m.get_content()[:400])
