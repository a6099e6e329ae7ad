// The peer for bench/hubspot.sh: a plain @hubspot/api-client batch-upsert
// loop (the client unchanged, from tests/fakes/hubspot-conformance): chunks of
// 100 contacts upserted by email one call after another, with the client's own
// retries (numberOfApiCallRetries: 6, the maximum; on a TEN_SECONDLY_ROLLING
// 429 it waits 10 s x attempt). The rows are the ones bench/hubspot.sh puts in
// PostgreSQL: person<i>@example.com, First<i>, Last<i>, score i/4.
// Usage: node bench/hubspot-loop.js SIM_URL TOKEN N
// Prints one JSON line: {"seconds":..,"upserted":..,"failed":..,"calls":..}
'use strict';
const path = require('node:path');
const { createRequire } = require('node:module');
const req = createRequire(path.join(__dirname, '..', 'tests', 'fakes', 'hubspot-conformance', 'package.json'));
const hubspot = req('@hubspot/api-client');

async function main() {
  const [sim, token, nStr] = process.argv.slice(2);
  const n = Number(nStr);
  const client = new hubspot.Client({ accessToken: token, basePath: sim, numberOfApiCallRetries: 6 });
  const t0 = process.hrtime.bigint();
  let upserted = 0;
  let failed = 0;
  let calls = 0;
  for (let from = 1; from <= n; from += 100) {
    const inputs = [];
    for (let i = from; i < from + 100 && i <= n; i++) {
      inputs.push({ id: `person${i}@example.com`, idProperty: 'email',
        properties: { firstname: `First${i}`, lastname: `Last${i}`, score: String(i / 4) } });
    }
    calls++;
    const res = await client.crm.contacts.batchApi.upsert({ inputs });
    upserted += res.results.length;
    failed += res.errors ? res.errors.length : 0;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ seconds, upserted, failed, calls }));
}

// The client logs every retry with console.error; keep stdout to the one line.
main().catch((e) => {
  console.log(JSON.stringify({ error: String(e.code || e.message || e) }));
  process.exit(1);
});
