package main

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options are the command-line settings.
type Options struct {
	Listen         string
	SchemaFile     string
	JWTPublicKey   string
	StateDir       string
	TLSCert        string
	TLSKey         string
	TLSSelfSigned  string
	DailyLimit     int
	ClientId       string
	ClientSecret   string
	Username       string
	Password       string
	RefreshToken   string
	StaticToken    string
	Audiences      string
	SessionTTL     time.Duration
	BulkDelay      time.Duration
	QueryBatchSize int
	LogRequests    bool
}

type session struct {
	User     string    `json:"user"`
	ClientId string    `json:"clientId"`
	Issued   time.Time `json:"issued"`
}

// Server is the whole simulated org.
type Server struct {
	opts    Options
	baseURL string

	mu       sync.Mutex // store, jobs, cursors
	store    *Store
	jobs     map[string]*Job
	jobList  []*Job
	qjobs    map[string]*QueryJob
	qjobList []*QueryJob
	jobSeq   uint64
	cursors  map[string]*cursor
	curSeq   uint64
	dirty    bool

	faults *Faults

	statsMu  sync.Mutex
	stats    map[string]int
	total    int
	apiUsed  int
	apiMax   int
	tokMu    sync.Mutex
	sessions map[string]*session

	now     func() time.Time
	started time.Time
}

func newServer(opts Options, schema *Schema) *Server {
	s := &Server{opts: opts, store: newStore(schema), faults: newFaults(), now: time.Now, started: time.Now()}
	s.jobs = map[string]*Job{}
	s.qjobs = map[string]*QueryJob{}
	s.cursors = map[string]*cursor{}
	s.stats = map[string]int{}
	s.sessions = map[string]*session{}
	s.apiMax = opts.DailyLimit
	if opts.StaticToken != "" {
		s.sessions[opts.StaticToken] = &session{User: "static", Issued: time.Now()}
	}
	return s
}

const minVersion, maxVersion = 20, 67

func versionLabel(v int) string {
	seasons := []string{"Winter", "Spring", "Summer"}
	d := v - 59
	idx := ((d % 3) + 3) % 3
	year := 24 + (d-idx)/3
	return fmt.Sprintf("%s '%02d", seasons[idx], year)
}

// ---- response helpers ----

func writeJSON(w http.ResponseWriter, status int, v any) {
	var body []byte
	switch b := v.(type) {
	case []byte:
		body = b
	default:
		var err error
		body, err = json.Marshal(v)
		if err != nil {
			status, body = 500, []byte(`[{"errorCode":"UNKNOWN_EXCEPTION","message":"encoding failed"}]`)
		}
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	w.Write(body)
}

type apiError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, msg string, fields ...string) {
	writeJSON(w, status, []apiError{{Message: msg, ErrorCode: code, Fields: fields}})
}

func writeReqErr(w http.ResponseWriter, e *reqErr) {
	writeError(w, e.Status, e.Code, e.Message, e.Fields...)
}

func notFound(w http.ResponseWriter) {
	writeError(w, 404, "NOT_FOUND", "The requested resource does not exist")
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed string) {
	w.Header().Set("Allow", allowed)
	writeError(w, 405, "METHOD_NOT_ALLOWED", fmt.Sprintf("HTTP Method '%s' not allowed. Allowed are %s", r.Method, allowed))
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.NewReplacer("-", "x", "_", "y").Replace(base64.RawURLEncoding.EncodeToString(b))
}

func (s *Server) count(key string) {
	s.statsMu.Lock()
	s.stats[key]++
	s.total++
	s.statsMu.Unlock()
}

// ---- routing ----

var versionRe = regexp.MustCompile(`^v(\d+)\.0$`)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.LogRequests {
		log.Printf("%s %s", r.Method, r.URL.RequestURI())
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/__admin/"):
		s.handleAdmin(w, r)
	case p == "/services/oauth2/token":
		s.count("POST oauth2/token")
		if d := s.faults.delay(); d > 0 {
			time.Sleep(time.Duration(d) * time.Millisecond)
		}
		s.handleToken(w, r)
	case p == "/services/oauth2/revoke":
		s.count("POST oauth2/revoke")
		s.handleRevoke(w, r)
	case strings.HasPrefix(p, "/services/Soap/u/"):
		s.count("POST soap login")
		s.handleSoapLogin(w, r)
	case p == "/services/data" || p == "/services/data/":
		s.count("GET versions")
		s.handleVersions(w, r)
	case strings.HasPrefix(p, "/services/data/"):
		s.handleAPI(w, r)
	case strings.HasPrefix(p, "/id/"):
		s.count("GET identity")
		s.handleIdentity(w, r)
	default:
		notFound(w)
	}
}

func (s *Server) handleVersions(w http.ResponseWriter, r *http.Request) {
	out := []map[string]string{}
	for v := 31; v <= maxVersion; v++ {
		out = append(out, map[string]string{"label": versionLabel(v), "url": fmt.Sprintf("/services/data/v%d.0", v), "version": fmt.Sprintf("%d.0", v)})
	}
	writeJSON(w, 200, out)
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "OAuth "} {
		if len(h) > len(p) && strings.EqualFold(h[:len(p)], p) {
			return strings.TrimSpace(h[len(p):])
		}
	}
	return ""
}

func (s *Server) validSession(tok string) bool {
	if tok == "" {
		return false
	}
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	sess := s.sessions[tok]
	if sess == nil {
		return false
	}
	if s.opts.SessionTTL > 0 && s.now().Sub(sess.Issued) > s.opts.SessionTTL {
		delete(s.sessions, tok)
		return false
	}
	return true
}

func (s *Server) limitHeader(w http.ResponseWriter) {
	s.statsMu.Lock()
	used, max := s.apiUsed, s.apiMax
	s.statsMu.Unlock()
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", used, max))
}

// handleAPI is every /services/data/vXX.X/... request: auth, the daily limit, faults,
// then the resource.
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/services/data/")
	seg := strings.SplitN(rest, "/", 2)
	m := versionRe.FindStringSubmatch(seg[0])
	if m == nil {
		s.count("invalid version")
		notFound(w)
		return
	}
	ver, _ := strconv.Atoi(m[1])
	if ver < minVersion || ver > maxVersion {
		s.count("invalid version")
		notFound(w)
		return
	}
	// Clients that cannot send PATCH use POST ...?_HttpMethod=PATCH.
	if r.Method == "POST" && r.URL.Query().Get("_HttpMethod") != "" {
		r.Method = strings.ToUpper(r.URL.Query().Get("_HttpMethod"))
	}
	path := ""
	if len(seg) == 2 {
		path = strings.Trim(seg[1], "/")
	}
	route := routeName(r.Method, path)
	s.count(route)
	if d := s.faults.delay(); d > 0 {
		time.Sleep(time.Duration(d) * time.Millisecond)
	}
	if !s.validSession(bearer(r)) {
		s.limitHeader(w)
		writeError(w, 401, "INVALID_SESSION_ID", "Session expired or invalid")
		return
	}
	s.statsMu.Lock()
	overLimit := s.apiUsed >= s.apiMax
	if !overLimit {
		s.apiUsed++
	}
	s.statsMu.Unlock()
	s.limitHeader(w)
	if overLimit {
		writeError(w, 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
		return
	}
	if status, code, msg := s.faults.requestFault(path); status != 0 {
		writeError(w, status, code, msg)
		return
	}
	ctx := &reqCtx{ver: ver, vpath: fmt.Sprintf("/services/data/v%d.0", ver)}
	s.route(w, r, ctx, path)
}

type reqCtx struct {
	ver   int
	vpath string // /services/data/vXX.X
}

// routeName is the stats key of a request: method plus the path with names and Ids
// replaced by placeholders.
func routeName(method, path string) string {
	parts := strings.Split(path, "/")
	switch {
	case path == "":
		return method + " /"
	case parts[0] == "sobjects":
		switch len(parts) {
		case 1:
			return method + " sobjects"
		case 2:
			return method + " sobjects/{object}"
		case 3:
			if parts[2] == "describe" {
				return method + " sobjects/{object}/describe"
			}
			return method + " sobjects/{object}/{id}"
		default:
			return method + " sobjects/{object}/{field}/{value}"
		}
	case parts[0] == "composite" && len(parts) >= 2 && parts[1] == "sobjects":
		switch len(parts) {
		case 2:
			return method + " composite/sobjects"
		case 3:
			return method + " composite/sobjects/{object}"
		default:
			return method + " composite/sobjects/{object}/{field}"
		}
	case parts[0] == "query" || parts[0] == "queryAll":
		if len(parts) > 1 {
			return method + " " + parts[0] + "/{locator}"
		}
		return method + " " + parts[0]
	case parts[0] == "jobs" && len(parts) >= 2:
		switch len(parts) {
		case 2:
			return method + " jobs/" + parts[1]
		case 3:
			return method + " jobs/" + parts[1] + "/{id}"
		default:
			return method + " jobs/" + parts[1] + "/{id}/" + parts[3]
		}
	}
	return method + " " + parts[0]
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, ctx *reqCtx, path string) {
	parts := strings.Split(path, "/")
	if path == "" {
		if r.Method != "GET" {
			methodNotAllowed(w, r, "GET,HEAD")
			return
		}
		v := ctx.vpath
		writeJSON(w, 200, map[string]string{
			"sobjects": v + "/sobjects", "query": v + "/query", "queryAll": v + "/queryAll", "limits": v + "/limits",
			"composite": v + "/composite", "jobs": v + "/jobs", "search": v + "/search", "recent": v + "/recent",
			"tooling": v + "/tooling", "identity": s.baseURL + "/id/" + s.store.orgId + "/" + s.store.userId,
		})
		return
	}
	switch parts[0] {
	case "sobjects":
		s.routeSObjects(w, r, ctx, parts[1:])
	case "composite":
		if len(parts) >= 2 && parts[1] == "sobjects" {
			s.routeCollections(w, r, ctx, parts[2:])
			return
		}
		notFound(w)
	case "query", "queryAll":
		if r.Method != "GET" {
			methodNotAllowed(w, r, "GET,HEAD")
			return
		}
		if len(parts) == 2 {
			s.handleQueryMore(w, r, ctx, parts[1])
			return
		}
		if len(parts) > 2 {
			notFound(w)
			return
		}
		s.handleQuery(w, r, ctx)
	case "limits":
		s.handleLimits(w, r)
	case "jobs":
		if len(parts) >= 2 && parts[1] == "ingest" {
			s.routeBulk(w, r, ctx, parts[2:])
			return
		}
		if len(parts) >= 2 && parts[1] == "query" {
			s.routeBulkQuery(w, r, ctx, parts[2:])
			return
		}
		notFound(w)
	default:
		notFound(w)
	}
}

func (s *Server) handleLimits(w http.ResponseWriter, r *http.Request) {
	s.statsMu.Lock()
	used, max := s.apiUsed, s.apiMax
	s.statsMu.Unlock()
	lim := func(m, rem int) map[string]int { return map[string]int{"Max": m, "Remaining": rem} }
	s.mu.Lock()
	nJobs := len(s.jobList)
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{
		"DailyApiRequests":                  lim(max, max-used),
		"DailyBulkApiBatches":               lim(15000, 15000-nJobs),
		"DailyBulkV2QueryJobs":              lim(10000, 10000),
		"DailyBulkV2QueryFileStorageMB":     lim(976562, 976562),
		"DataStorageMB":                     lim(1024, 1024),
		"FileStorageMB":                     lim(1024, 1024),
		"ConcurrentAsyncGetReportInstances": lim(200, 200),
	})
}

// readBody reads a request body up to max bytes, gunzipping Content-Encoding: gzip
// bodies as Salesforce does.
func readBody(r *http.Request, max int64) ([]byte, *reqErr) {
	var src io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, newReqErr(400, "JSON_PARSER_ERROR", "invalid gzip body: "+err.Error())
		}
		defer zr.Close()
		src = zr
	}
	body, err := io.ReadAll(io.LimitReader(src, max+1))
	if err != nil {
		return nil, newReqErr(400, "JSON_PARSER_ERROR", "could not read request body: "+err.Error())
	}
	if int64(len(body)) > max {
		return nil, newReqErr(413, "REQUEST_TOO_LARGE", "request body too large")
	}
	return body, nil
}

// decodeJSON parses a JSON body keeping numbers exact.
func decodeJSON(body []byte, v any) *reqErr {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		msg := err.Error()
		if se, ok := err.(*json.SyntaxError); ok {
			line, col := lineCol(body, se.Offset)
			msg = fmt.Sprintf("Unexpected character: %s at [line:%d, column:%d]", se.Error(), line, col)
		} else if te, ok := err.(*json.UnmarshalTypeError); ok {
			line, col := lineCol(body, te.Offset)
			msg = fmt.Sprintf("Cannot deserialize instance of %s from %s value at [line:%d, column:%d]", te.Type, te.Value, line, col)
		}
		return newReqErr(400, "JSON_PARSER_ERROR", msg)
	}
	return nil
}

func lineCol(b []byte, off int64) (int, int) {
	line, col := 1, 1
	for i := int64(0); i < off && i < int64(len(b)); i++ {
		if b[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}
