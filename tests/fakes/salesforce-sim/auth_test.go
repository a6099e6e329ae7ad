package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func signJWT(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	hdr := enc.EncodeToString([]byte(`{"alg":"RS256"}`))
	body, _ := json.Marshal(claims)
	in := hdr + "." + enc.EncodeToString(body)
	h := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + enc.EncodeToString(sig)
}

func (h *harness) token(form url.Values, basic ...string) (int, map[string]string) {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.ts.URL+"/services/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	out := map[string]string{}
	if err := json.Unmarshal(data, &out); err != nil {
		h.t.Fatalf("token response %s: %v", data, err)
	}
	return res.StatusCode, out
}

func TestJWTBearer(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub := filepath.Join(t.TempDir(), "pub.pem")
	os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	h := newHarness(t, func(o *Options) { o.JWTPublicKey = pub; o.ClientId = "3MVG9.app"; o.Username = "loader@acme.com" })
	now := time.Now().Unix()
	good := map[string]any{"iss": "3MVG9.app", "sub": "loader@acme.com", "aud": "https://login.salesforce.com", "exp": now + 180}
	grant := "urn:ietf:params:oauth:grant-type:jwt-bearer"
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	st, res := h.token(url.Values{"grant_type": {grant}, "assertion": {signJWT(t, key, good)}})
	if st != 200 || res["instance_url"] != h.ts.URL || res["token_type"] != "Bearer" || !strings.HasSuffix(res["id"], "/"+h.srv.store.orgId+"/"+h.srv.store.userId) {
		t.Fatalf("jwt: %d %v", st, res)
	}
	h.tok = res["access_token"]
	if st, _, _ := h.do("GET", "limits", nil); st != 200 {
		t.Fatalf("token not accepted: %d", st)
	}
	cases := []struct {
		assertion string
		err, desc string
	}{
		{signJWT(t, other, good), "invalid_grant", "invalid assertion"},
		{signJWT(t, key, with("exp", now-5)), "invalid_grant", "expired authorization code"},
		{signJWT(t, key, with("aud", "https://evil.example.com")), "invalid_grant", "audience is invalid"},
		{signJWT(t, key, with("aud", h.ts.URL)), "", ""},
		{signJWT(t, key, with("aud", "https://test.salesforce.com")), "", ""},
		{signJWT(t, key, with("exp", time.Now().UnixMilli())), "", ""},
		{signJWT(t, key, with("iss", "other")), "invalid_client_id", "client identifier invalid"},
		{signJWT(t, key, with("sub", "someone@else.com")), "invalid_grant", "user hasn't approved this consumer"},
		{"not.a.jwt", "invalid_grant", "invalid assertion"},
	}
	for i, c := range cases {
		st, res := h.token(url.Values{"grant_type": {grant}, "assertion": {c.assertion}})
		if c.err == "" {
			if st != 200 || res["access_token"] == "" {
				t.Errorf("case %d: %d %v", i, st, res)
			}
			continue
		}
		if st != 400 || res["error"] != c.err || res["error_description"] != c.desc {
			t.Errorf("case %d: %d %v, want %s/%s", i, st, res, c.err, c.desc)
		}
	}
}

func TestOtherGrants(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.ClientId, o.ClientSecret, o.Username, o.Password, o.RefreshToken = "cid", "sec", "u@x.com", "pw", "rt-1"
	})
	type tc struct {
		form   url.Values
		basic  []string
		status int
		err    string
	}
	cases := []tc{
		{url.Values{"grant_type": {"password"}, "client_id": {"cid"}, "client_secret": {"sec"}, "username": {"u@x.com"}, "password": {"pw"}}, nil, 200, ""},
		{url.Values{"grant_type": {"password"}, "client_id": {"cid"}, "client_secret": {"sec"}, "username": {"u@x.com"}, "password": {"no"}}, nil, 400, "invalid_grant"},
		{url.Values{"grant_type": {"password"}, "client_id": {"bad"}, "client_secret": {"sec"}, "username": {"u@x.com"}, "password": {"pw"}}, nil, 400, "invalid_client_id"},
		{url.Values{"grant_type": {"client_credentials"}}, []string{"cid", "sec"}, 200, ""},
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"sec"}}, nil, 200, ""},
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"wrong"}}, nil, 400, "invalid_client"},
		{url.Values{"grant_type": {"refresh_token"}, "client_id": {"cid"}, "refresh_token": {"rt-1"}}, nil, 200, ""},
		{url.Values{"grant_type": {"refresh_token"}, "client_id": {"cid"}, "refresh_token": {"rt-2"}}, nil, 400, "invalid_grant"},
		{url.Values{"grant_type": {"authorisation_code"}}, nil, 400, "unsupported_grant_type"},
	}
	for i, c := range cases {
		st, res := h.token(c.form, c.basic...)
		if st != c.status || res["error"] != c.err {
			t.Errorf("case %d: %d %v", i, st, res)
		}
		if st == 200 && (res["issued_at"] == "" || res["signature"] == "" || res["instance_url"] != h.ts.URL) {
			t.Errorf("case %d: missing fields %v", i, res)
		}
	}
	// As in Salesforce, token requests are counted in the stats but are not API
	// calls: they use none of the daily allowance.
	st := h.srv.statsSnapshot()
	if used := st["apiUsage"].(map[string]int)["used"]; used != 0 {
		t.Errorf("token requests counted as API usage: %d", used)
	}
	if n := st["requests"].(map[string]int)["POST oauth2/token"]; n != len(cases) {
		t.Errorf("token requests in stats: %d, want %d", n, len(cases))
	}
}

func TestSessionsAndLimits(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.DailyLimit = 5; o.SessionTTL = time.Hour })
	st, hdr, body := h.do("GET", "/services/data/", nil)
	if st != 200 || hdr.Get("Sforce-Limit-Info") != "" || !strings.Contains(string(body), `"version":"59.0"`) {
		t.Fatalf("versions: %d %v %s", st, hdr, body)
	}
	h.tok = "bogus"
	st, _, body = h.do("GET", "limits", nil)
	if st != 401 || string(body) != `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]` {
		t.Fatalf("bad token: %d %s", st, body)
	}
	h.tok = "test-token"
	for i := 1; i <= 5; i++ {
		st, hdr, _ := h.do("GET", "limits", nil)
		if st != 200 || hdr.Get("Sforce-Limit-Info") != "api-usage="+string(rune('0'+i))+"/5" {
			t.Fatalf("call %d: %d %s", i, st, hdr.Get("Sforce-Limit-Info"))
		}
	}
	st, _, body = h.do("GET", "limits", nil)
	if st != 403 || !strings.Contains(string(body), "REQUEST_LIMIT_EXCEEDED") {
		t.Fatalf("over limit: %d %s", st, body)
	}
	// Session TTL.
	h.srv.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if st, _, _ := h.do("GET", "limits", nil); st != 401 {
		t.Fatalf("expired by ttl: %d", st)
	}
	if st, _, _ := h.do("GET", "/services/data/v99.0/limits", nil); st != 404 {
		t.Fatalf("unknown version: %d", st)
	}
}

func TestFaults(t *testing.T) {
	h := newHarness(t, nil)
	admin := func(method, path string, body any) (int, map[string]any) {
		st, _, data := h.do(method, "/__admin/"+path, body)
		out := map[string]any{}
		json.Unmarshal(data, &out)
		return st, out
	}
	if st, _ := admin("POST", "faults", map[string]any{"validationRules": []any{map[string]any{"object": "Contact", "field": "Email", "matches": "@blocked\\.example$", "message": "blocked domain", "fields": []string{"Email"}}}}); st != 200 {
		t.Fatalf("set rule: %d", st)
	}
	if st, _ := admin("POST", "faults", map[string]any{"validationRules": []any{map[string]any{"object": "Nope", "field": "X", "equals": "1"}}}); st != 400 {
		t.Fatalf("bad rule accepted: %d", st)
	}
	if st, _ := admin("POST", "faults", map[string]any{"noSuchFault": 1}); st != 400 {
		t.Fatalf("unknown key accepted: %d", st)
	}
	res := h.create(false, rec("Contact", "LastName", "A", "Email", "a@blocked.example"), rec("Contact", "LastName", "B", "Email", "b@ok.example"))
	if code(res[0]) != "FIELD_CUSTOM_VALIDATION_EXCEPTION" || res[0].Errors[0].Message != "blocked domain" || res[0].Errors[0].Fields[0] != "Email" || !res[1].Success {
		t.Fatalf("rule: %+v", res)
	}
	admin("POST", "faults", map[string]any{"lockRowNext": 2, "unavailableNext": 1, "delayMs": 30})
	if st, _, _ := h.do("GET", "limits", nil); st != 503 {
		t.Fatalf("503 expected, got %d", st)
	}
	start := time.Now()
	res = h.create(false, rec("Contact", "LastName", "C"), rec("Contact", "LastName", "D"), rec("Contact", "LastName", "E"))
	if time.Since(start) < 30*time.Millisecond {
		t.Fatalf("delay not applied")
	}
	if code(res[0]) != "UNABLE_TO_LOCK_ROW" || code(res[1]) != "UNABLE_TO_LOCK_ROW" || !res[2].Success {
		t.Fatalf("lock: %+v", res)
	}
	admin("POST", "faults", map[string]any{"requestLimitAfter": 1, "delayMs": 0})
	if st, _, _ := h.do("GET", "limits", nil); st != 200 {
		t.Fatalf("first call after requestLimitAfter=1: %d", st)
	}
	if st, _, body := h.do("GET", "limits", nil); st != 403 || !strings.Contains(string(body), "TotalRequests") {
		t.Fatalf("limit: %d %s", st, body)
	}
	admin("DELETE", "faults", nil)
	admin("POST", "faults", map[string]any{"concurrentLimitNext": 1, "pathContains": "composite"})
	if st, _, _ := h.do("GET", "limits", nil); st != 200 {
		t.Fatalf("pathContains not honoured: %d", st)
	}
	if st, _, body := h.do("POST", "composite/sobjects", map[string]any{"records": []any{}}); st != 403 || !strings.Contains(string(body), "ConcurrentRequests") {
		t.Fatalf("concurrent: %d %s", st, body)
	}
	_, tok := admin("POST", "token", map[string]any{})
	h.tok = tok["access_token"].(string)
	admin("POST", "faults", map[string]any{"expireSessions": true})
	if st, _, _ := h.do("GET", "limits", nil); st != 401 {
		t.Fatalf("expired session accepted: %d", st)
	}
	h.tok = "test-token"
	admin("POST", "faults", map[string]any{"tokenErrorNext": 1})
	if st, r := h.token(url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"p"}}); st != 400 || r["error"] != "invalid_grant" {
		t.Fatalf("token fault: %d %v", st, r)
	}
	_, stats := admin("GET", "stats", nil)
	reqs := stats["requests"].(map[string]any)
	if reqs["POST composite/sobjects"].(float64) < 3 || stats["faultsFired"].(map[string]any)["lockRow"].(float64) != 2 {
		t.Fatalf("stats: %v", stats)
	}
	admin("POST", "reset", map[string]any{})
	_, stats = admin("GET", "stats", nil)
	if stats["records"].(map[string]any)["Contact"].(float64) != 0 || stats["totalRequests"].(float64) != 0 {
		t.Fatalf("after reset: %v", stats)
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, func(o *Options) { o.StateDir = dir })
	res := h.create(false, rec("Contact", "LastName", "Kept", "External_Id__c", "P-1"), rec("Contact", "LastName", "Gone"))
	h.json("DELETE", "sobjects/Contact/"+res[1].Id, nil, 204, nil)
	_, tok := h.token(url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"p"}})
	h.srv.saveState()
	if _, err := os.Stat(filepath.Join(dir, "state.json")); err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, func(o *Options) { o.StateDir = dir })
	h2.tok = tok["access_token"]
	q := h2.query("SELECT Id, LastName FROM Contact WHERE External_Id__c = 'P-1'")
	if q.TotalSize != 1 || q.Records[0]["Id"] != res[0].Id {
		t.Fatalf("after restart: %+v", q)
	}
	var del []result
	h2.json("DELETE", "composite/sobjects?ids="+res[1].Id, nil, 200, &del)
	if code(del[0]) != "ENTITY_IS_DELETED" {
		t.Fatalf("deleted id after restart: %+v", del)
	}
	more := h2.create(false, rec("Contact", "LastName", "New", "External_Id__c", "P-1"))
	if code(more[0]) != "DUPLICATE_VALUE" {
		t.Fatalf("index not rebuilt: %+v", more)
	}
	more = h2.create(false, rec("Contact", "LastName", "New"))
	if more[0].Id == res[0].Id || more[0].Id == res[1].Id {
		t.Fatalf("id counter not restored: %s", more[0].Id)
	}
}
