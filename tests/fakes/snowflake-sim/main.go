// snowflake-sim: a stand-in for the Snowflake SQL API v2, backed by a
// PostgreSQL database. It speaks what retl's snowflake source uses:
// POST /api/v2/statements (KEYPAIR_JWT checked against the test public key,
// MULTI_STATEMENT_COUNT, async=true), GET /api/v2/statements/{handle}
// (202 until done, 422 with sqlState on failure, ?partition=N served gzip
// when asked), jsonv2 results where every cell is a string typed by rowType.
// Snowflake SQL is translated (translate.go): MINUS, CREATE TRANSIENT TABLE,
// TO_VARCHAR/TO_JSON/HASH, case folding of quoted upper-case identifiers,
// backslash escapes in literals.
//
//	snowflake-sim -pg URL -public-key key.pub -account ACME -user RETL \
//	  [-listen 127.0.0.1:0] [-addr-file F] [-partition-rows 1000] [-async-every N]
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

type column struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Scale     int    `json:"scale"`
	Precision int    `json:"precision"`
	Nullable  bool   `json:"nullable"`
	Length    *int   `json:"length"`
}

type statement struct {
	handle   string
	done     chan struct{}
	err      *apiError
	cols     []column
	parts    [][][]*string
	numRows  int
	multi    []string // handles of the statements of a multi-statement request
	dmlCount int64
	created  int64
}

type apiError struct {
	Code     string `json:"code"`
	SQLState string `json:"sqlState"`
	Message  string `json:"message"`
	status   int
}

type sim struct {
	pool      *pgxpool.Pool
	pub       *rsa.PublicKey
	fp        string
	account   string
	user      string
	partRows  int
	asyncN    int64
	mu        sync.Mutex
	stmts     map[string]*statement
	nStmt     atomic.Int64
	nAsync    atomic.Int64
	nParts    atomic.Int64
	nGzip     atomic.Int64
	n422      atomic.Int64
	nAuthFail atomic.Int64
	nMulti    atomic.Int64
	nPolls    atomic.Int64
	nBound    atomic.Int64
}

func uuid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// auth checks the KEYPAIR_JWT: RS256 signature by the test key, iss/sub
// claims naming account, user and the key fingerprint, and a live exp.
func (s *sim) auth(r *http.Request) error {
	if r.Header.Get("User-Agent") == "" {
		return errors.New("User-Agent is required")
	}
	if t := r.Header.Get("X-Snowflake-Authorization-Token-Type"); t != "" && t != "KEYPAIR_JWT" {
		return fmt.Errorf("unsupported token type %q", t)
	}
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Bearer ") {
		return errors.New("missing bearer token")
	}
	parts := strings.Split(strings.TrimPrefix(h, "Bearer "), ".")
	if len(parts) != 3 {
		return errors.New("malformed JWT")
	}
	dec := base64.RawURLEncoding
	hdr, err1 := dec.DecodeString(parts[0])
	pay, err2 := dec.DecodeString(parts[1])
	sig, err3 := dec.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return errors.New("JWT is not base64url")
	}
	var hd struct{ Alg, Typ string }
	if json.Unmarshal(hdr, &hd) != nil || hd.Alg != "RS256" {
		return errors.New("JWT alg must be RS256")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(s.pub, crypto.SHA256, sum[:], sig) != nil {
		return errors.New("JWT signature does not verify")
	}
	var c struct {
		Iss, Sub string
		Iat, Exp int64
	}
	if json.Unmarshal(pay, &c) != nil {
		return errors.New("JWT claims are not JSON")
	}
	want := s.account + "." + s.user
	if c.Sub != want {
		return fmt.Errorf("sub %q, want %q", c.Sub, want)
	}
	if c.Iss != want+"."+s.fp {
		return fmt.Errorf("iss %q, want %q", c.Iss, want+"."+s.fp)
	}
	now := time.Now().Unix()
	if c.Exp <= now || c.Iat > now+60 || c.Exp-c.Iat > 3660 {
		return errors.New("JWT expired or lifetime over one hour")
	}
	return nil
}

func (s *sim) register(st *statement) {
	s.mu.Lock()
	s.stmts[st.handle] = st
	s.mu.Unlock()
}

func (s *sim) lookup(h string) *statement {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stmts[h]
}

func pgToAPI(err error) *apiError {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		code := "002003"
		if pe.Code == "42601" {
			code = "001003"
		}
		return &apiError{Code: code, SQLState: pe.Code, Message: "SQL compilation error: " + pe.Message, status: 422}
	}
	return &apiError{Code: "000603", SQLState: "XX000", Message: err.Error(), status: 422}
}

// execute runs the request's statements on one connection, as Snowflake runs
// a multi-statement request in one session.
func (s *sim) execute(st *statement, text string, want int, args []any) {
	defer close(st.done)
	stmts := splitStatements(text)
	if want != 1 || len(stmts) > 1 {
		if want != 0 && want != len(stmts) {
			st.err = &apiError{Code: "000008", SQLState: "0A000", status: 422,
				Message: fmt.Sprintf("Actual statement count %d did not match the desired statement count %d.", len(stmts), want)}
			return
		}
	}
	ctx := context.Background()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		st.err = pgToAPI(err)
		return
	}
	defer conn.Release()
	if len(stmts) == 1 && want == 1 {
		st.err = s.runOne(ctx, conn.Conn(), stmts[0], st, args)
		return
	}
	if len(args) > 0 {
		st.err = &apiError{Code: "000002", SQLState: "0A000", status: 422,
			Message: "Bind variables are not supported in multi-statement requests."}
		return
	}
	s.nMulti.Add(1)
	inTx := false
	for _, q := range stmts {
		sub := &statement{handle: uuid(), done: make(chan struct{}), created: time.Now().UnixMilli()}
		up := strings.ToUpper(strings.TrimSpace(q))
		if strings.HasPrefix(up, "BEGIN") {
			inTx = true
		} else if strings.HasPrefix(up, "COMMIT") || strings.HasPrefix(up, "ROLLBACK") {
			inTx = false
		}
		sub.err = s.runOne(ctx, conn.Conn(), q, sub, nil)
		close(sub.done)
		s.register(sub)
		st.multi = append(st.multi, sub.handle)
		if sub.err != nil {
			if inTx {
				_, _ = conn.Exec(ctx, "ROLLBACK")
			}
			st.err = sub.err
			return
		}
	}
	msg := "Multiple statements executed successfully."
	st.cols = []column{{Name: "multiple statement execution", Type: "text", Nullable: false}}
	st.parts = [][][]*string{{{&msg}}}
	st.numRows = 1
}

func (s *sim) runOne(ctx context.Context, conn *pgx.Conn, q string, st *statement, args []any) *apiError {
	s.nStmt.Add(1)
	sql := translate(q)
	if len(args) > 0 {
		var n int
		sql, n = placeholders(sql)
		if n != len(args) {
			return &apiError{Code: "002049", SQLState: "22000", status: 422,
				Message: fmt.Sprintf("Bind variable count %d does not match the %d placeholders.", len(args), n)}
		}
		s.nBound.Add(1)
	}
	rows, err := conn.Query(ctx, sql, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
	if err != nil {
		s.n422.Add(1)
		return pgToAPI(err)
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	for _, fd := range fds {
		st.cols = append(st.cols, columnOf(fd))
	}
	var part [][]*string
	for rows.Next() {
		raw := rows.RawValues()
		row := make([]*string, len(raw))
		for i, v := range raw {
			if v == nil {
				continue
			}
			cell := encodeCell(st.cols[i].Type, string(v))
			row[i] = &cell
		}
		part = append(part, row)
		st.numRows++
		if len(part) == s.partRows {
			st.parts = append(st.parts, part)
			part = nil
		}
	}
	if err := rows.Err(); err != nil {
		s.n422.Add(1)
		return pgToAPI(err)
	}
	if len(part) > 0 || len(st.parts) == 0 {
		st.parts = append(st.parts, part)
	}
	if len(fds) == 0 {
		n := rows.CommandTag().RowsAffected()
		st.dmlCount = n
		c := strconv.FormatInt(n, 10)
		st.cols = []column{{Name: "number of rows affected", Type: "fixed"}}
		st.parts = [][][]*string{{{&c}}}
		st.numRows = 1
	}
	return nil
}

func (s *sim) statusURL(h string) string { return "/api/v2/statements/" + h }

func (s *sim) answer(w http.ResponseWriter, r *http.Request, st *statement) {
	select {
	case <-st.done:
	default:
		s.nPolls.Add(1)
		writeJSON(w, r, http.StatusAccepted, map[string]any{
			"code": "333334", "message": "Asynchronous execution in progress. Use provided query id to perform query monitoring and management.",
			"statementHandle": st.handle, "statementStatusUrl": s.statusURL(st.handle)})
		return
	}
	if st.err != nil {
		writeJSON(w, r, st.err.status, map[string]any{
			"code": st.err.Code, "sqlState": st.err.SQLState, "message": st.err.Message,
			"statementHandle": st.handle, "statementStatusUrl": s.statusURL(st.handle)})
		return
	}
	if p := r.URL.Query().Get("partition"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n >= len(st.parts) {
			writeJSON(w, r, 400, map[string]any{"code": "000001", "message": "invalid partition " + p})
			return
		}
		s.nParts.Add(1)
		body, _ := json.Marshal(map[string]any{"data": rowsJSON(st.parts[n])})
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			s.nGzip.Add(1)
			var b bytes.Buffer
			gz := gzip.NewWriter(&b)
			_, _ = gz.Write(body)
			_ = gz.Close()
			w.Header().Set("Content-Encoding", "gzip")
			body = b.Bytes()
		}
		_, _ = w.Write(body)
		return
	}
	infos := []map[string]any{}
	for _, p := range st.parts {
		b, _ := json.Marshal(rowsJSON(p))
		infos = append(infos, map[string]any{"rowCount": len(p), "uncompressedSize": len(b)})
	}
	resp := map[string]any{
		"resultSetMetaData": map[string]any{"numRows": st.numRows, "format": "jsonv2", "rowType": st.cols, "partitionInfo": infos},
		"data":              rowsJSON(st.parts[0]),
		"code":              "090001", "sqlState": "00000", "message": "Statement executed successfully.",
		"statementHandle": st.handle, "statementStatusUrl": s.statusURL(st.handle), "createdOn": st.created,
	}
	if st.multi != nil {
		resp["statementHandles"] = st.multi
	}
	writeJSON(w, r, 200, resp)
}

func rowsJSON(p [][]*string) [][]*string {
	if p == nil {
		return [][]*string{}
	}
	return p
}

func (s *sim) statements(w http.ResponseWriter, r *http.Request) {
	if err := s.auth(r); err != nil {
		s.nAuthFail.Add(1)
		writeJSON(w, r, 401, map[string]any{"code": "390144", "message": "JWT token is invalid. " + err.Error()})
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/api/v2/statements")
	if r.Method == http.MethodPost && (path == "" || path == "/") {
		var req struct {
			Statement  string         `json:"statement"`
			Parameters map[string]any `json:"parameters"`
			Bindings   map[string]struct {
				Type  string  `json:"type"`
				Value *string `json:"value"`
			} `json:"bindings"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Statement == "" {
			writeJSON(w, r, 400, map[string]any{"code": "390142", "message": "Incoming request does not contain a valid payload."})
			return
		}
		want := 1
		if v, ok := req.Parameters["MULTI_STATEMENT_COUNT"]; ok {
			switch x := v.(type) {
			case string:
				want, _ = strconv.Atoi(x)
			case float64:
				want = int(x)
			}
		}
		args := make([]any, len(req.Bindings))
		for k, b := range req.Bindings {
			i, err := strconv.Atoi(k)
			if err != nil || i < 1 || i > len(args) {
				writeJSON(w, r, 400, map[string]any{"code": "390142", "message": "invalid binding " + k})
				return
			}
			if b.Value != nil {
				args[i-1] = *b.Value
			}
		}
		st := &statement{handle: uuid(), done: make(chan struct{}), created: time.Now().UnixMilli()}
		s.register(st)
		async := r.URL.Query().Get("async") == "true"
		n := s.nStmt.Load() + s.nAsync.Load()
		if s.asyncN > 0 && n%s.asyncN == 0 {
			async = true
		}
		go s.execute(st, req.Statement, want, args)
		if async {
			s.nAsync.Add(1)
			s.answer(w, r, st)
			return
		}
		select {
		case <-st.done:
		case <-time.After(45 * time.Second):
		}
		s.answer(w, r, st)
		return
	}
	if r.Method == http.MethodGet && strings.HasPrefix(path, "/") {
		st := s.lookup(strings.TrimPrefix(path, "/"))
		if st == nil {
			writeJSON(w, r, 404, map[string]any{"code": "000709", "message": "Statement not found."})
			return
		}
		s.answer(w, r, st)
		return
	}
	writeJSON(w, r, 405, map[string]any{"code": "000405", "message": "method not allowed"})
}

func (s *sim) stats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, 200, map[string]int64{
		"statements": s.nStmt.Load(), "async": s.nAsync.Load(), "polls202": s.nPolls.Load(),
		"partitionsServed": s.nParts.Load(), "gzipServed": s.nGzip.Load(), "errors422": s.n422.Load(),
		"authFailures": s.nAuthFail.Load(), "multiStatement": s.nMulti.Load(), "boundStatements": s.nBound.Load()})
}

func loadPublicKey(path string) (*rsa.PublicKey, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, "", errors.New("no PEM block in " + path)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, "", err
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, "", errors.New("not an RSA public key")
	}
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return pub, "SHA256:" + base64.StdEncoding.EncodeToString(sum[:]), nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	addrFile := flag.String("addr-file", "", "write the base URL here once listening")
	pgURL := flag.String("pg", "", "PostgreSQL URL of the backing database")
	pubPath := flag.String("public-key", "", "PEM public key the JWTs must be signed with")
	account := flag.String("account", "", "account identifier (JWT form, upper case)")
	user := flag.String("user", "", "user (upper case)")
	partRows := flag.Int("partition-rows", 1000, "rows per result partition")
	asyncEvery := flag.Int64("async-every", 0, "answer every Nth statement with 202 first (0: only async=true)")
	flag.Parse()
	pub, fp, err := loadPublicKey(*pubPath)
	if err != nil {
		log.Fatalf("public key: %v", err)
	}
	cfg, err := pgxpool.ParseConfig(*pgURL)
	if err != nil {
		log.Fatalf("pg: %v", err)
	}
	cfg.MaxConns = 8
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET TimeZone = 'UTC'; SET search_path = sf, public, pg_catalog; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 1")
		return err
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		log.Fatalf("pg: %v", err)
	}
	if err := installFunctions(context.Background(), pool); err != nil {
		log.Fatalf("installing Snowflake functions: %v", err)
	}
	s := &sim{pool: pool, pub: pub, fp: fp, account: strings.ToUpper(*account), user: strings.ToUpper(*user),
		partRows: *partRows, asyncN: *asyncEvery, stmts: map[string]*statement{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v2/statements", s.statements)
	mux.HandleFunc("/api/v2/statements/", s.statements)
	mux.HandleFunc("/sim/stats", s.stats)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	base := "http://" + ln.Addr().String()
	if *addrFile != "" {
		_ = os.WriteFile(*addrFile+".tmp", []byte(base+"\n"), 0o644)
		_ = os.Rename(*addrFile+".tmp", *addrFile)
	}
	log.Printf("snowflake-sim listening on %s (account %s, user %s, key %s)", base, s.account, s.user, fp)
	log.Fatal(http.Serve(ln, mux))
}
