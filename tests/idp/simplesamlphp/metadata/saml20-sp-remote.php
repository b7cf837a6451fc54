<?php
// The SPs the fixture registered (fixture.json "sps"): entity id => ACS, SLS, certificate.
$fixture = json_decode(file_get_contents(dirname(__DIR__) . '/fixture.json'), true);
foreach ($fixture['sps'] as $entityId => $sp) {
    $metadata[$entityId] = [
        'AssertionConsumerService' => [[
            'Binding' => 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
            'Location' => $sp['acs'],
            'index' => 0,
        ]],
        'SingleLogoutService' => [[
            'Binding' => 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
            'Location' => $sp['sls'],
        ]],
        'certData' => $sp['cert_data'],
        'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
        'simplesaml.nameidattribute' => 'uid',
        'validate.authnrequest' => $sp['validate_authnrequest'],
        'validate.logout' => true,
        'saml20.sign.assertion' => true,
        'assertion.encryption' => false,
    ];
}
