// Conformance test: the official @hubspot/api-client, unchanged, against hubspot-sim.
//
// Environment (set by tests/suites/41-hubspot-sim.sh):
//   SIM_URL    base URL printed by the sim
//   SIM_TOKEN  the sim's --access-token
// The sim must have been started with schema.json from this directory.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const hubspot = require('@hubspot/api-client');

const SIM = process.env.SIM_URL;
const TOKEN = process.env.SIM_TOKEN;
if (!SIM || !TOKEN) throw new Error('SIM_URL and SIM_TOKEN must be set');

async function admin(path, body, method) {
  const res = await fetch(SIM + '/__admin/' + path, {
    method: method || (body === undefined ? 'GET' : 'POST'),
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`admin ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const client = (opts) => new hubspot.Client({ accessToken: TOKEN, basePath: SIM, ...opts });

// The ApiException the client throws for a non-success status.
async function apiError(promise) {
  try {
    await promise;
  } catch (e) {
    assert.equal(typeof e.code, 'number', `an ApiException with an HTTP code, got ${e}`);
    return e;
  }
  assert.fail('expected an ApiException');
}

test.beforeEach(async () => {
  await admin('reset', {});
});

test('a wrong token is a 401 INVALID_AUTHENTICATION ApiException', async () => {
  const bad = new hubspot.Client({ accessToken: 'pat-na1-wrong', basePath: SIM });
  const e = await apiError(bad.crm.contacts.basicApi.getPage(10));
  assert.equal(e.code, 401);
  assert.equal(e.body.category, 'INVALID_AUTHENTICATION');
  assert.match(e.body.message, /^Authentication credentials not found/);
});

test('properties: getAll lists types, read-only flags, options and unique values', async () => {
  const hs = client();
  const res = await hs.crm.properties.coreApi.getAll('contacts');
  const byName = Object.fromEntries(res.results.map((p) => [p.name, p]));
  assert.equal(byName.email.type, 'string');
  assert.equal(byName.hs_object_id.modificationMetadata.readOnlyValue, true);
  assert.equal(byName.hubspotscore.modificationMetadata.readOnlyValue, true);
  assert.ok(byName.lifecyclestage.options.some((o) => o.value === 'lead'));
  assert.equal(byName.external_id.hasUniqueValue, true);
  const one = await hs.crm.properties.coreApi.getByName('0-1', 'date_of_birth');
  assert.equal(one.type, 'date');
});

test('batch create (201) then getById and basic update', async () => {
  const hs = client();
  const res = await hs.crm.contacts.batchApi.create({
    inputs: [
      { properties: { email: 'Ada@Example.com', firstname: 'Ada' }, associations: [] },
      { properties: { email: 'bob@example.com', firstname: 'Bob', date_of_birth: '1990-05-01' }, associations: [] },
    ],
  });
  assert.equal(res.status, 'COMPLETE');
  assert.equal(res.results.length, 2);
  assert.ok(res.startedAt instanceof Date && !isNaN(res.startedAt));
  const ada = res.results.find((r) => r.properties.firstname === 'Ada');
  assert.match(ada.id, /^\d+$/);
  const got = await hs.crm.contacts.basicApi.getById(ada.id, ['email', 'firstname']);
  assert.equal(got.properties.email, 'ada@example.com');
  const upd = await hs.crm.contacts.basicApi.update(ada.id, { properties: { lastname: 'Lovelace' } });
  assert.equal(upd.properties.lastname, 'Lovelace');
  const byEmail = await hs.crm.contacts.basicApi.getById('bob@example.com', ['date_of_birth'], undefined, undefined, false, 'email');
  assert.equal(byEmail.properties.date_of_birth, '1990-05-01');
});

test('batch upsert by email: new true then false, numbers and booleans become strings', async () => {
  const hs = client();
  const first = await hs.crm.contacts.batchApi.upsert({
    inputs: [{ id: 'carol@example.com', idProperty: 'email', properties: { firstname: 'Carol', hs_email_optout: true } }],
  });
  assert.equal(first.results[0]._new, true);
  assert.equal(first.results[0].properties.hs_email_optout, 'true');
  const again = await hs.crm.contacts.batchApi.upsert({
    inputs: [{ id: 'carol@example.com', idProperty: 'email', properties: { firstname: 'Caroline' } }],
  });
  assert.equal(again.results[0]._new, false);
  assert.equal(again.results[0].id, first.results[0].id);
  assert.equal(again.results[0].properties.firstname, 'Caroline');
});

test('batch upsert 207: the bad input fails alone with its objectWriteTraceId', async () => {
  const hs = client();
  const res = await hs.crm.contacts.batchApi.upsert({
    inputs: [
      { id: 'ok@example.com', idProperty: 'email', objectWriteTraceId: 't1', properties: { lifecyclestage: 'lead' } },
      { id: 'bad@example.com', idProperty: 'email', objectWriteTraceId: 't2', properties: { lifecyclestage: 'nope' } },
    ],
  });
  assert.equal(res.results.length, 1);
  assert.equal(res.numErrors, 1);
  assert.equal(res.errors[0].category, 'VALIDATION_ERROR');
  assert.deepEqual(res.errors[0].context.objectWriteTraceId, ['t2']);
  assert.match(res.errors[0].message, /INVALID_OPTION/);
});

test('upsert by a non-unique property is a 400 naming it', async () => {
  const e = await apiError(client().crm.contacts.batchApi.upsert({
    inputs: [{ id: 'x', idProperty: 'firstname', properties: { lastname: 'y' } }],
  }));
  assert.equal(e.code, 400);
  assert.equal(e.body.category, 'VALIDATION_ERROR');
  assert.match(e.body.message, /non-unique 0-1 property firstname/);
});

test('unknown and read-only properties fail the whole batch with PROPERTY_DOESNT_EXIST / READ_ONLY_VALUE', async () => {
  const e = await apiError(client().crm.contacts.batchApi.create({
    inputs: [{ properties: { email: 'z@example.com', favourite_colour: 'blue', hubspotscore: '5' }, associations: [] }],
  }));
  assert.equal(e.code, 400);
  const codes = e.body.errors.map((x) => x.code).sort();
  assert.deepEqual(codes, ['PROPERTY_DOESNT_EXIST', 'READ_ONLY_VALUE']);
  assert.deepEqual(e.body.errors.find((x) => x.code === 'PROPERTY_DOESNT_EXIST').context.propertyName, ['favourite_colour']);
  const stats = await admin('stats');
  assert.equal(stats.records.contacts, 0);
});

test('create conflict on an existing email is a 409 CONFLICT with the existing id', async () => {
  const hs = client();
  const c = await hs.crm.contacts.basicApi.create({ properties: { email: 'dup@example.com' }, associations: [] });
  const e = await apiError(hs.crm.contacts.basicApi.create({ properties: { email: 'DUP@example.com' }, associations: [] }));
  assert.equal(e.code, 409);
  assert.equal(e.body.category, 'CONFLICT');
  assert.equal(e.body.message, `Contact already exists. Existing ID: ${c.id}`);
});

test('batch update 207 names missing ids; batch read; archive (204) then 404', async () => {
  const hs = client();
  const created = await hs.crm.companies.batchApi.create({
    inputs: [{ properties: { name: 'Acme', numberofemployees: 12 }, associations: [] }],
  });
  const id = created.results[0].id;
  const upd = await hs.crm.companies.batchApi.update({
    inputs: [{ id, properties: { industry: 'Tools' } }, { id: '999999', properties: { industry: 'None' } }],
  });
  assert.equal(upd.results.length, 1);
  assert.equal(upd.errors[0].category, 'OBJECT_NOT_FOUND');
  assert.deepEqual(upd.errors[0].context.ids, ['999999']);
  const read = await hs.crm.companies.batchApi.read({ inputs: [{ id }], properties: ['name', 'industry', 'numberofemployees'], propertiesWithHistory: [] });
  assert.equal(read.results[0].properties.industry, 'Tools');
  assert.equal(read.results[0].properties.numberofemployees, '12');
  await hs.crm.companies.batchApi.archive({ inputs: [{ id }] });
  const e = await apiError(hs.crm.companies.basicApi.getById(id));
  assert.equal(e.code, 404);
});

test('duplicate ids in one batch are a 400', async () => {
  const e = await apiError(client().crm.contacts.batchApi.upsert({
    inputs: [
      { id: 'same@example.com', idProperty: 'email', properties: {} },
      { id: 'same@example.com', idProperty: 'email', properties: {} },
    ],
  }));
  assert.equal(e.code, 400);
  assert.match(e.body.message, /Duplicate IDs found in batch input/);
});

test('more than 100 inputs are refused', async () => {
  const inputs = Array.from({ length: 101 }, (_, i) => ({ id: `m${i}@example.com`, idProperty: 'email', properties: {} }));
  const e = await apiError(client().crm.contacts.batchApi.upsert({ inputs }));
  assert.equal(e.code, 400);
});

test('search: filters, sorts as strings and objects, paging; getAll pages the list', async () => {
  const hs = client();
  const inputs = Array.from({ length: 100 }, (_, i) => ({ id: `s${String(i).padStart(3, '0')}@example.com`, idProperty: 'email',
    properties: { firstname: i % 2 ? 'odd' : 'even', city: `c${i}` } }));
  await hs.crm.contacts.batchApi.upsert({ inputs });
  await hs.crm.contacts.batchApi.upsert({ inputs: inputs.map((x) => ({ ...x, id: 'x' + x.id })) });
  const res = await hs.crm.contacts.searchApi.doSearch({
    filterGroups: [{ filters: [{ propertyName: 'firstname', operator: 'EQ', value: 'odd' }] }],
    sorts: ['-email'], properties: ['email', 'city', 'lastname'], limit: 20, after: '0',
  });
  assert.equal(res.total, 100);
  assert.equal(res.results.length, 20);
  assert.equal(res.results[0].properties.email, 'xs099@example.com');
  assert.equal(res.results[0].properties.lastname, null);
  assert.equal(res.paging.next.after, '20');
  const last = await hs.crm.contacts.searchApi.doSearch({
    filterGroups: [{ filters: [{ propertyName: 'email', operator: 'IN', values: ['s001@example.com', 's002@example.com'] }] }],
    sorts: [{ propertyName: 'email', direction: 'ASCENDING' }], properties: ['email'], limit: 10,
  });
  assert.equal(last.total, 2);
  assert.equal(last.paging, undefined);
  const all = await hs.crm.contacts.getAll(undefined, undefined, ['email']);
  assert.equal(all.length, 200);
});

test('custom objects by type id and name, upsert by a custom unique property', async () => {
  const hs = client();
  const res = await hs.crm.objects.batchApi.upsert('2-1234567', {
    inputs: [{ id: 'W-1', idProperty: 'code', properties: { region: 'EMEA', capacity: '10.5' } }],
  });
  assert.equal(res.results[0]._new, true);
  const page = await hs.crm.objects.basicApi.getPage('warehouses', 10, undefined, ['code', 'region']);
  assert.equal(page.results[0].properties.code, 'W-1');
  const schemas = await hs.crm.schemas.coreApi.getAll();
  assert.equal(schemas.results[0].objectTypeId, '2-1234567');
});

test('deals and tickets: enumerations, datetimes from epoch milliseconds', async () => {
  const hs = client();
  const d = await hs.crm.deals.batchApi.create({
    inputs: [{ properties: { dealname: 'Big', dealstage: 'closedwon', pipeline: 'default', closedate: '1700000000000', amount: '1200.50' }, associations: [] }],
  });
  assert.equal(d.results[0].properties.closedate, '2023-11-14T22:13:20.000Z');
  const t = await hs.crm.tickets.batchApi.create({
    inputs: [{ properties: { subject: 'Help', hs_pipeline: '0', hs_pipeline_stage: '1', hs_ticket_priority: 'HIGH' }, associations: [] }],
  });
  assert.equal(t.results[0].properties.hs_ticket_priority, 'HIGH');
  const e = await apiError(hs.crm.deals.batchApi.create({
    inputs: [{ properties: { dealname: 'Bad', closedate: 'yesterday' }, associations: [] }],
  }));
  assert.equal(e.code, 400);
  assert.match(e.body.message, /INVALID_DATETIME/);
});

test('unknown object type is a 400 with HubSpot message', async () => {
  const e = await apiError(client().crm.objects.basicApi.getPage('butterflies', 10));
  assert.equal(e.code, 400);
  assert.equal(e.body.message, 'Unable to infer object type from: butterflies');
});

test('a 503 is retried by the client (numberOfApiCallRetries)', async () => {
  await admin('faults', { statusNext: 1, status: 503 });
  const hs = client({ numberOfApiCallRetries: 2 });
  const res = await hs.crm.contacts.basicApi.getPage(10);
  assert.deepEqual(res.results, []);
  const f = await admin('faults');
  assert.equal(f.fired.status, 1);
});

test('the rolling ten-second limit: headers, HubSpot 429 body, the client waits and retries', async () => {
  await admin('faults', { rateLimit: 2 });
  const res = await fetch(SIM + '/crm/v3/objects/contacts', { headers: { authorization: 'Bearer ' + TOKEN } });
  assert.equal(res.headers.get('x-hubspot-ratelimit-max'), '2');
  assert.equal(res.headers.get('x-hubspot-ratelimit-remaining'), '1');
  assert.equal(res.headers.get('x-hubspot-ratelimit-interval-milliseconds'), '10000');
  await res.json();
  const hs = client();
  await hs.crm.contacts.basicApi.getPage(10);
  const e = await apiError(hs.crm.contacts.basicApi.getPage(10));
  assert.equal(e.code, 429);
  assert.equal(e.body.policyName, 'TEN_SECONDLY_ROLLING');
  assert.equal(e.body.errorType, 'RATE_LIMIT');
  // Search is exempt from the ten-secondly limit.
  await hs.crm.contacts.searchApi.doSearch({ filterGroups: [], limit: 1 });
  const retrying = client({ numberOfApiCallRetries: 2 });
  const t0 = Date.now();
  await retrying.crm.contacts.basicApi.getPage(10);
  assert.ok(Date.now() - t0 >= 5000, 'the client waited for the window');
  const stats = await admin('stats');
  assert.ok(stats.rateLimited >= 2);
  assert.ok(stats.maxInWindow <= 2);
});
