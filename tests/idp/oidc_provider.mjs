// A real OpenID Provider for formsvc's tests: panva's oidc-provider (certified OpenID Provider)
// behind a tiny login page and a test-only admin API. Started by tests/idp/oidc.py; never used in
// production.
//
//   node tests/idp/oidc_provider.mjs <settings.json>
//
// settings.json: {"cert": PEM path, "key": PEM path (TLS, issued by the fixture's test CA),
//                 "admin_token": bearer token for /_test/*, "cookie_key": secret for signed cookies}
// The server listens on 127.0.0.1 on a free port, then prints "READY <port>" on stdout; the issuer is
// https://127.0.0.1:<port>.
//
// Test-only admin API (Authorization: Bearer <admin_token>, JSON bodies):
//   PUT /_test/clients/<client_id>   client metadata (redirect_uris, client_secret, ...); replaces
//   PUT /_test/accounts/<username>   {"sub": ..., "acr": ..., "amr": [...], "claims": {...}}; replaces

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { parse as parseQuery } from 'node:querystring';

import Provider from 'oidc-provider';

const settings = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const clients = new Map(); // client_id -> metadata
const accounts = new Map(); // username -> {sub, acr, amr, claims}
const accountsBySub = new Map(); // sub -> username

const PERSONAL_NUMBER = 'https://id.oidc.se/claim/personalIdentityNumber';

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

// Storage for the provider's models; clients come from the admin API.
const store = new Map();
class Adapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expires = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    store.set(this.key(id), { payload, expires });
    if (this.model === 'Session') store.set(`sessionUid:${payload.uid}`, { payload: id, expires });
    if (payload.grantId) {
      const members = store.get(`grant:${payload.grantId}`)?.payload ?? [];
      members.push(this.key(id));
      store.set(`grant:${payload.grantId}`, { payload: members, expires: Infinity });
    }
  }

  async find(id) {
    if (this.model === 'Client') {
      const metadata = clients.get(id);
      return metadata && { ...metadata };
    }
    const entry = store.get(this.key(id));
    if (!entry || entry.expires < Date.now()) return undefined;
    return entry.payload;
  }

  async findByUid(uid) {
    const entry = store.get(`sessionUid:${uid}`);
    return entry ? this.find(entry.payload) : undefined;
  }

  async findByUserCode() {
    return undefined;
  }

  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of store.get(`grant:${grantId}`)?.payload ?? []) store.delete(key);
    store.delete(`grant:${grantId}`);
  }
}

const server = https.createServer({
  cert: readFileSync(settings.cert),
  key: readFileSync(settings.key),
});
await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
const { port } = server.address();
const issuer = `https://127.0.0.1:${port}`;

const jwks = { keys: [signingKey()] };

const provider = new Provider(issuer, {
  adapter: Adapter,
  jwks,
  cookies: { keys: [settings.cookie_key] },
  // like Entra ID, groups (and the account's acr) come with the ID token whatever the scope; the
  // personal identity number comes with "profile" or the Swedish OIDC profile's own scope
  claims: {
    openid: ['sub', 'groups', 'acr'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', PERSONAL_NUMBER],
    email: ['email', 'email_verified'],
    // as the Swedish eID Framework's OIDC profile (Attribute Specification) defines this scope
    'https://id.oidc.se/scope/naturalPersonNumber': [
      PERSONAL_NUMBER, 'name', 'given_name', 'family_name', 'birthdate',
    ],
  },
  scopes: ['openid', 'profile', 'email', 'offline_access', 'https://id.oidc.se/scope/naturalPersonNumber'],
  // the relying party reads the claims from the ID token (no userinfo round trip)
  conformIdTokenClaims: false,
  acrValues: [
    'http://id.elegnamnden.se/loa/1.0/loa2',
    'http://id.elegnamnden.se/loa/1.0/loa3',
    'http://id.elegnamnden.se/loa/1.0/loa4',
    'urn:formsvc:test:password',
  ],
  enabledJWA: {
    idTokenSigningAlgValues: ['RS256'],
  },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      // no confirmation click: the form posts itself (a button too, for a browser without script)
      logoutSource: async (ctx, form) => {
        ctx.body = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sign out</title></head>
<body><h1>Signing out of the test IdP</h1>${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Sign out</button>
<script>var f=document.getElementById('op.logoutForm');var i=document.createElement('input');
i.type='hidden';i.name='logout';i.value='yes';f.appendChild(i);f.submit();</script></body></html>`;
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head>'
          + '<body><h1>Signed out of the test IdP</h1></body></html>';
      },
    },
  },
  // consent is automatic for the test clients: the grant holds whatever was asked for
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
    if (!grant) {
      grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
    }
    grant.addOIDCScope(ctx.oidc.params.scope ?? 'openid');
    await grant.save();
    return grant;
  },
  findAccount: async (ctx, sub) => {
    const username = accountsBySub.get(sub);
    if (username === undefined) return undefined;
    return {
      accountId: sub,
      claims: async () => ({ sub, ...accounts.get(username).claims }),
    };
  },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  ttl: {
    Session: 3600,
    Interaction: 600,
    Grant: 3600,
    AuthorizationCode: 60,
    AccessToken: 600,
    IdToken: 600,
    RefreshToken: 3600,
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Error</title></head><body>
<h1>Test IdP error</h1><pre id="error">${escapeHtml(JSON.stringify(out))}</pre></body></html>`;
  },
});

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'Content-Type': `${type}; charset=utf-8`, 'Cache-Control': 'no-store' });
  res.end(type === 'application/json' ? JSON.stringify(body) : body);
}

function loginPage(uid, params, error) {
  const message = error ? `<p id="error" role="alert">${escapeHtml(error)}</p>` : '';
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Test IdP sign-in</title></head>
<body><h1>Sign in to the test IdP</h1>
<p>Client: <span id="client">${escapeHtml(params.client_id)}</span></p>${message}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
<label for="username">Username</label> <input id="username" name="username" required autofocus>
<label for="password">Password</label> <input id="password" name="password" type="password">
<button type="submit" id="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort">
<button type="submit" id="abort">Cancel</button></form></body></html>`;
}

async function admin(req, res, path) {
  if (req.headers.authorization !== `Bearer ${settings.admin_token}`) {
    send(res, 401, { error: 'unauthorized' });
    return;
  }
  const body = req.method === 'GET' ? '' : await readBody(req);
  const data = body ? JSON.parse(body) : {};
  const [, kind, id] = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (req.method === 'PUT' && kind === 'clients' && id) {
    clients.set(id, { ...data, client_id: id });
    send(res, 200, clients.get(id));
  } else if (req.method === 'PUT' && kind === 'accounts' && id) {
    const previous = accounts.get(id);
    if (previous) accountsBySub.delete(previous.sub);
    const account = {
      sub: data.sub ?? previous?.sub ?? randomUUID(),
      acr: data.acr ?? 'urn:formsvc:test:password',
      amr: data.amr ?? ['pwd'],
      claims: data.claims ?? {},
    };
    accounts.set(id, account);
    accountsBySub.set(account.sub, id);
    send(res, 200, account);
  } else {
    send(res, 404, { error: 'not found' });
  }
}

async function interaction(req, res, path) {
  const [, uid, action] = path.split('/').filter(Boolean);
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    send(res, 400, `<!DOCTYPE html><p id="error">${escapeHtml(err.message)}</p>`, 'text/html');
    return;
  }
  if (details.uid !== uid) {
    send(res, 400, '<!DOCTYPE html><p id="error">interaction mismatch</p>', 'text/html');
    return;
  }
  const { prompt, params } = details;
  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') {
      send(res, 200, loginPage(uid, params), 'text/html');
      return;
    }
    // consent (e.g. prompt=consent asked for): granted automatically
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ clientId: params.client_id, accountId: details.session.accountId });
    grant.addOIDCScope(params.scope ?? 'openid');
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const form = parseQuery(await readBody(req));
    const username = String(form.username ?? '').trim();
    const account = accounts.get(username);
    if (!account) {
      send(res, 200, loginPage(uid, params, `Unknown user: ${username}`), 'text/html');
      return;
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: account.sub, acr: account.acr, amr: account.amr, remember: true } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  if (req.method === 'POST' && action === 'abort') {
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'The user cancelled the sign-in' },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  send(res, 405, { error: 'method not allowed' });
}

const callback = provider.callback();
server.on('request', (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  let handler;
  if (path.startsWith('/_test/')) handler = admin(req, res, path);
  else if (path.startsWith('/interaction/')) handler = interaction(req, res, path);
  else {
    callback(req, res);
    return;
  }
  handler.catch((err) => {
    process.stderr.write(`${err.stack}\n`);
    if (!res.headersSent) send(res, 500, { error: 'server_error', message: err.message });
  });
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.stdout.write(`READY ${port}\n`);
