"""`flask sso check`: each provider's settings, mapping rules and, against the real test OpenID
Provider, its metadata."""

from __future__ import annotations

from typing import Any

from tests.conftest import World


def _run(make_app: Any, providers: dict[str, Any], *args: str) -> Any:
    app = make_app(SSO_PROVIDERS=providers)
    with app.app_context():
        return app.test_cli_runner().invoke(args=["sso", "check", *args])


def test_nothing_configured_is_said_and_not_an_error(make_app: Any, world: World) -> None:
    result = _run(make_app, {})
    assert result.exit_code == 0
    assert "Ingen inloggningstjänst är inställd" in result.output


def test_problems_are_printed_per_provider_and_fail_the_command(
    make_app: Any, world: World
) -> None:
    providers = {
        "city": {
            "type": "oidc",
            "label": "Stockholms stad",
            "issuer": "http://idp.example.se",
            "client_id": "formsvc",
            "mappings": [
                {"claim": "groups", "value": "chefer", "role": "manager", "district": "Fasta"}
            ],
        },
        "siths": {"type": "saml", "label": "SITHS-kort", "idp_metadata_file": "/nonexistent.xml"},
    }
    result = _run(make_app, providers)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "city (oidc): Stockholms stad"
    assert "FEL: issuer måste vara en https-adress: http://idp.example.se" in result.output
    assert "FEL: Regel 1: Okänd stadsdel: Fasta" in result.output
    assert "siths (saml): SITHS-kort" in lines
    assert "FEL: sp_key_file saknas." in result.output


def test_a_reachable_provider_passes_and_an_unreachable_one_is_named(
    make_app: Any, world: World, oidc_idp: Any
) -> None:
    client = oidc_idp.add_client(["http://localhost/sso/city/callback"])
    good = oidc_idp.provider_conf(
        client, mappings=[{"claim": "groups", "value": "chefer", "role": "analyst"}]
    )
    result = _run(make_app, {"city": good})
    assert result.exit_code == 0, result.output
    assert "Metadata: kan läsas." in result.output and "  OK" in result.output

    gone = {**good, "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
    gone.pop("ca_bundle")
    result = _run(make_app, {"city": gone})
    assert result.exit_code == 1
    assert "FEL: Metadata:" in result.output
    assert "Metadata" not in _run(make_app, {"city": gone}, "--offline").output
