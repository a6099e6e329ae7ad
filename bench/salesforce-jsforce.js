// The peer for bench/salesforce.sh: jsforce (unchanged, from
// tests/fakes/conformance) loads a CSV into salesforce-sim with Bulk API 2.0
// upsert and waits for the results, the way a jsforce-based loader would.
// Usage: node bench/salesforce-jsforce.js SIM_URL CSV_FILE OBJECT EXT_ID_FIELD
// Prints one JSON line: {"seconds":..,"processed":..,"failed":..}
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const { createRequire } = require('node:module');
const req = createRequire(path.join(__dirname, '..', 'tests', 'fakes', 'conformance', 'package.json'));
const jsforce = req('jsforce');

async function main() {
  const [sim, csvFile, object, extId] = process.argv.slice(2);
  const csv = fs.readFileSync(csvFile, 'utf8');
  const t0 = process.hrtime.bigint();
  const conn = new jsforce.Connection({
    oauth2: { loginUrl: sim, clientId: '3MVG9.bench', clientSecret: 'bench-secret' },
    version: '62.0',
  });
  await conn.login('bench@example.com', 'bench-password');
  const res = await conn.bulk2.loadAndWaitForResults({
    object,
    operation: 'upsert',
    externalIdFieldName: extId,
    input: csv,
    pollTimeout: 3600 * 1000,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({
    seconds,
    processed: res.successfulResults.length + res.failedResults.length,
    failed: res.failedResults.length,
    unprocessed: res.unprocessedRecords.length,
  }));
}
main().catch((e) => { console.error(e); process.exit(1); });
