

def test_the_token_version_route_documents_its_answer(client):
    """The slow fuzz suite found its 200 validated against the error schema: it had none of its own."""
    spec = client.get("/openapi.json").json
    ok = spec["paths"]["/v1/subscriptions/internal/user/{user_id}/token-version"]["get"]["responses"]["200"]
    schema = ok["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[1]
    assert set(spec["components"]["schemas"][name]["properties"]) == {"user_id", "token_version", "is_active"}
