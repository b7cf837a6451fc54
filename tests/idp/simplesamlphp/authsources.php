<?php
// exampleauth:UserPass with the accounts the tests choose (fixture.json "users").
$fixture = json_decode(file_get_contents(__DIR__ . '/fixture.json'), true);
$users = [];
foreach ($fixture['users'] as $username => $user) {
    $users[$username . ':' . $user['password']] = $user['attributes'];
}
$config = [
    'admin' => ['core:AdminPassword'],
    'example-userpass' => array_merge(['exampleauth:UserPass'], $users),
];
