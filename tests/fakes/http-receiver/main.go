// http-receiver is the test endpoint for retl's generic HTTP destination
// (DESIGN §8.2). It checks the bearer token and the X-Retl-Signature HMAC of
// every batch, keeps the records it accepted, and injects faults on request:
// per-key failures, 429/5xx answers, slow, hanging and garbage responses.
//
//	http-receiver --listen ADDR [--bearer-token T] [--hmac-secret S] [--tls-self-signed DIR]
//
// It prints its base URL as the only stdout line. Admin API (no auth):
//
//	GET  /__admin/records   {"records": {key: fields}, "requests": N, "batches": N, "badAuth": N, "lastHeaders": {...}}
//	POST /__admin/faults    {"failKeys": [..], "status": 429|500.., "statusNext": N, "retryAfter": "1",
//	                         "delayMs": N, "hangNext": N, "garbageNext": N}
//	POST /__admin/reset
package main

import (
	"retl/tests/fakes/simnet"

	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"
)

type faults struct {
	FailKeys    []string `json:"failKeys"`
	Status      int      `json:"status"`
	StatusNext  int      `json:"statusNext"`
	RetryAfter  string   `json:"retryAfter"`
	DelayMs     int      `json:"delayMs"`
	HangNext    int      `json:"hangNext"`
	GarbageNext int      `json:"garbageNext"`
}

type batch struct {
	Job       string `json:"job"`
	Run       int64  `json:"run"`
	Operation string `json:"operation"`
	Records   []struct {
		Key    string         `json:"key"`
		Fields map[string]any `json:"fields"`
	} `json:"records"`
}

type receiver struct {
	bearer, secret string
	mu             sync.Mutex
	records        map[string]map[string]any
	requests       int
	batches        int
	badAuth        int
	statusSent     int
	lastHeaders    map[string]string
	lastJob        string
	f              faults
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (rc *receiver) admin(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	switch strings.TrimPrefix(r.URL.Path, "/__admin/") {
	case "records":
		writeJSON(w, 200, map[string]any{"records": rc.records, "requests": rc.requests, "batches": rc.batches,
			"badAuth": rc.badAuth, "faultAnswers": rc.statusSent, "lastHeaders": rc.lastHeaders, "lastJob": rc.lastJob})
	case "faults":
		var f faults
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		if f.Status == 0 {
			f.Status = 503
		}
		rc.f = f
		writeJSON(w, 200, f)
	case "reset":
		rc.records = map[string]map[string]any{}
		rc.requests, rc.batches, rc.badAuth, rc.statusSent = 0, 0, 0, 0
		rc.f = faults{Status: 503}
		writeJSON(w, 200, map[string]bool{"ok": true})
	default:
		writeJSON(w, 404, map[string]string{"error": "unknown admin endpoint"})
	}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/__admin/") {
		rc.admin(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		writeJSON(w, 400, map[string]string{"error": err.Error()})
		return
	}
	rc.mu.Lock()
	rc.requests++
	rc.lastHeaders = map[string]string{}
	for k := range r.Header {
		rc.lastHeaders[strings.ToLower(k)] = r.Header.Get(k)
	}
	f := rc.f
	hang, garbage, fault := false, false, false
	switch {
	case rc.f.HangNext > 0:
		rc.f.HangNext--
		hang = true
	case rc.f.StatusNext > 0:
		rc.f.StatusNext--
		rc.statusSent++
		fault = true
	case rc.f.GarbageNext > 0:
		rc.f.GarbageNext--
		garbage = true
	}
	rc.mu.Unlock()
	if f.DelayMs > 0 {
		time.Sleep(time.Duration(f.DelayMs) * time.Millisecond)
	}
	if hang {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Minute):
		}
		return
	}
	if r.Method != "POST" {
		writeJSON(w, 405, map[string]string{"error": "POST only"})
		return
	}
	if rc.bearer != "" && r.Header.Get("Authorization") != "Bearer "+rc.bearer {
		rc.count401()
		writeJSON(w, 401, map[string]string{"error": "bad bearer token"})
		return
	}
	if rc.secret != "" {
		mac := hmac.New(sha256.New, []byte(rc.secret))
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(r.Header.Get("X-Retl-Signature")), []byte(want)) {
			rc.count401()
			writeJSON(w, 401, map[string]string{"error": "X-Retl-Signature does not match the body"})
			return
		}
	}
	if fault {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		writeJSON(w, f.Status, map[string]string{"error": fmt.Sprintf("injected %d", f.Status)})
		return
	}
	if garbage {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.Write([]byte(`{"results": "<html>not a list</html>"}`))
		return
	}
	var b batch
	if err := json.Unmarshal(body, &b); err != nil {
		writeJSON(w, 400, map[string]string{"error": "body is not a retl batch: " + err.Error()})
		return
	}
	fail := map[string]bool{}
	for _, k := range f.FailKeys {
		fail[k] = true
	}
	var results []map[string]string
	rc.mu.Lock()
	rc.batches++
	rc.lastJob = b.Job
	for _, rec := range b.Records {
		if fail[rec.Key] {
			results = append(results, map[string]string{"key": rec.Key, "error": "rejected by the receiver: key " + rec.Key + " is on the fail list"})
			continue
		}
		if b.Operation == "delete" {
			delete(rc.records, rec.Key)
		} else {
			rc.records[rec.Key] = rec.Fields
		}
	}
	rc.mu.Unlock()
	if results != nil {
		writeJSON(w, 200, map[string]any{"results": results})
		return
	}
	writeJSON(w, 200, map[string]any{"accepted": len(b.Records)})
}

func (rc *receiver) count401() {
	rc.mu.Lock()
	rc.badAuth++
	rc.mu.Unlock()
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	bearer := flag.String("bearer-token", "", "require Authorization: Bearer T")
	secret := flag.String("hmac-secret", "", "require X-Retl-Signature: sha256=<hex HMAC-SHA256 of the body>")
	tlsDir := flag.String("tls-self-signed", "", "generate DIR/ca.pem, cert.pem, key.pem and serve HTTPS")
	flag.Parse()
	log.SetPrefix("http-receiver: ")
	rc := &receiver{bearer: *bearer, secret: *secret, records: map[string]map[string]any{}, f: faults{Status: 503}}
	simnet.Serve(*listen, simnet.TLS{SelfSignedDir: *tlsDir, CAName: "http-receiver test CA"}, rc, nil, nil)
}
