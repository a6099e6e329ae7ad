package main

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Snowflake functions that PostgreSQL lacks or spells differently, installed
// in schema sf, which is first on the search_path.
const functions = `
CREATE SCHEMA IF NOT EXISTS sf;
CREATE OR REPLACE FUNCTION sf.sf_fmt(f text) RETURNS text LANGUAGE sql IMMUTABLE AS
  $$ SELECT replace(replace(replace(f, 'FF9', 'US'), 'FF6', 'US'), 'FF3', 'MS') $$;
CREATE OR REPLACE FUNCTION sf.to_varchar(v anyelement) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT v::text $$;
CREATE OR REPLACE FUNCTION sf.to_varchar(v timestamp, f text) RETURNS text LANGUAGE sql STABLE AS $$ SELECT to_char(v, sf.sf_fmt(f)) $$;
CREATE OR REPLACE FUNCTION sf.to_varchar(v timestamptz, f text) RETURNS text LANGUAGE sql STABLE AS $$ SELECT to_char(v, sf.sf_fmt(f)) $$;
CREATE OR REPLACE FUNCTION sf.to_varchar(v date, f text) RETURNS text LANGUAGE sql STABLE AS $$ SELECT to_char(v, sf.sf_fmt(f)) $$;
CREATE OR REPLACE FUNCTION sf.to_json(v anyelement) RETURNS text LANGUAGE sql STABLE AS $$ SELECT pg_catalog.to_json(v)::text $$;
CREATE OR REPLACE FUNCTION sf.to_json(v jsonb) RETURNS text LANGUAGE sql STABLE AS $$ SELECT v::text $$;
-- SHA2 as Snowflake computes it: lower-case hex of the UTF-8 bytes. pgcrypto's
-- digest takes the algorithm by name, so v and bits are each used once and
-- PostgreSQL inlines the call (a CASE over bits used v four times, which kept
-- it a SQL function call per row: 0.3 s per 100k rows). An unsupported bits
-- value fails, as in Snowflake.
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA sf;
CREATE OR REPLACE FUNCTION sf.sha2(v text, bits int DEFAULT 256) RETURNS text LANGUAGE sql IMMUTABLE AS
  $$ SELECT encode(sf.digest(convert_to(v, 'UTF8'), 'sha' || bits::text), 'hex') $$;
CREATE OR REPLACE FUNCTION sf.hash(VARIADIC v text[]) RETURNS bigint LANGUAGE sql IMMUTABLE AS
  $$ SELECT hashtextextended(array_to_string(v, chr(31), chr(30)), 0) $$;
`

func installFunctions(ctx context.Context, pool *pgxpool.Pool) error {
	var err error
	for i := 0; i < 3; i++ {
		// Concurrent installs race on CREATE OR REPLACE; retry.
		if _, err = pool.Exec(ctx, functions); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// splitStatements splits on ';' outside literals, quoted identifiers and
// comments; empty statements are dropped.
func splitStatements(text string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for ; j < len(text); j++ {
				if c == '\'' && text[j] == '\\' {
					j++
					continue
				}
				if text[j] == c {
					if j+1 < len(text) && text[j+1] == c {
						j++
						continue
					}
					break
				}
			}
			if j >= len(text) {
				j = len(text) - 1
			}
			cur.WriteString(text[i : j+1])
			i = j
		case c == '-' && i+1 < len(text) && text[i+1] == '-':
			j := strings.IndexByte(text[i:], '\n')
			if j < 0 {
				i = len(text)
			} else {
				i += j
			}
		case c == ';':
			if s := strings.TrimSpace(cur.String()); s != "" {
				out = append(out, s)
			}
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// translate rewrites one Snowflake statement for PostgreSQL.
func translate(q string) string {
	var b strings.Builder
	var prev string // previous word, upper case
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'':
			// Snowflake literals take backslash escapes: PostgreSQL E'...'.
			j := i + 1
			esc := false
			for ; j < len(q); j++ {
				if q[j] == '\\' {
					esc = true
					j++
					continue
				}
				if q[j] == '\'' {
					if j+1 < len(q) && q[j+1] == '\'' {
						j++
						continue
					}
					break
				}
			}
			if j >= len(q) {
				j = len(q) - 1
			}
			if esc {
				b.WriteByte('E')
			}
			b.WriteString(q[i : j+1])
			i = j + 1
		case c == '"':
			j := strings.IndexByte(q[i+1:], '"')
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			id := q[i+1 : i+1+j]
			// "ID" in Snowflake is the unquoted ID, which PostgreSQL folds
			// to lower case.
			if id == strings.ToUpper(id) && strings.ToLower(id) != id {
				id = strings.ToLower(id)
			}
			b.WriteString(`"` + id + `"`)
			i += j + 2
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				return b.String()
			}
			b.WriteString(q[i : i+j])
			i += j
		case unicode.IsLetter(rune(c)) || c == '_':
			j := i
			for j < len(q) && (unicode.IsLetter(rune(q[j])) || unicode.IsDigit(rune(q[j])) || q[j] == '_' || q[j] == '$') {
				j++
			}
			w := q[i:j]
			up := strings.ToUpper(w)
			switch {
			case up == "MINUS":
				b.WriteString("EXCEPT")
			case up == "TRANSIENT" && prev == "CREATE":
				// PostgreSQL has no transient tables; a plain table keeps
				// the semantics that matter (no fail-safe is observable).
				for i = j; i < len(q) && q[i] == ' '; i++ {
				}
				prev = up
				continue
			default:
				b.WriteString(w)
			}
			prev = up
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// columnOf maps a PostgreSQL result column onto a Snowflake rowType entry.
func columnOf(fd pgconn.FieldDescription) column {
	name := fd.Name
	if name == strings.ToLower(name) {
		name = strings.ToUpper(name)
	}
	c := column{Name: name, Nullable: true}
	switch fd.DataTypeOID {
	case 20, 21, 23:
		c.Type, c.Precision = "fixed", 38
	case 1700:
		c.Type, c.Precision, c.Scale = "fixed", 38, 9
		if fd.TypeModifier >= 4 {
			c.Precision = int((fd.TypeModifier - 4) >> 16)
			c.Scale = int((fd.TypeModifier - 4) & 0xffff)
		}
	case 700, 701:
		c.Type = "real"
	case 16:
		c.Type = "boolean"
	case 1082:
		c.Type = "date"
	case 1114:
		c.Type = "timestamp_ntz"
	case 1184:
		c.Type = "timestamp_tz"
	case 114, 3802:
		c.Type = "variant"
	case 17:
		c.Type = "binary"
	case 1083:
		c.Type = "time"
	default:
		c.Type = "text"
		l := 16777216
		c.Length = &l
	}
	return c
}

// encodeCell renders PostgreSQL text output the way SQL API v2 jsonv2 does.
func encodeCell(typ, v string) string {
	switch typ {
	case "boolean":
		if v == "t" {
			return "true"
		}
		if v == "f" {
			return "false"
		}
	case "date":
		if t, err := time.Parse("2006-01-02", v); err == nil {
			return strconv.FormatInt(t.Unix()/86400, 10)
		}
	case "timestamp_ntz":
		if t, err := time.Parse("2006-01-02 15:04:05.999999999", v); err == nil {
			return epoch(t)
		}
	case "timestamp_tz":
		for _, layout := range []string{"2006-01-02 15:04:05.999999999-07", "2006-01-02 15:04:05.999999999-07:00"} {
			if t, err := time.Parse(layout, v); err == nil {
				_, off := t.Zone()
				return epoch(t) + " " + strconv.Itoa(off/60+1440)
			}
		}
	case "binary":
		return strings.TrimPrefix(v, `\x`)
	}
	return v
}

// epoch renders seconds since the epoch with 9 decimals, the fraction
// carrying the sign of the whole (-1.5 is 1.5 seconds before).
func epoch(t time.Time) string {
	s := t.Unix()
	ns := t.Nanosecond()
	if s < 0 && ns > 0 {
		return "-" + strconv.FormatInt(-(s+1), 10) + "." + leftPad(strconv.Itoa(1e9-ns), 9)
	}
	return strconv.FormatInt(s, 10) + "." + leftPad(strconv.Itoa(ns), 9)
}

func leftPad(s string, n int) string {
	for len(s) < n {
		s = "0" + s
	}
	return s
}

// placeholders numbers the '?' outside literals and quoted identifiers as
// $1, $2, ... and returns how many there were.
func placeholders(q string) (string, int) {
	var b strings.Builder
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), n
}
