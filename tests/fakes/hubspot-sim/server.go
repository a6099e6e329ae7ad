package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is the simulator: store, rate limiter, faults and counters.
type Server struct {
	opts    Options
	baseURL string

	mu    sync.Mutex // store and dirty
	store *Store
	dirty bool

	rlMu      sync.Mutex
	window    []time.Time // accepted non-search calls in the last 10 s
	rateLimit int
	daily     int
	dailyUsed int

	statsMu     sync.Mutex
	stats       map[string]int // "POST /crm/v3/objects/{type}/batch/upsert" -> calls
	total       int
	rejected429 int
	maxWindow   int // most accepted calls seen in one rolling 10 s
	inFlight    int
	maxInFlight int

	faults *Faults
}

func newServer(o Options, schema *Schema) *Server {
	return &Server{opts: o, store: newStore(schema), rateLimit: o.RateLimit, daily: o.DailyLimit,
		stats: map[string]int{}, faults: newFaults()}
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// writeJSON answers with HubSpot's content type on every non-204 response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = 500, []byte(`{"status":"error","message":"internal error","category":"INTERNAL_ERROR"}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

// apiErr is a whole-request error in HubSpot's body shape.
type apiErr struct {
	status   int
	category string // "" omits it (e.g. unknown object type)
	message  string
	context  map[string][]string
	errors   []map[string]any
}

func (e *apiErr) write(w http.ResponseWriter) {
	body := map[string]any{"status": "error", "message": e.message, "correlationId": newUUID()}
	if e.category != "" {
		body["category"] = e.category
	}
	if e.context != nil {
		body["context"] = e.context
	}
	if e.errors != nil {
		body["errors"] = e.errors
	}
	writeJSON(w, e.status, body)
}

func validationErr(msg string) *apiErr {
	return &apiErr{status: 400, category: "VALIDATION_ERROR", message: msg}
}

// endpoint names a request for the stats: the path with a record id replaced
// by a placeholder.
func endpoint(r *http.Request) string {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) >= 4 && parts[0] == "crm" && (parts[2] == "objects" || parts[2] == "properties") {
		if len(parts) == 5 && parts[4] != "search" && parts[4] != "batch" {
			parts[4] = "{id}"
		}
	}
	return r.Method + " /" + strings.Join(parts, "/")
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.LogRequests {
		log.Printf("%s %s", r.Method, r.URL.RequestURI())
	}
	if strings.HasPrefix(r.URL.Path, "/__admin/") {
		s.handleAdmin(w, r)
		return
	}
	s.statsMu.Lock()
	s.inFlight++
	if s.inFlight > s.maxInFlight {
		s.maxInFlight = s.inFlight
	}
	s.statsMu.Unlock()
	defer func() {
		s.statsMu.Lock()
		s.inFlight--
		s.statsMu.Unlock()
	}()
	if !s.authorized(r) {
		w.Header().Set("X-HubSpot-Auth-Failure", "401 Unauthorized")
		(&apiErr{status: 401, category: "INVALID_AUTHENTICATION", message: "Authentication credentials not found. " +
			"This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"}).write(w)
		return
	}
	search := strings.HasSuffix(r.URL.Path, "/search")
	if !search && !s.admit(w) {
		s.count(r, true)
		return
	}
	s.count(r, false)
	if s.faults.fire(w, r) {
		return
	}
	if e := s.route(w, r); e != nil {
		e.write(w)
	}
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return false
	}
	if s.opts.AccessToken != "" {
		return tok == s.opts.AccessToken
	}
	return true
}

func (s *Server) count(r *http.Request, rejected bool) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.total++
	if rejected {
		s.rejected429++
		return
	}
	s.stats[endpoint(r)]++
}

// admit applies the daily and the rolling ten-second limits and sets the
// X-HubSpot-RateLimit-* headers. A rejected call gets HubSpot's 429 and does
// not count against the window.
func (s *Server) admit(w http.ResponseWriter) bool {
	now := time.Now()
	s.rlMu.Lock()
	cut := now.Add(-10 * time.Second)
	i := 0
	for i < len(s.window) && !s.window[i].After(cut) {
		i++
	}
	s.window = s.window[i:]
	policy := ""
	switch {
	case s.dailyUsed >= s.daily:
		policy = "DAILY"
	case s.rateLimit > 0 && len(s.window) >= s.rateLimit:
		policy = "TEN_SECONDLY_ROLLING"
	default:
		s.window = append(s.window, now)
		s.dailyUsed++
	}
	h := w.Header()
	h.Set("X-HubSpot-RateLimit-Daily", strconv.Itoa(s.daily))
	h.Set("X-HubSpot-RateLimit-Daily-Remaining", strconv.Itoa(max(0, s.daily-s.dailyUsed)))
	if s.rateLimit > 0 {
		h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
		h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(s.rateLimit))
		h.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(max(0, s.rateLimit-len(s.window))))
	}
	var wait time.Duration
	if policy == "TEN_SECONDLY_ROLLING" {
		wait = s.window[0].Add(10 * time.Second).Sub(now)
	}
	n := len(s.window)
	s.rlMu.Unlock()
	s.statsMu.Lock()
	if n > s.maxWindow {
		s.maxWindow = n
	}
	s.statsMu.Unlock()
	if policy == "" {
		return true
	}
	msg := "You have reached your ten_secondly_rolling limit."
	if policy == "DAILY" {
		msg = "You have reached your daily limit."
	} else {
		// Real HubSpot does not promise Retry-After on 429; sending the exact
		// wait helps clients that honour it and is ignored by those that do not.
		h.Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
	}
	writeJSON(w, 429, map[string]any{"status": "error", "message": msg, "errorType": "RATE_LIMIT",
		"correlationId": newUUID(), "policyName": policy, "requestId": newUUID()})
	return false
}

// readJSON decodes the request body (numbers kept as json.Number).
func readJSON(r *http.Request, v any) *apiErr {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		return validationErr("could not read the request body: " + err.Error())
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return &apiErr{status: 400, category: "VALIDATION_ERROR", message: fmt.Sprintf("Invalid input JSON on line 1: %v", err)}
	}
	return nil
}

func (s *Server) objectType(name string) (*ObjectType, *apiErr) {
	o := s.store.schema.object(name)
	if o == nil {
		return nil, &apiErr{status: 400, message: "Unable to infer object type from: " + name}
	}
	return o, nil
}

// route dispatches /crm/v3/... requests.
func (s *Server) route(w http.ResponseWriter, r *http.Request) *apiErr {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 3 && parts[0] == "crm-object-schemas" && parts[1] == "v3" && parts[2] == "schemas" && r.Method == "GET" {
		s.handleSchemas(w)
		return nil
	}
	if len(parts) < 3 || parts[0] != "crm" || parts[1] != "v3" {
		return &apiErr{status: 404, category: "OBJECT_NOT_FOUND", message: "resource not found"}
	}
	switch {
	case parts[2] == "schemas" && len(parts) == 3 && r.Method == "GET":
		s.handleSchemas(w)
		return nil
	case parts[2] == "properties" && len(parts) >= 4:
		return s.handleProperties(w, r, parts[3:])
	case parts[2] == "objects" && len(parts) >= 4:
		o, e := s.objectType(parts[3])
		if e != nil {
			return e
		}
		rest := parts[4:]
		switch {
		case len(rest) == 0 && r.Method == "GET":
			return s.handleList(w, r, o)
		case len(rest) == 0 && r.Method == "POST":
			return s.handleCreateOne(w, r, o)
		case len(rest) == 1 && rest[0] == "search" && r.Method == "POST":
			return s.handleSearch(w, r, o)
		case len(rest) == 2 && rest[0] == "batch" && r.Method == "POST":
			return s.handleBatch(w, r, o, rest[1])
		case len(rest) == 1 && (r.Method == "GET" || r.Method == "PATCH" || r.Method == "DELETE"):
			return s.handleOne(w, r, o, rest[0])
		}
	}
	return &apiErr{status: 404, category: "OBJECT_NOT_FOUND", message: "resource not found"}
}

func (s *Server) handleSchemas(w http.ResponseWriter) {
	var out []map[string]any
	for _, o := range s.store.schema.list {
		if !strings.HasPrefix(o.TypeID, "2-") {
			continue
		}
		out = append(out, map[string]any{"id": strings.TrimPrefix(o.TypeID, "2-"), "objectTypeId": o.TypeID,
			"name": o.Name, "fullyQualifiedName": "p" + strconv.Itoa(s.opts.PortalID) + "_" + o.Name,
			"labels": map[string]string{"singular": o.Singular, "plural": o.Name}, "archived": false,
			"createdAt": "2020-01-01T00:00:00Z", "updatedAt": "2020-01-01T00:00:00Z"})
	}
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, 200, map[string]any{"results": out})
}

func (s *Server) handleProperties(w http.ResponseWriter, r *http.Request, rest []string) *apiErr {
	o, e := s.objectType(rest[0])
	if e != nil {
		return e
	}
	if r.Method != "GET" || len(rest) > 2 {
		return &apiErr{status: 405, category: "VALIDATION_ERROR", message: "only reading properties is simulated"}
	}
	if len(rest) == 2 {
		p := o.Props[rest[1]]
		if p == nil {
			return &apiErr{status: 404, category: "OBJECT_NOT_FOUND", message: fmt.Sprintf("Unable to find property %s for object type %s", rest[1], o.TypeID)}
		}
		writeJSON(w, 200, p.propertyJSON())
		return nil
	}
	out := make([]map[string]any, 0, len(o.order))
	for _, n := range o.order {
		out = append(out, o.Props[n].propertyJSON())
	}
	writeJSON(w, 200, map[string]any{"results": out})
	return nil
}
