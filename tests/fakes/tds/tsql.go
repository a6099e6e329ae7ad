package main

import (
	"math"
	"regexp"
	"strings"
)

func mathFloat64bits(f float64) uint64 { return math.Float64bits(f) }

var (
	reSelectInto = regexp.MustCompile(`(?is)^\s*SELECT \* INTO (\S+) FROM `)
	reTop        = regexp.MustCompile(`(?is)^\s*SELECT TOP \((\d+)\) (.*)$`)
	reAppLock    = regexp.MustCompile(`(?is)^DECLARE @r INT; EXEC @r = sp_getapplock @Resource = '((?:[^']|'')*)', @LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = 0; SELECT CASE WHEN @r >= 0 THEN 1 ELSE 0 END$`)
	reImplicit   = regexp.MustCompile(`(?i)^\s*SET\s+IMPLICIT_TRANSACTIONS\s+(ON|OFF)\s*$`)
	reSet        = regexp.MustCompile(`(?i)^\s*SET\s+\w+`)
)

// translate turns one T-SQL batch the sqlserver source emits into
// PostgreSQL. handled is non-empty for session statements answered without
// PostgreSQL ("implicit on", "implicit off", "set").
func translate(t string) (q string, handled string) {
	t = strings.TrimSpace(t)
	if m := reImplicit.FindStringSubmatch(t); m != nil {
		return "", "implicit " + strings.ToLower(m[1])
	}
	if m := reAppLock.FindStringSubmatch(t); m != nil {
		return "SELECT CASE WHEN pg_try_advisory_lock(hashtextextended('" + m[1] + "', 0)) THEN 1 ELSE 0 END", ""
	}
	if reSet.MatchString(t) && !strings.Contains(t, ";") {
		return "", "set"
	}
	t = lex(t)
	if m := reSelectInto.FindStringSubmatchIndex(t); m != nil {
		t = "CREATE TABLE " + t[m[2]:m[3]] + " AS SELECT * FROM " + t[m[1]:]
	}
	if m := reTop.FindStringSubmatch(t); m != nil {
		t = "SELECT " + m[2] + " LIMIT " + m[1]
	}
	return convert(t), ""
}

// lex rewrites tokens outside string literals: [ident] -> "ident", N'x' ->
// 'x', NVARCHAR(MAX) -> text, NVARCHAR(n) -> varchar(n).
func lex(t string) string {
	var b strings.Builder
	for i := 0; i < len(t); {
		c := t[i]
		switch {
		case c == '\'':
			j := i + 1
			for ; j < len(t); j++ {
				if t[j] == '\'' {
					if j+1 < len(t) && t[j+1] == '\'' {
						j++
						continue
					}
					break
				}
			}
			if j >= len(t) {
				j = len(t) - 1
			}
			b.WriteString(t[i : j+1])
			i = j + 1
		case (c == 'N' || c == 'n') && i+1 < len(t) && t[i+1] == '\'' && (i == 0 || !isWord(t[i-1])):
			i++
		case c == '[':
			j := i + 1
			var id strings.Builder
			for ; j < len(t); j++ {
				if t[j] == ']' {
					if j+1 < len(t) && t[j+1] == ']' {
						id.WriteByte(']')
						j++
						continue
					}
					break
				}
				if t[j] == '"' {
					id.WriteByte('"')
				}
				id.WriteByte(t[j])
			}
			b.WriteString(`"` + id.String() + `"`)
			i = j + 1
		case isWord(c) && (i == 0 || !isWord(t[i-1])):
			j := i
			for j < len(t) && isWord(t[j]) {
				j++
			}
			w := t[i:j]
			if strings.EqualFold(w, "VARBINARY") {
				// VARBINARY(n) / VARBINARY(MAX) -> bytea
				b.WriteString("bytea")
				i = j
				if k := strings.IndexByte(t[j:], ')'); strings.HasPrefix(t[j:], "(") && k > 0 {
					i = j + k + 1
				}
				continue
			}
			if strings.EqualFold(w, "NVARCHAR") {
				rest := t[j:]
				if strings.HasPrefix(strings.ToUpper(rest), "(MAX)") {
					b.WriteString("text")
					i = j + 5
					continue
				}
				b.WriteString("varchar")
			} else {
				b.WriteString(w)
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

func isWord(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '@'
}

// convert rewrites CONVERT(type, expr[, style]) into CAST(expr AS type).
func convert(t string) string {
	for {
		up := strings.ToUpper(t)
		i := strings.Index(up, "CONVERT(")
		if i < 0 || (i > 0 && isWord(t[i-1])) {
			return t
		}
		start := i + len("CONVERT(")
		var args []string
		depth, last, end := 0, start, -1
		inStr := false
		for j := start; j < len(t); j++ {
			c := t[j]
			if inStr {
				if c == '\'' {
					inStr = false
				}
				continue
			}
			switch c {
			case '\'':
				inStr = true
			case '(':
				depth++
			case ')':
				if depth == 0 {
					args = append(args, t[last:j])
					end = j
				}
				depth--
			case ',':
				if depth == 0 {
					args = append(args, t[last:j])
					last = j + 1
				}
			}
			if end >= 0 {
				break
			}
		}
		if end < 0 || len(args) < 2 {
			return t
		}
		t = t[:i] + "CAST(" + strings.TrimSpace(args[1]) + " AS " + strings.TrimSpace(args[0]) + ")" + t[end+1:]
	}
}
