// tds-sim: a stand-in SQL Server for retl's sqlserver source. It speaks
// enough TDS 7.4 for FreeTDS through unixODBC — PRELOGIN (encryption not
// supported, so no TLS), LOGIN7 (user and password checked), SQL batches,
// transaction manager requests, attention — and runs the T-SQL the source
// emits on a PostgreSQL database after translating it (tsql.go). Results go
// back as COLMETADATA/ROW/DONE tokens (integers as INTN, bit as BITN, float
// as FLTN, everything else as NVARCHAR(MAX) in PLP chunks); errors as ERROR
// tokens carrying the PostgreSQL SQLSTATE in the message.
//
//	tds-sim -pg URL -user sa -password pw [-listen 127.0.0.1:0] [-addr-file F] [-v]
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf16"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	pktSQLBatch  = 0x01
	pktRPC       = 0x03
	pktReply     = 0x04
	pktAttention = 0x06
	pktTransMgr  = 0x0E
	pktLogin7    = 0x10
	pktPrelogin  = 0x12
	packetSize   = 4096
)

var (
	verbose   = flag.Bool("v", false, "log every request")
	pgURL     = flag.String("pg", "", "PostgreSQL URL of the backing database")
	wantUser  = flag.String("user", "sa", "login user")
	wantPass  = flag.String("password", "", "login password")
	nBatches  atomic.Int64
	nErrors   atomic.Int64
	nLogins   atomic.Int64
	nTrans    atomic.Int64
	nBadLogin atomic.Int64
)

type conn struct {
	c        net.Conn
	pg       *pgx.Conn
	implicit bool // SET IMPLICIT_TRANSACTIONS ON
	inTx     bool
	id       int64
	pending  []byte // read by watch while a batch ran
}

// Read reads the client's bytes, first those watch read ahead.
func (k *conn) Read(b []byte) (int, error) {
	if len(k.pending) > 0 {
		n := copy(b, k.pending)
		k.pending = k.pending[n:]
		return n, nil
	}
	return k.c.Read(b)
}

// watch cancels a running batch when the client goes away: SQL Server ends
// a dropped client's session (and its work, locks and transaction) without
// waiting for the statement to finish. A byte the client sends meanwhile
// (say an attention packet) is kept for readMessage. stop ends the watch.
func (k *conn) watch(cancel context.CancelFunc) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b [1]byte
		n, err := k.c.Read(b[:])
		if n == 1 {
			k.pending = append(k.pending, b[0])
			return
		}
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			cancel()
		}
	}()
	return func() {
		_ = k.c.SetReadDeadline(time.Now())
		<-done
		_ = k.c.SetReadDeadline(time.Time{})
	}
}

// readMessage reads packets until EOM and returns the type and payload.
func (k *conn) readMessage() (byte, []byte, error) {
	var payload []byte
	for {
		var h [8]byte
		if _, err := io.ReadFull(k, h[:]); err != nil {
			return 0, nil, err
		}
		n := int(binary.BigEndian.Uint16(h[2:4]))
		if n < 8 {
			return 0, nil, errors.New("bad packet length")
		}
		body := make([]byte, n-8)
		if _, err := io.ReadFull(k, body); err != nil {
			return 0, nil, err
		}
		payload = append(payload, body...)
		if h[1]&0x01 != 0 {
			return h[0], payload, nil
		}
	}
}

func (k *conn) writeMessage(typ byte, data []byte) error {
	id := byte(1)
	for {
		n := len(data)
		if n > packetSize-8 {
			n = packetSize - 8
		}
		status := byte(0)
		if n == len(data) {
			status = 1
		}
		h := []byte{typ, status, 0, 0, 0, 0, id, 0}
		binary.BigEndian.PutUint16(h[2:4], uint16(n+8))
		if _, err := k.c.Write(append(h, data[:n]...)); err != nil {
			return err
		}
		data = data[n:]
		id++
		if status == 1 {
			return nil
		}
	}
}

func ucs2(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func fromUCS2(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func bvarchar(s string) []byte {
	b := ucs2(s)
	return append([]byte{byte(len(b) / 2)}, b...)
}

func usvarchar(s string) []byte {
	b := ucs2(s)
	l := make([]byte, 2)
	binary.LittleEndian.PutUint16(l, uint16(len(b)/2))
	return append(l, b...)
}

func le16(v int) []byte { b := make([]byte, 2); binary.LittleEndian.PutUint16(b, uint16(v)); return b }
func le32(v int) []byte { b := make([]byte, 4); binary.LittleEndian.PutUint32(b, uint32(v)); return b }
func le64(v int64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(v))
	return b
}

func done(status int, cmd int, rows int64) []byte {
	b := []byte{0xFD}
	b = append(b, le16(status)...)
	b = append(b, le16(cmd)...)
	return append(b, le64(rows)...)
}

func envchange(typ byte, newV, oldV []byte) []byte {
	body := append([]byte{typ}, newV...)
	body = append(body, oldV...)
	return append(append([]byte{0xE3}, le16(len(body))...), body...)
}

func errToken(number int, state byte, class byte, msg string) []byte {
	body := append(le32(number), state, class)
	body = append(body, usvarchar(msg)...)
	body = append(body, bvarchar("tds-sim")...)
	body = append(body, bvarchar("")...)
	body = append(body, le32(1)...)
	return append(append([]byte{0xAA}, le16(len(body))...), body...)
}

func (k *conn) prelogin() error {
	// VERSION, ENCRYPTION (NOT_SUP: the client must not wrap the login in
	// TLS), INSTOPT, THREADID, MARS.
	opts := []struct {
		tok  byte
		data []byte
	}{
		{0x00, []byte{15, 0, 0x07, 0xD0, 0, 0}},
		{0x01, []byte{0x02}},
		{0x02, []byte{0x00}},
		{0x03, []byte{}},
		{0x04, []byte{0x00}},
	}
	off := len(opts)*5 + 1
	var hdr, data []byte
	for _, o := range opts {
		hdr = append(hdr, o.tok, byte(off>>8), byte(off), byte(len(o.data)>>8), byte(len(o.data)))
		data = append(data, o.data...)
		off += len(o.data)
	}
	hdr = append(hdr, 0xFF)
	return k.writeMessage(pktReply, append(hdr, data...))
}

func field(p []byte, at int) string {
	off := int(binary.LittleEndian.Uint16(p[at:]))
	n := int(binary.LittleEndian.Uint16(p[at+2:])) * 2
	if off+n > len(p) {
		return ""
	}
	return fromUCS2(p[off : off+n])
}

func password(p []byte, at int) string {
	off := int(binary.LittleEndian.Uint16(p[at:]))
	n := int(binary.LittleEndian.Uint16(p[at+2:])) * 2
	if off+n > len(p) {
		return ""
	}
	b := make([]byte, n)
	for i := 0; i < n; i++ {
		x := p[off+i] ^ 0xA5
		b[i] = x<<4 | x>>4
	}
	return fromUCS2(b)
}

func (k *conn) login(p []byte) (bool, error) {
	if len(p) < 94 {
		return false, errors.New("short LOGIN7")
	}
	user, pw, db := field(p, 40), password(p, 44), field(p, 68)
	if user != *wantUser || pw != *wantPass {
		nBadLogin.Add(1)
		msg := errToken(18456, 1, 14, fmt.Sprintf("Login failed for user '%s'.", user))
		return false, k.writeMessage(pktReply, append(msg, done(0x02, 0, 0)...))
	}
	nLogins.Add(1)
	if db == "" {
		db = "master"
	}
	var out []byte
	out = append(out, envchange(1, bvarchar(db), bvarchar("master"))...)
	out = append(out, envchange(4, bvarchar("4096"), bvarchar("4096"))...)
	ack := []byte{1, 0x74, 0x00, 0x00, 0x04}
	ack = append(ack, bvarchar("Microsoft SQL Server")...)
	ack = append(ack, 15, 0, 0x07, 0xD0)
	out = append(out, append(append([]byte{0xAD}, le16(len(ack))...), ack...)...)
	out = append(out, done(0, 0, 0)...)
	return true, k.writeMessage(pktReply, out)
}

// column encodings
const (
	tNVarchar = iota
	tInt
	tBit
	tFloat
)

type col struct {
	name string
	kind int
	size int
}

func colmeta(cols []col) []byte {
	b := append([]byte{0x81}, le16(len(cols))...)
	for _, c := range cols {
		b = append(b, le32(0)...) // user type
		b = append(b, le16(1)...) // nullable
		switch c.kind {
		case tInt:
			b = append(b, 0x26, byte(c.size))
		case tBit:
			b = append(b, 0x68, 1)
		case tFloat:
			b = append(b, 0x6D, 8)
		default:
			b = append(b, 0xE7, 0xFF, 0xFF)             // NVARCHAR(MAX)
			b = append(b, 0x09, 0x04, 0xD0, 0x00, 0x34) // collation
		}
		b = append(b, bvarchar(c.name)...)
	}
	return b
}

func colOf(fd pgconn.FieldDescription) col {
	c := col{name: fd.Name}
	switch fd.DataTypeOID {
	case 20:
		c.kind, c.size = tInt, 8
	case 23:
		c.kind, c.size = tInt, 4
	case 21:
		c.kind, c.size = tInt, 2
	case 16:
		c.kind = tBit
	case 700, 701:
		c.kind = tFloat
	default:
		c.kind = tNVarchar
	}
	return c
}

func value(c col, v []byte) ([]byte, error) {
	switch c.kind {
	case tInt:
		if v == nil {
			return []byte{0}, nil
		}
		var n int64
		if _, err := fmt.Sscan(string(v), &n); err != nil {
			return nil, err
		}
		b := le64(n)
		return append([]byte{byte(c.size)}, b[:c.size]...), nil
	case tBit:
		if v == nil {
			return []byte{0}, nil
		}
		if string(v) == "t" {
			return []byte{1, 1}, nil
		}
		return []byte{1, 0}, nil
	case tFloat:
		if v == nil {
			return []byte{0}, nil
		}
		var f float64
		if _, err := fmt.Sscan(string(v), &f); err != nil {
			return nil, err
		}
		b := make([]byte, 8)
		binary.LittleEndian.PutUint64(b, mathFloat64bits(f))
		return append([]byte{8}, b...), nil
	default:
		if v == nil {
			return le64(-1), nil // PLP NULL
		}
		u := ucs2(string(v))
		b := le64(int64(len(u)))
		for len(u) > 0 {
			n := len(u)
			if n > 8000 {
				n = 8000
			}
			b = append(b, le32(n)...)
			b = append(b, u[:n]...)
			u = u[n:]
		}
		return append(b, le32(0)...), nil
	}
}

func (k *conn) sendError(err error) error {
	nErrors.Add(1)
	msg, state := err.Error(), "HY000"
	number := 50000
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		msg, state = pe.Message, pe.Code
		if pe.Code == "42601" {
			number = 102
		} else if strings.HasPrefix(pe.Code, "42P01") {
			number = 208
		}
	}
	out := errToken(number, 1, 16, fmt.Sprintf("%s (SQLSTATE %s)", msg, state))
	return k.writeMessage(pktReply, append(out, done(0x02, 0, 0)...))
}

func (k *conn) txEnv(typ byte) []byte {
	desc := append([]byte{8}, le64(k.id)...)
	if typ == 8 {
		return envchange(8, desc, []byte{0})
	}
	return envchange(typ, []byte{0}, desc)
}

func (k *conn) batch(ctx context.Context, text string) error {
	nBatches.Add(1)
	q, handled := translate(text)
	if *verbose {
		log.Printf("conn %d batch: %q -> %q", k.id, text, q)
	}
	if handled != "" {
		switch handled {
		case "implicit on":
			k.implicit = true
		case "implicit off":
			k.implicit = false
		}
		return k.writeMessage(pktReply, done(0, 0, 0))
	}
	var pre []byte
	if k.implicit && !k.inTx {
		if _, err := k.pg.Exec(ctx, "BEGIN"); err != nil {
			return k.sendError(err)
		}
		k.inTx = true
		pre = k.txEnv(8)
	}
	rows, err := k.pg.Query(ctx, q, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return k.fail(ctx, err)
	}
	fds := rows.FieldDescriptions()
	out := pre
	var cols []col
	if len(fds) > 0 {
		for _, fd := range fds {
			cols = append(cols, colOf(fd))
		}
		out = append(out, colmeta(cols)...)
	}
	var n int64
	for rows.Next() {
		out = append(out, 0xD1)
		for i, v := range rows.RawValues() {
			b, err := value(cols[i], v)
			if err != nil {
				rows.Close()
				return k.fail(ctx, err)
			}
			out = append(out, b...)
		}
		n++
		// Stream big results instead of holding them.
		if len(out) > 1<<20 {
			if err := k.writePartial(out); err != nil {
				rows.Close()
				return err
			}
			out = nil
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return k.fail(ctx, err)
	}
	if len(fds) == 0 {
		n = rows.CommandTag().RowsAffected()
	}
	out = append(out, done(0x10, 0xC1, n)...)
	return k.writeMessage(pktReply, out)
}

// writePartial sends full packets of a reply that continues.
func (k *conn) writePartial(data []byte) error {
	for len(data) > 0 {
		n := len(data)
		if n > packetSize-8 {
			n = packetSize - 8
		}
		h := []byte{pktReply, 0, 0, 0, 0, 0, 1, 0}
		binary.BigEndian.PutUint16(h[2:4], uint16(n+8))
		if _, err := k.c.Write(append(h, data[:n]...)); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// fail reports a statement error; inside a transaction PostgreSQL aborts it,
// as SQL Server does with XACT_ABORT, so the client has to roll back.
func (k *conn) fail(ctx context.Context, err error) error {
	return k.sendError(err)
}

func (k *conn) transMgr(ctx context.Context, p []byte) error {
	nTrans.Add(1)
	if len(p) < 4 {
		return errors.New("short transaction manager request")
	}
	hl := int(binary.LittleEndian.Uint32(p))
	if hl > len(p)-2 {
		return errors.New("bad ALL_HEADERS")
	}
	req := binary.LittleEndian.Uint16(p[hl:])
	rest := p[hl+2:]
	var out []byte
	exec := func(sql string) error {
		_, err := k.pg.Exec(ctx, sql)
		return err
	}
	beginAgain := func() bool {
		// fFlags after the (empty) name: bit 0 = begin a new transaction.
		if len(rest) >= 2 {
			n := int(rest[0])
			if len(rest) > 1+n*2 {
				return rest[1+n*2]&0x01 != 0
			}
		}
		return false
	}
	switch req {
	case 5: // TM_BEGIN_XACT
		if err := exec("BEGIN"); err != nil {
			return k.sendError(err)
		}
		k.inTx = true
		out = append(out, k.txEnv(8)...)
	case 7, 8: // TM_COMMIT_XACT, TM_ROLLBACK_XACT
		verb, env := "COMMIT", byte(9)
		if req == 8 {
			verb, env = "ROLLBACK", 10
		}
		if *verbose {
			log.Printf("conn %d %s (inTx %v)", k.id, verb, k.inTx)
		}
		if err := exec(verb); err != nil {
			return k.sendError(err)
		}
		k.inTx = false
		out = append(out, k.txEnv(env)...)
		if beginAgain() {
			if err := exec("BEGIN"); err != nil {
				return k.sendError(err)
			}
			k.inTx = true
			out = append(out, k.txEnv(8)...)
		}
	default:
		out = append(out, errToken(50000, 1, 16, fmt.Sprintf("transaction request %d not supported", req))...)
		return k.writeMessage(pktReply, append(out, done(0x02, 0, 0)...))
	}
	return k.writeMessage(pktReply, append(out, done(0, 0, 0)...))
}

func serve(c net.Conn, id int64) {
	defer c.Close()
	k := &conn{c: c, id: id}
	ctx := context.Background()
	// A session ends with its connection, however it ends (a client killed
	// while a result is written fails the write): SQL Server then releases
	// its session locks (sp_getapplock) and rolls back, so does the stand-in.
	defer func() {
		if k.pg != nil {
			_ = k.pg.Close(ctx)
		}
	}()
	for {
		typ, p, err := k.readMessage()
		if err != nil {
			return
		}
		switch typ {
		case pktPrelogin:
			err = k.prelogin()
		case pktLogin7:
			var ok bool
			ok, err = k.login(p)
			if ok && err == nil {
				k.pg, err = pgx.Connect(ctx, *pgURL)
				if err == nil {
					_, err = k.pg.Exec(ctx, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 1")
				}
			}
		case pktSQLBatch:
			if len(p) < 4 {
				return
			}
			hl := int(binary.LittleEndian.Uint32(p))
			if hl > len(p) {
				hl = 0
			}
			bctx, cancel := context.WithCancel(ctx)
			stop := k.watch(cancel)
			err = k.batch(bctx, fromUCS2(p[hl:]))
			stop()
			cancel()
		case pktTransMgr:
			err = k.transMgr(ctx, p)
		case pktAttention:
			err = k.writeMessage(pktReply, done(0x20, 0, 0))
		case pktRPC:
			err = k.writeMessage(pktReply, append(errToken(50000, 1, 16, "RPC requests are not supported by tds-sim (use SQLExecDirect)"), done(0x02, 0, 0)...))
		default:
			log.Printf("conn %d: unsupported packet type %#x", id, typ)
			return
		}
		if err != nil {
			log.Printf("conn %d: %v", id, err)
			return
		}
	}
}

// SQL Server's bit compares with integers (bit = 1); PostgreSQL's boolean
// does not, so the backing database gets that operator.
const emulation = `
CREATE OR REPLACE FUNCTION public.tds_bit_eq(boolean, integer) RETURNS boolean
  LANGUAGE sql IMMUTABLE AS 'SELECT $1::int = $2';
DO $$ BEGIN
  CREATE OPERATOR public.= (LEFTARG = boolean, RIGHTARG = integer, FUNCTION = public.tds_bit_eq);
EXCEPTION WHEN duplicate_function OR duplicate_object THEN NULL;
END $$;
` + hashEmulation

// SQL Server's HASHBYTES and DATALENGTH over NVARCHAR work on the UTF-16LE
// bytes of the text (a character above U+FFFF is a surrogate pair), so the
// stand-in hashes exactly the bytes SQL Server hashes. ASCII text (the
// common case) is widened in one pass; other text character by character.
// HASHBYTES supports SHA2_256 (what retl uses). The SQL functions are not
// STRICT and use each argument once, so PostgreSQL inlines them: a
// non-inlined SQL function call per value costs 2.5 to 40 us.
const hashEmulation = `
CREATE OR REPLACE FUNCTION public.tds_utf16le_slow(v text) RETURNS bytea
  LANGUAGE plpgsql IMMUTABLE STRICT AS $f$
DECLARE r bytea := ''::bytea; c int; u int[];
BEGIN
  FOR i IN 1..char_length(v) LOOP
    c := ascii(substr(v, i, 1));
    IF c >= 65536 THEN
      c := c - 65536;
      u := ARRAY[55296 + (c >> 10), 56320 + (c & 1023)];
    ELSE
      u := ARRAY[c];
    END IF;
    FOREACH c IN ARRAY u LOOP
      r := r || set_byte(set_byte('\x0000'::bytea, 0, c & 255), 1, c >> 8);
    END LOOP;
  END LOOP;
  RETURN r;
END $f$;
CREATE OR REPLACE FUNCTION public.tds_utf16le(v text) RETURNS bytea
  LANGUAGE plpgsql IMMUTABLE STRICT AS $f$
BEGIN
  IF octet_length(v) = char_length(v) THEN
    RETURN decode(regexp_replace(encode(convert_to(v, 'UTF8'), 'hex'), '(..)', '\100', 'g'), 'hex');
  END IF;
  RETURN public.tds_utf16le_slow(v);
END $f$;
CREATE OR REPLACE FUNCTION public.datalength(v text) RETURNS bigint
  LANGUAGE sql IMMUTABLE AS $f$
SELECT CASE WHEN octet_length(v) = char_length(v) THEN 2 * char_length(v)::bigint
  ELSE octet_length(public.tds_utf16le_slow(v))::bigint END $f$;
CREATE OR REPLACE FUNCTION public.datalength(v bytea) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT AS 'SELECT octet_length(v)::bigint';
CREATE OR REPLACE FUNCTION public.hashbytes(alg text, v text) RETURNS bytea
  LANGUAGE sql IMMUTABLE AS $f$
SELECT CASE WHEN upper(alg) = 'SHA2_256' THEN sha256(public.tds_utf16le(v)) END $f$;
`

func install() error {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, *pgURL)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, emulation)
	return err
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	addrFile := flag.String("addr-file", "", "write host:port here once listening")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	if *addrFile != "" {
		_ = os.WriteFile(*addrFile+".tmp", []byte(ln.Addr().String()+"\n"), 0o644)
		_ = os.Rename(*addrFile+".tmp", *addrFile)
	}
	if err := install(); err != nil {
		log.Fatalf("installing T-SQL emulation: %v", err)
	}
	log.Printf("tds-sim listening on %s", ln.Addr())
	var n int64
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		n++
		go serve(c, n)
	}
}
