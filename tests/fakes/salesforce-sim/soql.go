package main

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// A small SOQL subset: SELECT f[, f...] | COUNT() | COUNT(f) FROM X [WHERE cond]
// [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n].
// cond: comparisons (= != <> < <= > >= LIKE IN NOT IN) joined by AND / OR / NOT with
// parentheses. Fields may be one relationship hop deep (Account.Name).

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tDate
	tDateTime
	tPunct
)

type token struct {
	kind tokKind
	text string
	pos  int
}

type lexer struct {
	src  string
	toks []token
}

var dateLitRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			var sb strings.Builder
			j := i + 1
			closed := false
			for j < len(src) {
				if src[j] == '\\' && j+1 < len(src) {
					switch src[j+1] {
					case 'n':
						sb.WriteByte('\n')
					case 't':
						sb.WriteByte('\t')
					case 'r':
						sb.WriteByte('\r')
					default:
						sb.WriteByte(src[j+1])
					}
					j += 2
					continue
				}
				if src[j] == '\'' {
					closed = true
					break
				}
				sb.WriteByte(src[j])
				j++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated string literal at column %d", i+1)
			}
			toks = append(toks, token{tString, sb.String(), i})
			i = j + 1
		case c >= '0' && c <= '9' || ((c == '-' || c == '+') && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9' && len(toks) > 0 && toks[len(toks)-1].kind == tPunct):
			j := i + 1
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' || src[j] == 'e' || src[j] == 'E') {
				j++
			}
			if j < len(src) && src[j] == '-' && j-i == 4 {
				// date or datetime literal
				for j < len(src) && strings.IndexByte("0123456789-:TZ.+", src[j]) >= 0 {
					j++
				}
				text := src[i:j]
				if dateLitRe.MatchString(text) {
					toks = append(toks, token{tDate, text, i})
				} else {
					toks = append(toks, token{tDateTime, text, i})
				}
			} else {
				toks = append(toks, token{tNumber, src[i:j], i})
			}
			i = j
		case c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			j := i + 1
			for j < len(src) && (src[j] == '_' || src[j] == '.' || isAlnum(src[j])) {
				j++
			}
			toks = append(toks, token{tIdent, src[i:j], i})
			i = j
		case strings.HasPrefix(src[i:], "!=") || strings.HasPrefix(src[i:], "<>") || strings.HasPrefix(src[i:], "<=") || strings.HasPrefix(src[i:], ">="):
			toks = append(toks, token{tPunct, src[i : i+2], i})
			i += 2
		case strings.IndexByte("(),=<>", c) >= 0:
			toks = append(toks, token{tPunct, string(c), i})
			i++
		default:
			return nil, fmt.Errorf("unexpected character '%c' at column %d", c, i+1)
		}
	}
	toks = append(toks, token{tEOF, "", len(src)})
	return toks, nil
}

// Lit is a literal value in a WHERE clause.
type Lit struct {
	Kind string // string, number, bool, null, date, datetime
	S    string
	N    float64
	B    bool
}

// Cond is a WHERE expression: *Cmp, *Logic or *Not.
type Cond interface{}

type Cmp struct {
	Field string
	Op    string // = != < <= > >= LIKE IN NOTIN
	Vals  []Lit
}

type Logic struct {
	Op   string // AND, OR
	L, R Cond
}

type Not struct{ C Cond }

type OrderItem struct {
	Field     string
	Desc      bool
	NullsLast bool
}

// Query is a parsed SOQL statement.
type Query struct {
	Fields     []string
	Count      bool
	CountField string
	Object     string
	Where      Cond
	OrderBy    []OrderItem
	Limit      int
	Offset     int
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *parser) isKw(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) acceptKw(kw string) bool {
	if p.isKw(kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectKw(kw string) error {
	if !p.acceptKw(kw) {
		return p.errf("expecting '%s', found '%s'", kw, p.peek().text)
	}
	return nil
}

func (p *parser) acceptPunct(s string) bool {
	t := p.peek()
	if t.kind == tPunct && t.text == s {
		p.i++
		return true
	}
	return false
}

func (p *parser) errf(format string, args ...any) error {
	return fmt.Errorf("ERROR at Row:1:Column:%d\n%s", p.peek().pos+1, fmt.Sprintf(format, args...))
}

var reserved = map[string]bool{"select": true, "from": true, "where": true, "order": true, "by": true, "limit": true, "offset": true, "and": true, "or": true, "not": true, "in": true, "like": true, "asc": true, "desc": true, "nulls": true, "first": true, "last": true}

func (p *parser) ident() (string, error) {
	t := p.peek()
	if t.kind != tIdent || reserved[strings.ToLower(t.text)] {
		if t.kind == tEOF {
			return "", p.errf("unexpected token: <EOF>")
		}
		return "", p.errf("unexpected token: '%s'", t.text)
	}
	p.i++
	return t.text, nil
}

func parseSOQL(src string) (*Query, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	q := &Query{Limit: -1}
	if err := p.expectKw("SELECT"); err != nil {
		return nil, err
	}
	if p.isKw("COUNT") && p.toks[p.i+1].kind == tPunct && p.toks[p.i+1].text == "(" {
		p.i += 2
		q.Count = true
		if !p.acceptPunct(")") {
			f, err := p.ident()
			if err != nil {
				return nil, err
			}
			q.CountField = f
			if !p.acceptPunct(")") {
				return nil, p.errf("expecting ')'")
			}
		}
	} else {
		for {
			f, err := p.ident()
			if err != nil {
				return nil, err
			}
			q.Fields = append(q.Fields, f)
			if !p.acceptPunct(",") {
				break
			}
		}
	}
	if err := p.expectKw("FROM"); err != nil {
		return nil, err
	}
	obj, err := p.ident()
	if err != nil {
		return nil, err
	}
	q.Object = obj
	if p.acceptKw("WHERE") {
		c, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		q.Where = c
	}
	if p.acceptKw("ORDER") {
		if err := p.expectKw("BY"); err != nil {
			return nil, err
		}
		for {
			f, err := p.ident()
			if err != nil {
				return nil, err
			}
			it := OrderItem{Field: f}
			if p.acceptKw("DESC") {
				it.Desc = true
				it.NullsLast = true
			} else {
				p.acceptKw("ASC")
			}
			if p.acceptKw("NULLS") {
				if p.acceptKw("LAST") {
					it.NullsLast = true
				} else if p.acceptKw("FIRST") {
					it.NullsLast = false
				} else {
					return nil, p.errf("expecting FIRST or LAST")
				}
			}
			q.OrderBy = append(q.OrderBy, it)
			if !p.acceptPunct(",") {
				break
			}
		}
	}
	if p.acceptKw("LIMIT") {
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tNumber || err != nil || n < 0 {
			return nil, fmt.Errorf("ERROR at Row:1:Column:%d\nexpecting a non-negative integer, found '%s'", t.pos+1, t.text)
		}
		q.Limit = n
	}
	if p.acceptKw("OFFSET") {
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tNumber || err != nil || n < 0 {
			return nil, fmt.Errorf("ERROR at Row:1:Column:%d\nexpecting a non-negative integer, found '%s'", t.pos+1, t.text)
		}
		q.Offset = n
	}
	if p.peek().kind != tEOF {
		return nil, p.errf("unexpected token: '%s'", p.peek().text)
	}
	return q, nil
}

func (p *parser) parseOr() (Cond, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.acceptKw("OR") {
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = &Logic{Op: "OR", L: l, R: r}
	}
	return l, nil
}

func (p *parser) parseAnd() (Cond, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.acceptKw("AND") {
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = &Logic{Op: "AND", L: l, R: r}
	}
	return l, nil
}

func (p *parser) parseUnary() (Cond, error) {
	if p.acceptKw("NOT") {
		c, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &Not{C: c}, nil
	}
	if p.acceptPunct("(") {
		c, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if !p.acceptPunct(")") {
			return nil, p.errf("expecting ')'")
		}
		return c, nil
	}
	f, err := p.ident()
	if err != nil {
		return nil, err
	}
	c := &Cmp{Field: f}
	t := p.peek()
	switch {
	case t.kind == tPunct && strings.Contains("= != <> < <= > >=", t.text) && t.text != "(" && t.text != ")" && t.text != ",":
		p.i++
		c.Op = t.text
		if c.Op == "<>" {
			c.Op = "!="
		}
	case p.isKw("LIKE"):
		p.i++
		c.Op = "LIKE"
	case p.isKw("IN"):
		p.i++
		c.Op = "IN"
	case p.isKw("NOT") && p.i+1 < len(p.toks) && strings.EqualFold(p.toks[p.i+1].text, "IN"):
		p.i += 2
		c.Op = "NOTIN"
	default:
		return nil, p.errf("unexpected token: '%s'", t.text)
	}
	if c.Op == "IN" || c.Op == "NOTIN" {
		if !p.acceptPunct("(") {
			return nil, p.errf("expecting '('")
		}
		for {
			l, err := p.literal()
			if err != nil {
				return nil, err
			}
			c.Vals = append(c.Vals, l)
			if p.acceptPunct(")") {
				break
			}
			if !p.acceptPunct(",") {
				return nil, p.errf("expecting ',' or ')'")
			}
		}
		return c, nil
	}
	l, err := p.literal()
	if err != nil {
		return nil, err
	}
	c.Vals = []Lit{l}
	return c, nil
}

func (p *parser) literal() (Lit, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return Lit{Kind: "string", S: t.text}, nil
	case tNumber:
		n, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			p.i--
			return Lit{}, p.errf("invalid number '%s'", t.text)
		}
		return Lit{Kind: "number", N: n, S: t.text}, nil
	case tDate:
		d, ok := parseDate(t.text)
		if !ok {
			p.i--
			return Lit{}, p.errf("invalid date '%s'", t.text)
		}
		return Lit{Kind: "date", S: d}, nil
	case tDateTime:
		dt, ok := parseDateTime(t.text)
		if !ok {
			p.i--
			return Lit{}, p.errf("invalid datetime '%s'", t.text)
		}
		return Lit{Kind: "datetime", S: dt}, nil
	case tIdent:
		switch strings.ToLower(t.text) {
		case "null":
			return Lit{Kind: "null"}, nil
		case "true", "false":
			return Lit{Kind: "bool", B: strings.EqualFold(t.text, "true")}, nil
		}
	}
	p.i--
	return Lit{}, p.errf("unexpected token: '%s'", t.text)
}

// ---- execution ----

// fieldRef is a resolved SELECT/WHERE path: a field of the object, or of the record a
// reference field points to.
type fieldRef struct {
	name   string // as written in the query
	rel    *Field // reference field for a one-hop path, else nil
	relObj *Object
	f      *Field
}

func (srv *Server) resolvePath(o *Object, path string) (*fieldRef, error) {
	if i := strings.IndexByte(path, '.'); i >= 0 {
		relName, fname := path[:i], path[i+1:]
		if strings.Contains(fname, ".") {
			return nil, fmt.Errorf("only one relationship level is supported: %s", path)
		}
		rf := o.relationship(relName)
		if rf == nil {
			return nil, fmt.Errorf("Didn't understand relationship '%s' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.", relName)
		}
		var target *Object
		for _, rt := range rf.ReferenceTo {
			if t := srv.store.schema.object(rt); t != nil {
				target = t
				break
			}
		}
		if target == nil {
			if strings.EqualFold(fname, "Id") {
				return &fieldRef{name: path, f: rf}, nil
			}
			return nil, fmt.Errorf("No such column '%s' on entity '%s'.", fname, rf.ReferenceTo[0])
		}
		f := target.field(fname)
		if f == nil {
			return nil, fmt.Errorf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", fname, target.Name)
		}
		return &fieldRef{name: rf.RelationshipName + "." + f.Name, rel: rf, relObj: target, f: f}, nil
	}
	f := o.field(path)
	if f == nil {
		return nil, fmt.Errorf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", path, o.Name)
	}
	return &fieldRef{name: f.Name, f: f}, nil
}

func (srv *Server) refValue(r *Record, fr *fieldRef) any {
	if fr.rel == nil {
		return r.F[fr.f.Name]
	}
	id, _ := r.F[fr.rel.Name].(string)
	if id == "" {
		return nil
	}
	t := srv.store.table(fr.relObj)
	if t2 := t.byId[id]; t2 != nil {
		return t2.F[fr.f.Name]
	}
	return nil
}

// compiled WHERE
type evalFn func(r *Record) bool

func litValue(f *Field, l Lit) (any, error) {
	switch l.Kind {
	case "null":
		return nil, nil
	case "bool":
		if f.Type != "boolean" {
			return nil, fmt.Errorf("value of filter criterion for field '%s' must be of type %s and should not be enclosed in quotes", f.Name, f.Type)
		}
		return l.B, nil
	case "number":
		if !isNumeric(f.Type) {
			return nil, fmt.Errorf("value of filter criterion for field '%s' must be of type %s and should be enclosed in quotes", f.Name, f.Type)
		}
		return l.N, nil
	case "date":
		if f.Type == "datetime" {
			return nil, fmt.Errorf("value of filter criterion for field '%s' must be of type dateTime and should not be enclosed in quotes", f.Name)
		}
		if f.Type != "date" {
			return nil, fmt.Errorf("value of filter criterion for field '%s' must be of type %s and should be enclosed in quotes", f.Name, f.Type)
		}
		return l.S, nil
	case "datetime":
		if f.Type != "datetime" {
			return nil, fmt.Errorf("value of filter criterion for field '%s' must be of type %s", f.Name, f.Type)
		}
		return l.S, nil
	}
	// string literal
	switch {
	case isNumeric(f.Type):
		return nil, fmt.Errorf("value of filter criterion for field '%s' must be of type %s and should not be enclosed in quotes", f.Name, xsdType(f))
	case f.Type == "boolean":
		return nil, fmt.Errorf("value of filter criterion for field '%s' must be of type boolean and should not be enclosed in quotes", f.Name)
	case f.Type == "date" || f.Type == "datetime":
		return nil, fmt.Errorf("value of filter criterion for field '%s' must be of type %s and should not be enclosed in quotes", f.Name, xsdType(f))
	case f.Type == "id" || f.Type == "reference":
		if id, ok := normalizeId(l.S); ok {
			return id, nil
		}
		return nil, fmt.Errorf("invalid ID field: %s", l.S)
	}
	return l.S, nil
}

// compareVals orders two non-nil stored values of the same field.
func compareVals(a, b any) int {
	switch x := a.(type) {
	case float64:
		y, _ := b.(float64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case bool:
		y, _ := b.(bool)
		if x == y {
			return 0
		}
		if !x {
			return -1
		}
		return 1
	case string:
		y, _ := b.(string)
		return strings.Compare(strings.ToLower(x), strings.ToLower(y))
	}
	return 0
}

func likeToRegexp(pat string) *regexp.Regexp {
	var sb strings.Builder
	sb.WriteString("(?is)^")
	for _, r := range pat {
		switch r {
		case '%':
			sb.WriteString(".*")
		case '_':
			sb.WriteString(".")
		default:
			sb.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	sb.WriteString("$")
	return regexp.MustCompile(sb.String())
}

func (srv *Server) compileCond(o *Object, c Cond) (evalFn, error) {
	switch x := c.(type) {
	case *Logic:
		l, err := srv.compileCond(o, x.L)
		if err != nil {
			return nil, err
		}
		r, err := srv.compileCond(o, x.R)
		if err != nil {
			return nil, err
		}
		if x.Op == "AND" {
			return func(rec *Record) bool { return l(rec) && r(rec) }, nil
		}
		return func(rec *Record) bool { return l(rec) || r(rec) }, nil
	case *Not:
		inner, err := srv.compileCond(o, x.C)
		if err != nil {
			return nil, err
		}
		return func(rec *Record) bool { return !inner(rec) }, nil
	case *Cmp:
		fr, err := srv.resolvePath(o, x.Field)
		if err != nil {
			return nil, err
		}
		if x.Op == "LIKE" {
			if x.Vals[0].Kind != "string" {
				return nil, fmt.Errorf("invalid operator on field: LIKE needs a string")
			}
			re := likeToRegexp(x.Vals[0].S)
			return func(rec *Record) bool {
				v := srv.refValue(rec, fr)
				return !blank(v) && re.MatchString(formatValue(v))
			}, nil
		}
		vals := make([]any, len(x.Vals))
		for i, l := range x.Vals {
			v, err := litValue(fr.f, l)
			if err != nil {
				return nil, err
			}
			vals[i] = v
		}
		eq := func(v, lit any) bool {
			if lit == nil {
				return blank(v)
			}
			if blank(v) {
				return false
			}
			return compareVals(v, lit) == 0
		}
		switch x.Op {
		case "=":
			return func(rec *Record) bool { return eq(srv.refValue(rec, fr), vals[0]) }, nil
		case "!=":
			return func(rec *Record) bool { return !eq(srv.refValue(rec, fr), vals[0]) }, nil
		case "IN", "NOTIN":
			neg := x.Op == "NOTIN"
			return func(rec *Record) bool {
				v := srv.refValue(rec, fr)
				for _, l := range vals {
					if eq(v, l) {
						return !neg
					}
				}
				return neg
			}, nil
		default:
			op := x.Op
			lit := vals[0]
			return func(rec *Record) bool {
				v := srv.refValue(rec, fr)
				if blank(v) || lit == nil {
					return false
				}
				c := compareVals(v, lit)
				switch op {
				case "<":
					return c < 0
				case "<=":
					return c <= 0
				case ">":
					return c > 0
				case ">=":
					return c >= 0
				}
				return false
			}, nil
		}
	}
	return nil, fmt.Errorf("bad condition")
}

// indexedCandidates finds an equality on Id or an indexed field among the top-level
// AND terms, so that lookups by external id do not scan the table.
func (srv *Server) indexedCandidates(o *Object, c Cond) ([]*Record, bool) {
	switch x := c.(type) {
	case *Logic:
		if x.Op != "AND" {
			return nil, false
		}
		if r, ok := srv.indexedCandidates(o, x.L); ok {
			return r, true
		}
		return srv.indexedCandidates(o, x.R)
	case *Cmp:
		if (x.Op != "=" && x.Op != "IN") || strings.Contains(x.Field, ".") {
			return nil, false
		}
		f := o.field(x.Field)
		if f == nil || !(f.Name == "Id" || f.indexed()) {
			return nil, false
		}
		t := srv.store.table(o)
		seen := map[*Record]bool{}
		var out []*Record
		for _, l := range x.Vals {
			v, err := litValue(f, l)
			if err != nil || v == nil {
				return nil, false
			}
			for _, r := range t.lookup(f, v) {
				if !seen[r] {
					seen[r] = true
					out = append(out, r)
				}
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
		return out, true
	}
	return nil, false
}
