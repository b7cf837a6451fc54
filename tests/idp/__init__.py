"""Real identity providers for the tests (OpenID Connect, SAML, BankID test peer), on loopback."""
