// Conformance test: the real jsforce client, unchanged, against salesforce-sim.
//
// Environment (set by tests/suites/40-salesforce-sim.sh):
//   SIM_URL       base URL printed by the sim
//   SIM_USER      username the sim was started with (--username)
//   SIM_PASSWORD  password the sim was started with (--password)
//   SIM_JWT_KEY   PEM private key whose public half the sim verifies (--jwt-public-key)
//   SIM_JWT_OTHER_KEY  a PEM private key the sim does not know
// The sim must have been started with schema.json from this directory.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const jsforce = require('jsforce');

const SIM = process.env.SIM_URL;
const USER = process.env.SIM_USER;
const PASSWORD = process.env.SIM_PASSWORD;
const VERSION = '59.0';
if (!SIM || !USER || !PASSWORD) throw new Error('SIM_URL, SIM_USER and SIM_PASSWORD must be set');

const OAUTH = { loginUrl: SIM, clientId: '3MVG9.conformance', clientSecret: 'conformance-secret' };

async function admin(path, body) {
  const res = await fetch(SIM + '/__admin/' + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`admin ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function login() {
  const conn = new jsforce.Connection({ oauth2: OAUTH, version: VERSION });
  await conn.login(USER, PASSWORD);
  return conn;
}

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function jwt(keyPem, claims) {
  const header = b64url(JSON.stringify({ alg: 'RS256' }));
  const body = b64url(JSON.stringify(claims));
  const sig = crypto.sign('RSA-SHA256', Buffer.from(header + '.' + body), keyPem);
  return header + '.' + body + '.' + b64url(sig);
}

// Case-safe suffix of a 15-char Salesforce Id.
function idSuffix(id15) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
  let out = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    let n = 0;
    for (let i = 0; i < 5; i++) {
      const c = id15[chunk * 5 + i];
      if (c >= 'A' && c <= 'Z') n |= 1 << i;
    }
    out += alphabet[n];
  }
  return out;
}

function assertId(id, prefix) {
  assert.equal(typeof id, 'string');
  assert.equal(id.length, 18, `18-char id: ${id}`);
  assert.equal(id.slice(0, 3), prefix);
  assert.equal(id.slice(15), idSuffix(id.slice(0, 15)), `checksum of ${id}`);
}

let conn;

test.before(async () => {
  await admin('reset', {});
  conn = await login();
});

test('versions resource lists the API versions without auth', async () => {
  const res = await fetch(SIM + '/services/data/');
  assert.equal(res.status, 200);
  const versions = await res.json();
  const v59 = versions.find((v) => v.version === '59.0');
  assert.deepEqual(v59, { label: "Winter '24", url: '/services/data/v59.0', version: '59.0' });
});

test('OAuth username-password login establishes a session', async () => {
  const c = new jsforce.Connection({ oauth2: OAUTH, version: VERSION });
  const info = await c.login(USER, PASSWORD);
  assert.equal(c.instanceUrl, SIM);
  assert.match(c.accessToken, /^00D\w{12}!/);
  assertId(info.organizationId, '00D');
  assertId(info.id, '005');
});

test('OAuth wrong password is invalid_grant', async () => {
  const c = new jsforce.Connection({ oauth2: OAUTH, version: VERSION });
  await assert.rejects(c.login(USER, PASSWORD + 'x'), (err) => {
    assert.equal(err.name, 'invalid_grant');
    assert.equal(err.message, 'authentication failure');
    return true;
  });
});

test('OAuth client credentials and refresh token flows; signature verifies', async () => {
  const cc = new jsforce.Connection({ oauth2: OAUTH, version: VERSION });
  await cc.authorize({ grant_type: 'client_credentials' });
  assert.equal(cc.instanceUrl, SIM);
  assert.equal((await cc.query('SELECT COUNT() FROM Lead')).done, true);

  // jsforce refreshes a stale access token with its refresh token on 401.
  const rc = new jsforce.Connection({ oauth2: OAUTH, instanceUrl: SIM, accessToken: 'stale', refreshToken: 'rt-conformance', version: VERSION });
  let refreshed = null;
  rc.on('refresh', (token) => { refreshed = token; });
  assert.equal((await rc.query('SELECT COUNT() FROM Lead')).done, true);
  assert.ok(refreshed && refreshed !== 'stale', 'refreshed through the token endpoint');
  assert.equal(rc.accessToken, refreshed);

  // issued_at is milliseconds as a string; signature = base64(HMAC-SHA256(secret, id + issued_at)).
  const res = await fetch(SIM + '/services/oauth2/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', client_id: OAUTH.clientId, client_secret: OAUTH.clientSecret, username: USER, password: PASSWORD }),
  });
  const tok = await res.json();
  assert.equal(tok.token_type, 'Bearer');
  assert.match(tok.issued_at, /^\d{13}$/);
  const sig = crypto.createHmac('sha256', OAUTH.clientSecret).update(tok.id + tok.issued_at).digest('base64');
  assert.equal(tok.signature, sig);
  assert.equal(tok.refresh_token, undefined);
});

test('SOAP login (jsforce default without a client id) works', async () => {
  const c = new jsforce.Connection({ loginUrl: SIM, version: VERSION });
  const info = await c.login(USER, PASSWORD);
  assertId(info.id, '005');
  const res = await c.query('SELECT COUNT() FROM Account');
  assert.equal(res.done, true);
});

test('JWT bearer flow: valid, expired, wrong key, wrong audience', async () => {
  const key = fs.readFileSync(process.env.SIM_JWT_KEY, 'utf8');
  const other = fs.readFileSync(process.env.SIM_JWT_OTHER_KEY, 'utf8');
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: OAUTH.clientId, sub: USER, aud: 'https://login.salesforce.com', exp: now + 180 };
  const grant = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

  const c = new jsforce.Connection({ oauth2: { loginUrl: SIM, clientId: OAUTH.clientId }, version: VERSION });
  const res = await c.authorize({ grant_type: grant, assertion: jwt(key, claims) });
  assert.equal(c.instanceUrl, SIM);
  assertId(res.organizationId, '00D');
  const desc = await c.sobject('Account').describe();
  assert.equal(desc.name, 'Account');

  const cases = [
    [jwt(key, { ...claims, exp: now - 10 }), 'expired authorization code'],
    [jwt(other, claims), 'invalid assertion'],
    [jwt(key, { ...claims, aud: 'https://example.com' }), 'audience is invalid'],
  ];
  for (const [assertion, description] of cases) {
    const bad = new jsforce.Connection({ oauth2: { loginUrl: SIM, clientId: OAUTH.clientId }, version: VERSION });
    await assert.rejects(bad.authorize({ grant_type: grant, assertion }), (err) => {
      assert.equal(err.name, 'invalid_grant');
      assert.equal(err.message, description);
      return true;
    });
  }
});

test('describe: required fields, external ids, custom objects', async () => {
  const d = await conn.sobject('Contact').describe();
  assert.equal(d.keyPrefix, '003');
  const byName = Object.fromEntries(d.fields.map((f) => [f.name, f]));
  const required = d.fields.filter((f) => f.createable && !f.nillable && !f.defaultedOnCreate).map((f) => f.name);
  assert.deepEqual(required, ['LastName']);
  assert.equal(byName.External_Id__c.externalId, true);
  assert.equal(byName.External_Id__c.unique, true);
  assert.equal(byName.External_Id__c.length, 40);
  assert.equal(byName.Email.type, 'email');
  assert.equal(byName.Id.type, 'id');
  assert.equal(byName.HasOptedOutOfEmail.nillable, false);
  assert.equal(byName.HasOptedOutOfEmail.defaultedOnCreate, true);
  assert.deepEqual(byName.AccountId.referenceTo, ['Account']);

  const lead = await conn.sobject('Lead').describe();
  const leadReq = lead.fields.filter((f) => f.createable && !f.nillable && !f.defaultedOnCreate).map((f) => f.name).sort();
  assert.deepEqual(leadReq, ['Company', 'LastName']);

  const g = await conn.describeGlobal();
  const custom = g.sobjects.find((s) => s.name === 'Warehouse__c');
  assert.ok(custom, 'custom object from --schema is listed');
  assert.equal(custom.custom, true);
  assert.match(custom.keyPrefix, /^a0[0-9A-Za-z]$/);
});

test('collections create: positional results, per-record errors', async () => {
  const res = await conn.sobject('Contact').create([
    { LastName: 'Ng', Email: 'ng@example.com' },
    { FirstName: 'Ana' },
    { LastName: 'Bad', Email: 'not-an-email' },
    { LastName: 'x'.repeat(81) },
  ]);
  assert.equal(res.length, 4);
  assert.equal(res[0].success, true);
  assertId(res[0].id, '003');
  assert.equal(res[1].success, false);
  assert.equal(res[1].id, undefined);
  assert.equal(res[1].errors[0].statusCode, 'REQUIRED_FIELD_MISSING');
  assert.deepEqual(res[1].errors[0].fields, ['LastName']);
  assert.equal(res[2].errors[0].statusCode, 'INVALID_EMAIL_ADDRESS');
  assert.equal(res[3].errors[0].statusCode, 'STRING_TOO_LONG');

  const rec = await conn.sobject('Contact').retrieve(res[0].id);
  assert.equal(rec.Name, 'Ng');
  assert.equal(rec.Email, 'ng@example.com');
  assert.match(rec.CreatedDate, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
  assert.equal(rec.HasOptedOutOfEmail, false);
});

test('collections allOrNone=true rolls everything back', async () => {
  const before = await conn.query("SELECT COUNT() FROM Account WHERE Name LIKE 'AON %'");
  const res = await conn.sobject('Account').create(
    [{ Name: 'AON 1' }, { Name: 'AON 2', NumberOfEmployees: 'many' }],
    { allOrNone: true },
  );
  assert.equal(res[0].success, false);
  assert.equal(res[0].errors[0].statusCode, 'ALL_OR_NONE_OPERATION_ROLLED_BACK');
  assert.equal(res[1].errors[0].statusCode, 'INVALID_TYPE_ON_FIELD_IN_RECORD');
  const after = await conn.query("SELECT COUNT() FROM Account WHERE Name LIKE 'AON %'");
  assert.equal(after.totalSize, before.totalSize);
});

test('collections: unknown field fails the whole request; over 200 records is refused', async () => {
  await assert.rejects(conn.sobject('Contact').create([{ LastName: 'A', Foo__c: 1 }]), (err) => {
    assert.equal(err.errorCode, 'INVALID_FIELD');
    return true;
  });
  const many = Array.from({ length: 201 }, (_, i) => ({ LastName: 'Many ' + i }));
  await assert.rejects(conn.sobject('Contact').create(many), (err) => {
    assert.equal(err.errorCode, 'EXCEEDED_ID_LIMIT');
    return true;
  });
  const ok = await conn.sobject('Contact').create(many, { allowRecursive: true });
  assert.equal(ok.length, 201);
  assert.ok(ok.every((r) => r.success));
});

test('collections upsert by external id: created flags and duplicates', async () => {
  const first = await conn.sobject('Contact').upsert(
    [
      { External_Id__c: 'W-1', LastName: 'One' },
      { External_Id__c: 'W-2', LastName: 'Two', Email: 'two@example.com' },
    ],
    'External_Id__c',
  );
  assert.deepEqual(first.map((r) => [r.success, r.created]), [[true, true], [true, true]]);
  const second = await conn.sobject('Contact').upsert(
    [
      { External_Id__c: 'W-1', LastName: 'One Updated' },
      { External_Id__c: 'W-3', LastName: 'Three' },
      { External_Id__c: 'W-4', LastName: 'Four' },
      { External_Id__c: 'W-4', LastName: 'Four again' },
    ],
    'External_Id__c',
  );
  assert.equal(second[0].created, false);
  assert.equal(second[0].id, first[0].id);
  assert.equal(second[1].created, true);
  assert.equal(second[2].errors[0].statusCode, 'DUPLICATE_EXTERNAL_ID');
  assert.equal(second[3].errors[0].statusCode, 'DUPLICATE_EXTERNAL_ID');
  const rec = await conn.sobject('Contact').retrieve(first[0].id);
  assert.equal(rec.LastName, 'One Updated');
  // Case-insensitive match on a case-insensitive external id.
  const again = await conn.sobject('Contact').upsert([{ External_Id__c: 'w-2', Title: 'CTO' }], 'External_Id__c');
  assert.equal(again[0].created, false);
  assert.equal(again[0].id, first[1].id);
});

test('single-record upsert: 201 created, 200 updated, 300 multiple matches', async () => {
  const created = await conn.sobject('Contact').upsert({ External_Id__c: 'S-1', LastName: 'Single' }, 'External_Id__c');
  assert.equal(created.success, true);
  assert.equal(created.created, true);
  assertId(created.id, '003');
  const updated = await conn.sobject('Contact').upsert({ External_Id__c: 'S-1', Title: 'VP' }, 'External_Id__c');
  assert.equal(updated.created, false);
  assert.equal(updated.id, created.id);

  await conn.sobject('Contact').create([
    { LastName: 'Dup A', Legacy_Id__c: 'L-9' },
    { LastName: 'Dup B', Legacy_Id__c: 'L-9' },
  ]);
  await assert.rejects(conn.sobject('Contact').upsert({ Legacy_Id__c: 'L-9', Title: 'x' }, 'Legacy_Id__c'), (err) => {
    assert.equal(err.errorCode, 'MULTIPLE_CHOICES');
    assert.equal(err.data.length, 2);
    return true;
  });
  await assert.rejects(conn.sobject('Contact').upsert({ LastName: 'x', Nope__c: 'v' }, 'Nope__c'), (err) => {
    assert.equal(err.errorCode, 'NOT_FOUND');
    return true;
  });
});

test('update and delete, single and collections; 15-char ids accepted', async () => {
  const [a, b] = await conn.sobject('Lead').create([
    { LastName: 'Lee', Company: 'Acme' },
    { LastName: 'Kim', Company: 'Initech' },
  ]);
  const lead = await conn.sobject('Lead').retrieve(a.id);
  assert.equal(lead.Status, 'Open - Not Contacted');
  assertId(a.id, '00Q');
  const upd = await conn.sobject('Lead').update([
    { Id: a.id.slice(0, 15), Title: 'CEO' },
    { Id: b.id, Email: 'bad' },
    { Id: '00Q000000000000AAA', Title: 'x' },
  ]);
  assert.equal(upd[0].success, true);
  assert.equal(upd[0].id, a.id);
  assert.equal(upd[1].errors[0].statusCode, 'INVALID_EMAIL_ADDRESS');
  assert.equal(upd[2].success, false);
  assert.equal((await conn.sobject('Lead').retrieve(a.id)).Title, 'CEO');

  const del = await conn.sobject('Lead').destroy([a.id, 'garbage']);
  assert.equal(del[0].success, true);
  assert.equal(del[1].errors[0].statusCode, 'MALFORMED_ID');
  const again = await conn.sobject('Lead').destroy([a.id]);
  assert.equal(again[0].errors[0].statusCode, 'ENTITY_IS_DELETED');
  await conn.sobject('Lead').destroy(b.id);
  await assert.rejects(conn.sobject('Lead').retrieve(b.id));
});

test('SOQL subset: WHERE, AND/OR, IN, LIKE, ORDER BY, LIMIT, relationships', async () => {
  const [acct] = await conn.sobject('Account').create([{ Name: 'Query Corp', Industry: 'Energy', NumberOfEmployees: 50 }]);
  await conn.sobject('Contact').create([
    { LastName: 'Q-Alpha', AccountId: acct.id, Email: 'a@q.example' },
    { LastName: 'Q-Beta', AccountId: acct.id },
    { LastName: 'Q-Gamma', Birthdate: '1990-05-01' },
  ]);
  const r1 = await conn.query("SELECT Id, LastName, Account.Name FROM Contact WHERE LastName LIKE 'Q-%' ORDER BY LastName DESC LIMIT 2");
  assert.equal(r1.totalSize, 2);
  assert.deepEqual(r1.records.map((r) => r.LastName), ['Q-Gamma', 'Q-Beta']);
  assert.equal(r1.records[0].attributes.type, 'Contact');
  assert.match(r1.records[0].attributes.url, /^\/services\/data\/v59\.0\/sobjects\/Contact\/003/);
  assert.equal(r1.records[0].Account, null);
  assert.equal(r1.records[1].Account.Name, 'Query Corp');
  const r2 = await conn.query(
    `SELECT Id FROM Contact WHERE (LastName = 'q-alpha' OR LastName IN ('Q-Gamma')) AND AccountId != null`,
  );
  assert.equal(r2.totalSize, 1);
  const r3 = await conn.query('SELECT Id FROM Contact WHERE Birthdate > 1980-01-01');
  assert.equal(r3.totalSize, 1);
  const r4 = await conn.query('SELECT Name FROM Account WHERE NumberOfEmployees >= 50');
  assert.ok(r4.records.some((r) => r.Name === 'Query Corp'));
  await assert.rejects(conn.query('SELECT Nope__c FROM Contact'), (err) => {
    assert.equal(err.errorCode, 'INVALID_FIELD');
    return true;
  });
  await assert.rejects(conn.query('SELECT Id FROM'), (err) => {
    assert.equal(err.errorCode, 'MALFORMED_QUERY');
    return true;
  });
});

test('Bulk API 2.0 insert and upsert with results CSVs', async () => {
  const header = 'External_Id__c,LastName,Email,Birthdate';
  const rows = [];
  for (let i = 0; i < 2500; i++) rows.push(`B-${i},Bulk ${i},b${i}@example.com,1990-01-01`);
  rows.push('B-bad1,,x@example.com,');
  rows.push('B-bad2,Bad,not-an-email,');
  rows.push('B-bad3,Bad,,1990-13-45');
  const res = await conn.bulk2.loadAndWaitForResults({
    object: 'Contact',
    operation: 'upsert',
    externalIdFieldName: 'External_Id__c',
    input: [header, ...rows].join('\n') + '\n',
    pollInterval: 200,
    pollTimeout: 60000,
  });
  assert.equal(res.successfulResults.length, 2500);
  assert.equal(res.failedResults.length, 3);
  assert.equal(res.unprocessedRecords.length, 0);
  const ok = res.successfulResults[0];
  assertId(ok.sf__Id, '003');
  assert.equal(String(ok.sf__Created), 'true');
  const errs = Object.fromEntries(res.failedResults.map((r) => [r.External_Id__c, r.sf__Error]));
  assert.match(errs['B-bad1'], /^REQUIRED_FIELD_MISSING:Required fields are missing: \[LastName\]:LastName --$/);
  assert.match(errs['B-bad2'], /^INVALID_EMAIL_ADDRESS:/);
  assert.match(errs['B-bad3'], /^INVALID_FIELD:.*xsd:date/);

  // Second load: updates (sf__Created false), #N/A clears, empty keeps.
  const res2 = await conn.bulk2.loadAndWaitForResults({
    object: 'Contact',
    operation: 'upsert',
    externalIdFieldName: 'External_Id__c',
    input: 'External_Id__c,Email,Title\nB-1,#N/A,Boss\nB-2,,Clerk\n',
    pollInterval: 200,
  });
  assert.equal(res2.successfulResults.length, 2);
  assert.ok(res2.successfulResults.every((r) => String(r.sf__Created) === 'false'));
  const q = await conn.query("SELECT External_Id__c, Email, Title FROM Contact WHERE External_Id__c IN ('B-1', 'B-2') ORDER BY External_Id__c");
  assert.deepEqual(
    q.records.map((r) => [r.External_Id__c, r.Email, r.Title]),
    [['B-1', null, 'Boss'], ['B-2', 'b2@example.com', 'Clerk']],
  );

  // Insert job, job info, job list.
  const job = conn.bulk2.createJob({ object: 'Account', operation: 'insert' });
  await job.open();
  assertId(job.id, '750');
  await job.uploadData('Name,AnnualRevenue\n"Bulk, Inc.",1000\nOther,abc\n');
  await job.close();
  await job.poll(100, 30000);
  const info = await job.check();
  assert.equal(info.state, 'JobComplete');
  assert.equal(info.numberRecordsProcessed, 2);
  assert.equal(info.numberRecordsFailed, 1);
  const all = await job.getAllResults();
  assert.equal(all.successfulResults[0].Name, 'Bulk, Inc.');
  assert.match(all.failedResults[0].sf__Error, /^INVALID_FIELD:/);
});

test('parents by external id (REST nested object, Bulk Relationship.Field header) and a Bulk delete job', async () => {
  const [acct] = await conn.sobject('Account').create([{ Name: 'Rel Corp', Warehouse_Id__c: 'W-REL-1' }]);
  const ok = await conn.sobject('Contact').upsert(
    { External_Id__c: 'REL-1', LastName: 'Rel One', Account: { Warehouse_Id__c: 'W-REL-1' } },
    'External_Id__c',
  );
  assert.equal(ok.success, true);
  await assert.rejects(
    conn.sobject('Contact').upsert({ External_Id__c: 'REL-2', LastName: 'Rel Two', Account: { Warehouse_Id__c: 'W-NOPE' } }, 'External_Id__c'),
    (err) => {
      assert.equal(err.errorCode, 'INVALID_FIELD');
      assert.match(err.message, /Foreign key external ID: W-NOPE not found for field Warehouse_Id__c in entity Account/);
      return true;
    },
  );
  const q1 = await conn.query("SELECT AccountId FROM Contact WHERE External_Id__c = 'REL-1'");
  assert.equal(q1.records[0].AccountId, acct.id);

  const res = await conn.bulk2.loadAndWaitForResults({
    object: 'Contact',
    operation: 'upsert',
    externalIdFieldName: 'External_Id__c',
    input: 'External_Id__c,LastName,Account.Warehouse_Id__c\nREL-3,Rel Three,W-REL-1\nREL-4,Rel Four,W-NOPE\n',
    pollInterval: 200,
  });
  assert.equal(res.successfulResults.length, 1);
  assert.equal(res.failedResults.length, 1);
  assert.match(res.failedResults[0].sf__Error, /^INVALID_FIELD:Foreign key external ID: W-NOPE not found/);
  const q3 = await conn.query("SELECT Id, AccountId FROM Contact WHERE External_Id__c = 'REL-3'");
  assert.equal(q3.records[0].AccountId, acct.id);

  const del = await conn.bulk2.loadAndWaitForResults({
    object: 'Contact',
    operation: 'delete',
    input: `Id\n${q3.records[0].Id}\n003000000000000AAA\n`,
    pollInterval: 200,
  });
  assert.equal(del.successfulResults.length, 1);
  assert.equal(del.failedResults.length, 1);
  // Results echo the uploaded Id column (retl matches delete results by it).
  assert.equal(del.successfulResults[0].Id, q3.records[0].Id);
  assert.equal(del.successfulResults[0].sf__Id, q3.records[0].Id);
  const gone = await conn.query("SELECT Id FROM Contact WHERE External_Id__c = 'REL-3'");
  assert.equal(gone.totalSize, 0);
  // Deleting it again: the record is in the recycle bin, ENTITY_IS_DELETED.
  const again = await conn.bulk2.loadAndWaitForResults({
    object: 'Contact',
    operation: 'delete',
    input: `Id\n${q3.records[0].Id}\n`,
    pollInterval: 200,
  });
  assert.equal(again.successfulResults.length, 0);
  assert.equal(again.failedResults.length, 1);
  assert.match(again.failedResults[0].sf__Error, /^ENTITY_IS_DELETED:entity is deleted/);
  assert.equal(again.failedResults[0].Id, q3.records[0].Id);
  const kept = await conn.query("SELECT Id FROM Contact WHERE External_Id__c = 'REL-1'");
  assert.equal(kept.totalSize, 1);
});

test('query paging with nextRecordsUrl beyond 2000 records', async () => {
  const res = await conn.query("SELECT Id, External_Id__c FROM Contact WHERE External_Id__c LIKE 'B-%'");
  assert.equal(res.totalSize, 2500);
  assert.equal(res.done, false);
  assert.equal(res.records.length, 2000);
  assert.match(res.nextRecordsUrl, /\/services\/data\/v59\.0\/query\/01g\w+-2000$/);
  const more = await conn.queryMore(res.nextRecordsUrl);
  assert.equal(more.done, true);
  assert.equal(more.records.length, 500);
  const auto = await conn.query("SELECT Id FROM Contact WHERE External_Id__c LIKE 'B-%'", { autoFetch: true, maxFetch: 5000 });
  assert.equal(auto.records.length, 2500);
  assert.equal(new Set(auto.records.map((r) => r.Id)).size, 2500);
});

test('Bulk API 2.0 query job (bulk2.query) reads back the loaded rows', async () => {
  const stream = await conn.bulk2.query("SELECT Id, External_Id__c, Email FROM Contact WHERE External_Id__c LIKE 'B-%' ORDER BY External_Id__c", {
    pollInterval: 100,
    pollTimeout: 30000,
  });
  const records = await new Promise((resolve, reject) => {
    const out = [];
    stream.on('record', (r) => out.push(r));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
  assert.equal(records.length, 2500);
  const b2 = records.find((r) => r.External_Id__c === 'B-2');
  assert.equal(b2.Email, 'b2@example.com');
  assertId(b2.Id, '003');
});

test('Bulk API 2.0 unknown column fails the job', async () => {
  await assert.rejects(
    conn.bulk2.loadAndWaitForResults({
      object: 'Contact',
      operation: 'insert',
      input: 'LastName,Nope__c\nA,B\n',
      pollInterval: 100,
      pollTimeout: 30000,
    }),
    /InvalidBatch : Field name not found : Nope__c/,
  );
  // jsforce deletes the failed job in the background; wait for it so later
  // tests see a quiet connection.
  for (let i = 0; i < 50; i++) {
    const list = await conn.request(`/services/data/v${VERSION}/jobs/ingest`);
    if (!list.records.some((j) => j.state === 'Failed')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('jsforce did not delete the failed job');
});

test('Sforce-Limit-Info is tracked and /limits agrees', async () => {
  await conn.query('SELECT COUNT() FROM Contact');
  const used = conn.limitInfo.apiUsage.used;
  assert.ok(used > 0);
  assert.equal(conn.limitInfo.apiUsage.limit, 1000000);
  const limits = await conn.limits();
  assert.equal(limits.DailyApiRequests.Max, 1000000);
  assert.ok(conn.limitInfo.apiUsage.used > used);
  assert.equal(limits.DailyApiRequests.Remaining, 1000000 - conn.limitInfo.apiUsage.used);
});

test('expired sessions: 401 INVALID_SESSION_ID, and jsforce re-logs in', async () => {
  const c = await login();
  await admin('faults', { expireSessions: true });
  const stale = new jsforce.Connection({ instanceUrl: SIM, accessToken: c.accessToken, version: VERSION });
  await assert.rejects(stale.query('SELECT COUNT() FROM Contact'), (err) => {
    assert.equal(err.errorCode, 'INVALID_SESSION_ID');
    assert.equal(err.message, 'Session expired or invalid');
    return true;
  });
  const old = c.accessToken;
  const res = await c.query('SELECT COUNT() FROM Contact');
  assert.equal(res.done, true);
  assert.notEqual(c.accessToken, old, 'jsforce logged in again after the 401');
  conn = await login();
});

test('injected faults: validation rule, lock errors, 503, request limit', async () => {
  await admin('faults', {
    validationRules: [{ object: 'Contact', field: 'LastName', equals: 'Reject', message: 'Last name may not be Reject' }],
  });
  const r = await conn.sobject('Contact').create([{ LastName: 'Reject' }, { LastName: 'Accept' }]);
  assert.equal(r[0].errors[0].statusCode, 'FIELD_CUSTOM_VALIDATION_EXCEPTION');
  assert.equal(r[0].errors[0].message, 'Last name may not be Reject');
  assert.equal(r[1].success, true);

  await admin('faults', { lockRowNext: 1 });
  const l = await conn.sobject('Contact').create([{ LastName: 'L1' }, { LastName: 'L2' }]);
  assert.equal(l[0].errors[0].statusCode, 'UNABLE_TO_LOCK_ROW');
  assert.equal(l[1].success, true);

  // jsforce retries 503 with backoff: two injected 503s are absorbed by its retries.
  await admin('faults', { unavailableNext: 2 });
  assert.equal((await conn.query('SELECT COUNT() FROM Contact')).done, true);
  assert.equal((await admin('stats')).faultsFired.unavailable, 2);
  // A raw request sees the 503 and the REST error array.
  await admin('faults', { unavailableNext: 1 });
  const raw = await fetch(SIM + '/services/data/v59.0/limits', { headers: { Authorization: 'Bearer ' + conn.accessToken } });
  assert.equal(raw.status, 503);
  assert.equal((await raw.json())[0].errorCode, 'SERVER_UNAVAILABLE');
  assert.match(raw.headers.get('sforce-limit-info'), /^api-usage=\d+\/1000000$/);

  await admin('faults', { requestLimitAfter: 1 });
  await conn.query('SELECT COUNT() FROM Contact');
  await assert.rejects(conn.query('SELECT COUNT() FROM Contact'), (err) => {
    assert.equal(err.errorCode, 'REQUEST_LIMIT_EXCEEDED');
    return true;
  });
  const stats = await admin('stats');
  assert.ok(stats.requests['GET query'] > 0);
  assert.equal(stats.faultsFired.requestLimit, 1);
  await fetch(SIM + '/__admin/faults', { method: 'DELETE' });
  assert.equal((await conn.query('SELECT COUNT() FROM Contact')).done, true);
});
