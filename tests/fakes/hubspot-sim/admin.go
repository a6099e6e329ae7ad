package main

import (
	"encoding/json"
	"net/http"
	"strings"
)

// handleAdmin serves the test-only /__admin/ API (no auth, not rate limited,
// not counted).
func (s *Server) handleAdmin(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/__admin/")
	switch {
	case p == "health":
		writeJSON(w, 200, map[string]string{"status": "ok", "baseUrl": s.baseURL})
	case p == "faults" && r.Method == "GET":
		writeJSON(w, 200, s.faults.snapshot())
	case p == "faults" && r.Method == "POST":
		var c FaultConfig
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		if err := s.faults.apply(&c, s.store.schema); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		s.rlMu.Lock()
		if c.RateLimit != nil {
			s.rateLimit = *c.RateLimit
		}
		if c.DailyRemaining != nil {
			s.dailyUsed = max(0, s.daily-*c.DailyRemaining)
		}
		s.rlMu.Unlock()
		writeJSON(w, 200, s.faults.snapshot())
	case p == "faults" && r.Method == "DELETE":
		s.faults.mu.Lock()
		s.faults.clear()
		s.faults.mu.Unlock()
		writeJSON(w, 200, s.faults.snapshot())
	case p == "stats" && r.Method == "GET":
		writeJSON(w, 200, s.statsSnapshot())
	case p == "reset" && r.Method == "POST":
		s.reset(r.URL.Query().Get("keep") == "records")
		writeJSON(w, 200, map[string]bool{"ok": true})
	case strings.HasPrefix(p, "records/") && r.Method == "GET":
		o := s.store.schema.object(strings.TrimPrefix(p, "records/"))
		if o == nil {
			writeJSON(w, 404, map[string]string{"error": "unknown object type " + p})
			return
		}
		s.mu.Lock()
		t := s.store.table(o)
		out := []map[string]any{}
		for _, rec := range t.live() {
			out = append(out, t.recordJSON(rec, nil, false))
		}
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{"results": out})
	default:
		writeJSON(w, 404, map[string]string{"error": "unknown admin endpoint " + r.Method + " " + r.URL.Path})
	}
}

func (s *Server) statsSnapshot() map[string]any {
	s.statsMu.Lock()
	req := map[string]int{}
	for k, v := range s.stats {
		req[k] = v
	}
	out := map[string]any{"requests": req, "totalRequests": s.total, "rateLimited": s.rejected429,
		"maxInWindow": s.maxWindow, "maxInFlight": s.maxInFlight}
	s.statsMu.Unlock()
	s.rlMu.Lock()
	out["dailyUsed"] = s.dailyUsed
	out["rateLimit"] = s.rateLimit
	s.rlMu.Unlock()
	s.mu.Lock()
	recs := map[string]int{}
	for _, o := range s.store.schema.list {
		recs[o.Name] = len(s.store.table(o).byID)
	}
	out["records"] = recs
	out["archived"] = s.store.archived
	out["recordWrites"] = s.store.writes
	s.mu.Unlock()
	out["faultsFired"] = s.faults.snapshot()["fired"]
	return out
}

// reset clears records (unless keepRecords), faults, counters and the limiter.
func (s *Server) reset(keepRecords bool) {
	s.mu.Lock()
	if !keepRecords {
		s.store.reset()
	}
	s.dirty = true
	s.mu.Unlock()
	s.faults.mu.Lock()
	s.faults.clear()
	s.faults.fired = map[string]int{}
	s.faults.mu.Unlock()
	s.statsMu.Lock()
	s.stats = map[string]int{}
	s.total, s.rejected429, s.maxWindow, s.maxInFlight = 0, 0, 0, 0
	s.statsMu.Unlock()
	s.rlMu.Lock()
	s.window = nil
	s.dailyUsed = 0
	s.rateLimit = s.opts.RateLimit
	s.rlMu.Unlock()
}
