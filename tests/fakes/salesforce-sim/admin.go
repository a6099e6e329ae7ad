package main

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"
)

// handleAdmin serves the test-only /__admin/ API (no auth, not counted as API usage).
func (s *Server) handleAdmin(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/__admin/")
	switch {
	case p == "faults" && r.Method == "GET":
		writeJSON(w, 200, s.faults.snapshot())
	case p == "faults" && r.Method == "POST":
		body, e := readBody(r, 1<<20)
		if e != nil {
			writeReqErr(w, e)
			return
		}
		var c FaultConfig
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		if err := s.faults.apply(&c, s.store.schema); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		if c.ExpireSessions {
			s.expireSessions()
		}
		if c.DailyAPILimit != nil {
			s.statsMu.Lock()
			s.apiMax = *c.DailyAPILimit
			s.statsMu.Unlock()
		}
		writeJSON(w, 200, s.faults.snapshot())
	case p == "faults" && r.Method == "DELETE":
		s.faults.mu.Lock()
		s.faults.clear()
		s.faults.mu.Unlock()
		writeJSON(w, 200, s.faults.snapshot())
	case p == "expire-sessions" && r.Method == "POST":
		n := s.expireSessions()
		writeJSON(w, 200, map[string]int{"expired": n})
	case p == "stats" && r.Method == "GET":
		writeJSON(w, 200, s.statsSnapshot())
	case p == "reset" && r.Method == "POST":
		s.reset(r.URL.Query().Get("keep") == "records")
		writeJSON(w, 200, map[string]bool{"ok": true})
	case p == "token" && r.Method == "POST":
		tok := s.store.orgId[:15] + "!AQ" + randomToken(72)
		s.tokMu.Lock()
		s.sessions[tok] = &session{User: "admin", Issued: s.now()}
		s.tokMu.Unlock()
		writeJSON(w, 200, map[string]string{"access_token": tok, "instance_url": s.baseURL})
	case p == "api-usage" && r.Method == "POST":
		var req struct {
			Used *int `json:"used"`
			Max  *int `json:"max"`
		}
		body, _ := readBody(r, 1<<16)
		if err := json.Unmarshal(body, &req); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		s.statsMu.Lock()
		if req.Used != nil {
			s.apiUsed = *req.Used
		}
		if req.Max != nil {
			s.apiMax = *req.Max
		}
		s.statsMu.Unlock()
		writeJSON(w, 200, s.statsSnapshot())
	case p == "health":
		writeJSON(w, 200, map[string]string{"status": "ok", "baseUrl": s.baseURL})
	default:
		writeJSON(w, 404, map[string]string{"error": "unknown admin endpoint " + r.Method + " " + r.URL.Path})
	}
}

func (s *Server) expireSessions() int {
	s.tokMu.Lock()
	n := len(s.sessions)
	s.sessions = map[string]*session{}
	s.tokMu.Unlock()
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
	return n
}

func (s *Server) statsSnapshot() map[string]any {
	s.statsMu.Lock()
	req := map[string]int{}
	for k, v := range s.stats {
		req[k] = v
	}
	total, used, max := s.total, s.apiUsed, s.apiMax
	s.statsMu.Unlock()
	s.mu.Lock()
	recs := map[string]int{}
	names := s.store.schema.sortedNames()
	sort.Strings(names)
	for _, n := range names {
		recs[n] = s.store.table(s.store.schema.object(n)).live()
	}
	jobs := map[string]int{}
	for _, j := range s.jobList {
		jobs[j.State]++
	}
	writes := s.store.writes
	s.mu.Unlock()
	s.tokMu.Lock()
	nsess := len(s.sessions)
	s.tokMu.Unlock()
	return map[string]any{"requests": req, "totalRequests": total, "apiUsage": map[string]int{"used": used, "max": max},
		"records": recs, "bulkJobs": jobs, "recordWrites": writes, "sessions": nsess, "faultsFired": s.faults.snapshot()["fired"]}
}

// reset clears records (unless keepRecords), bulk jobs, cursors, faults, counters
// and API usage. Sessions stay valid.
func (s *Server) reset(keepRecords bool) {
	s.mu.Lock()
	if !keepRecords {
		s.store.reset()
		s.store.writes = 0
	}
	for _, j := range s.jobList {
		if j.State == "UploadComplete" || j.State == "InProgress" {
			j.State = "Aborted"
		}
	}
	for _, j := range s.qjobList {
		if j.State == "UploadComplete" || j.State == "InProgress" {
			j.State = "Aborted"
		}
	}
	s.jobs = map[string]*Job{}
	s.jobList = nil
	s.qjobs = map[string]*QueryJob{}
	s.qjobList = nil
	s.cursors = map[string]*cursor{}
	s.dirty = true
	s.mu.Unlock()
	s.faults.mu.Lock()
	s.faults.clear()
	s.faults.fired = map[string]int{}
	s.faults.mu.Unlock()
	s.statsMu.Lock()
	s.stats = map[string]int{}
	s.total = 0
	s.apiUsed = 0
	s.apiMax = s.opts.DailyLimit
	s.statsMu.Unlock()
	if s.opts.StaticToken != "" {
		s.tokMu.Lock()
		s.sessions[s.opts.StaticToken] = &session{User: "static", Issued: time.Now()}
		s.tokMu.Unlock()
	}
}
