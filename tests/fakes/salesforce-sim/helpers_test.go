package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testSchema = `{"objects": {
  "Contact": {"fields": [
    {"name": "External_Id__c", "type": "string", "length": 40, "externalId": true, "unique": true},
    {"name": "Score__c", "type": "double", "precision": 5, "scale": 2},
    {"name": "Active__c", "type": "boolean"},
    {"name": "Seen__c", "type": "datetime"},
    {"name": "Tier__c", "type": "picklist", "picklistValues": ["Gold", "Silver"], "restrictedPicklist": true}
  ]},
  "Account": {"fields": [{"name": "Warehouse_Id__c", "type": "string", "length": 64, "externalId": true, "unique": true}]},
  "Widget__c": {"fields": [{"name": "Code__c", "type": "string", "length": 10, "externalId": true, "unique": true, "nillable": false}]}
}}`

type harness struct {
	t   *testing.T
	srv *Server
	ts  *httptest.Server
	tok string
}

func testSchemaObj(t *testing.T) *Schema {
	t.Helper()
	p := filepath.Join(t.TempDir(), "schema.json")
	if err := os.WriteFile(p, []byte(testSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	s := defaultSchema()
	if err := loadSchemaFile(s, p); err != nil {
		t.Fatal(err)
	}
	return s
}

func newHarness(t *testing.T, mod func(*Options)) *harness {
	t.Helper()
	opts := Options{DailyLimit: 1000000, BulkDelay: 20 * time.Millisecond, StaticToken: "test-token"}
	if mod != nil {
		mod(&opts)
	}
	srv := newServer(opts, testSchemaObj(t))
	if opts.StateDir != "" {
		if err := srv.loadState(); err != nil {
			t.Fatal(err)
		}
	}
	ts := httptest.NewServer(srv)
	srv.baseURL = ts.URL
	t.Cleanup(ts.Close)
	return &harness{t: t, srv: srv, ts: ts, tok: "test-token"}
}

// do sends a request to an API path (relative to /services/data/v59.0 unless it
// starts with /) and returns status, headers and body.
func (h *harness) do(method, path string, body any) (int, http.Header, []byte) {
	h.t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
		ct = "text/csv"
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	url := h.ts.URL + path
	if !strings.HasPrefix(path, "/") {
		url = h.ts.URL + "/services/data/v59.0/" + path
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", ct)
	if h.tok != "" {
		req.Header.Set("Authorization", "Bearer "+h.tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, data
}

func (h *harness) json(method, path string, body any, wantStatus int, out any) {
	h.t.Helper()
	st, _, data := h.do(method, path, body)
	if st != wantStatus {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, st, wantStatus, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			h.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
}

type result struct {
	Id      string    `json:"id"`
	Success bool      `json:"success"`
	Created *bool     `json:"created"`
	Errors  []*recErr `json:"errors"`
}

func rec(typ string, kv ...any) map[string]any {
	m := map[string]any{"attributes": map[string]string{"type": typ}}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func (h *harness) create(allOrNone bool, recs ...map[string]any) []result {
	h.t.Helper()
	var out []result
	h.json("POST", "composite/sobjects", map[string]any{"allOrNone": allOrNone, "records": recs}, 200, &out)
	return out
}

func code(r result) string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].StatusCode
}

type queryResult struct {
	TotalSize      int              `json:"totalSize"`
	Done           bool             `json:"done"`
	NextRecordsUrl string           `json:"nextRecordsUrl"`
	Records        []map[string]any `json:"records"`
}

func (h *harness) query(q string) queryResult {
	h.t.Helper()
	var out queryResult
	h.json("GET", "query?q="+urlQuery(q), nil, 200, &out)
	return out
}

func urlQuery(q string) string {
	r := strings.NewReplacer(" ", "+", "'", "%27", "%", "%25", "(", "%28", ")", "%29", ",", "%2C", "=", "%3D", ">", "%3E", "<", "%3C", "!", "%21")
	return r.Replace(q)
}
