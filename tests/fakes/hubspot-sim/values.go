package main

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// propErr is one property value HubSpot would reject, in the shape HubSpot embeds
// in a VALIDATION_ERROR message.
type propErr struct {
	Name    string `json:"name"`
	Code    string `json:"error"`
	Message string `json:"message"`
}

var numberRe = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)
var emailRe = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// rawString turns a JSON value inside "properties" into its string form:
// HubSpot accepts numbers and booleans and answers with strings.
func rawString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10), true
		}
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

func parseEpochMs(s string) (time.Time, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789-") != "" {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

var datetimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05"}

// normalize checks value v against p's type and returns the stored string.
func (o *ObjectType) normalize(p *Property, v any) (string, *propErr) {
	s, ok := rawString(v)
	if !ok {
		return "", &propErr{p.Name, "INVALID_TYPE", fmt.Sprintf("%v is not a valid value for %s", v, p.Name)}
	}
	if s == "" {
		return "", nil // clears the value
	}
	if len(s) > 65536 {
		return "", &propErr{p.Name, "INVALID_LENGTH", fmt.Sprintf("%s is longer than 65536 characters", p.Name)}
	}
	switch p.Type {
	case "number":
		if !numberRe.MatchString(s) {
			return "", &propErr{p.Name, "INVALID_NUMBER", fmt.Sprintf("Enter a number. %q is not a valid number", s)}
		}
	case "bool":
		l := strings.ToLower(s)
		if l != "true" && l != "false" {
			return "", &propErr{p.Name, "INVALID_BOOLEAN", fmt.Sprintf("%s was not a valid boolean (true or false)", s)}
		}
		return l, nil
	case "date":
		if t, ok := parseEpochMs(s); ok {
			if t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 || t.Nanosecond() != 0 {
				return "", &propErr{p.Name, "INVALID_DATE", fmt.Sprintf("%s is at %s UTC, not midnight UTC", s, t.Format("15:04:05"))}
			}
			return t.Format("2006-01-02"), nil
		}
		if _, err := time.Parse("2006-01-02", s); err != nil {
			return "", &propErr{p.Name, "INVALID_DATE", fmt.Sprintf("%s is not a valid date (YYYY-MM-DD or epoch milliseconds at midnight UTC)", s)}
		}
	case "datetime":
		if t, ok := parseEpochMs(s); ok {
			return t.Format("2006-01-02T15:04:05.000Z"), nil
		}
		for _, l := range datetimeLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t.UTC().Format("2006-01-02T15:04:05.000Z"), nil
			}
		}
		if t, err := time.Parse("2006-01-02", s); err == nil {
			return t.Format("2006-01-02T15:04:05.000Z"), nil
		}
		return "", &propErr{p.Name, "INVALID_DATETIME", fmt.Sprintf("%s is not a valid datetime (ISO 8601 or epoch milliseconds)", s)}
	case "enumeration":
		allowed := map[string]bool{}
		var values []string
		for _, op := range p.Options {
			allowed[op.Value] = true
			values = append(values, op.Value)
		}
		for _, part := range strings.Split(strings.TrimPrefix(s, ";"), ";") {
			if !allowed[part] {
				return "", &propErr{p.Name, "INVALID_OPTION", fmt.Sprintf("%s was not one of the allowed options: [%s]", part, strings.Join(values, ", "))}
			}
		}
	}
	if o.TypeID == "0-1" && p.Name == "email" {
		if !emailRe.MatchString(s) {
			return "", &propErr{p.Name, "INVALID_EMAIL", fmt.Sprintf("Email address %s is invalid", s)}
		}
		return strings.ToLower(s), nil
	}
	return s, nil
}

// propErrMessage renders errs the way HubSpot's VALIDATION_ERROR messages do.
func propErrMessage(errs []propErr) string {
	type item struct {
		IsValid bool   `json:"isValid"`
		Message string `json:"message"`
		Error   string `json:"error"`
		Name    string `json:"name"`
	}
	items := make([]item, len(errs))
	for i, e := range errs {
		items[i] = item{false, e.Message, e.Code, e.Name}
	}
	b, _ := json.Marshal(items)
	return "Property values were not valid: " + string(b)
}
