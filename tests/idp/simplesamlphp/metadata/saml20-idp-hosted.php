<?php
// The test IdP: signs assertions (and responses) with the key the fixture generated.
$fixture = json_decode(file_get_contents(dirname(__DIR__) . '/fixture.json'), true);
$metadata[$fixture['idp_entity_id']] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp.key',
    'certificate' => 'idp.crt',
    'auth' => 'example-userpass',
    'saml20.sign.assertion' => true,
    'saml20.sign.response' => $fixture['sign_response'],
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    'userid.attribute' => 'uid',
    'sign.logout' => true,
];
