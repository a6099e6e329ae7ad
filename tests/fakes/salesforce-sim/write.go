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

// recErr is one per-record error, as in a SaveResult.
type recErr struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

func rerr(code, msg string, fields ...string) *recErr {
	if fields == nil {
		fields = []string{}
	}
	return &recErr{StatusCode: code, Message: msg, Fields: fields}
}

// reqErr is a request-level error: the whole call fails with status and the REST error array.
type reqErr struct {
	Status  int
	Code    string
	Message string
	Fields  []string
}

func (e *reqErr) Error() string { return e.Code + ": " + e.Message }

func newReqErr(status int, code, msg string) *reqErr {
	return &reqErr{Status: status, Code: code, Message: msg}
}

// assign is one field value to write, already converted to the stored type.
// A relationship assignment (rel != nil) sets the reference field f to the Id of the
// record of rel whose relField equals v.
type assign struct {
	f        *Field
	v        any
	rel      *Object
	relField *Field
}

var emailRe = regexp.MustCompile(`^[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$`)

var dateRe = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})$`)

func parseDate(s string) (string, bool) {
	if !dateRe.MatchString(s) {
		return "", false
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return "", false
	}
	return t.Format("2006-01-02"), true
}

var dtLayouts = []string{
	"2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", "2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05.000", "2006-01-02T15:04:05",
}

func parseDateTime(s string) (string, bool) {
	for _, l := range dtLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return sfTime(t), true
		}
	}
	if d, ok := parseDate(s); ok {
		return d + "T00:00:00.000+0000", true
	}
	return "", false
}

func isNumeric(t string) bool {
	switch t {
	case "int", "long", "double", "currency", "percent":
		return true
	}
	return false
}

func xsdType(f *Field) string {
	switch f.Type {
	case "int":
		return "int"
	case "long":
		return "long"
	case "double", "currency", "percent":
		return "double"
	case "boolean":
		return "boolean"
	case "date":
		return "date"
	case "datetime":
		return "dateTime"
	}
	return "string"
}

// convertJSON turns a decoded JSON value into the stored form. Values that Salesforce's
// JSON deserializer rejects (bad dates, booleans) fail the whole request with
// JSON_PARSER_ERROR; non-numeric strings in number fields fail the record.
func convertJSON(f *Field, v any) (any, *recErr, *reqErr) {
	parseErr := func(kind string, val any) *reqErr {
		return newReqErr(400, "JSON_PARSER_ERROR", fmt.Sprintf("Cannot deserialize instance of %s from VALUE_STRING value %v or request may be missing a required field", kind, val))
	}
	if v == nil {
		if f.Type == "boolean" {
			return false, nil, nil
		}
		return nil, nil, nil
	}
	if _, isObj := v.(map[string]any); isObj {
		return nil, nil, newReqErr(400, "JSON_PARSER_ERROR", fmt.Sprintf("Cannot deserialize instance of %s from START_OBJECT value { or request may be missing a required field", xsdType(f)))
	}
	if _, isArr := v.([]any); isArr {
		return nil, nil, newReqErr(400, "JSON_PARSER_ERROR", fmt.Sprintf("Cannot deserialize instance of %s from START_ARRAY value [ or request may be missing a required field", xsdType(f)))
	}
	switch f.Type {
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, nil, nil
		case string:
			if b, err := strconv.ParseBool(strings.ToLower(x)); err == nil {
				return b, nil, nil
			}
			return nil, nil, parseErr("boolean", x)
		case json.Number:
			if x == "0" || x == "1" {
				return x == "1", nil, nil
			}
			return nil, nil, parseErr("boolean", x)
		}
	case "int", "long", "double", "currency", "percent":
		var s string
		switch x := v.(type) {
		case json.Number:
			s = string(x)
		case string:
			s = strings.TrimSpace(x)
		case bool:
			return nil, rerr("INVALID_TYPE_ON_FIELD_IN_RECORD", fmt.Sprintf("%s: value not of required type: %v", f.Label, x), f.Name), nil
		}
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, rerr("INVALID_TYPE_ON_FIELD_IN_RECORD", fmt.Sprintf("%s: value not of required type: %v", f.Label, v), f.Name), nil
		}
		return n, nil, nil
	case "date":
		s, ok := v.(string)
		if !ok {
			return nil, nil, parseErr("date", v)
		}
		if d, ok := parseDate(s); ok {
			return d, nil, nil
		}
		if dt, ok := parseDateTime(s); ok {
			return dt[:10], nil, nil
		}
		return nil, nil, parseErr("date", s)
	case "datetime":
		s, ok := v.(string)
		if !ok {
			return nil, nil, parseErr("datetime", v)
		}
		if dt, ok := parseDateTime(s); ok {
			return dt, nil, nil
		}
		return nil, nil, parseErr("datetime", s)
	}
	switch x := v.(type) {
	case string:
		return x, nil, nil
	case json.Number:
		return string(x), nil, nil
	case bool:
		return strconv.FormatBool(x), nil, nil
	}
	return nil, nil, parseErr(xsdType(f), v)
}

// convertCSV turns one Bulk API CSV cell into the stored form. skip reports an empty
// cell (ignored on update, "no value" on insert); "#N/A" is null.
func convertCSV(f *Field, s string, col int) (v any, skip bool, e *recErr) {
	if s == "" {
		return nil, true, nil
	}
	if s == "#N/A" {
		if f.Type == "boolean" {
			return false, false, nil
		}
		return nil, false, nil
	}
	bad := func() *recErr {
		return rerr("INVALID_FIELD", fmt.Sprintf("Failed to deserialize field at col %d. Due to, '%s' is not a valid value for the type xsd:%s", col, s, xsdType(f)), f.Name)
	}
	switch f.Type {
	case "boolean":
		switch strings.ToLower(s) {
		case "true", "1", "yes", "y":
			return true, false, nil
		case "false", "0", "no", "n":
			return false, false, nil
		}
		return nil, false, bad()
	case "int", "long", "double", "currency", "percent":
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, false, bad()
		}
		return n, false, nil
	case "date":
		if d, ok := parseDate(s); ok {
			return d, false, nil
		}
		if dt, ok := parseDateTime(s); ok {
			return dt[:10], false, nil
		}
		return nil, false, bad()
	case "datetime":
		if dt, ok := parseDateTime(s); ok {
			return dt, false, nil
		}
		return nil, false, bad()
	}
	return s, false, nil
}

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func blank(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && s == ""
}

// checkValue applies the per-type constraints of a field to a converted value.
func (srv *Server) checkValue(f *Field, v any) *recErr {
	if v == nil {
		return nil
	}
	switch f.Type {
	case "string", "textarea", "phone", "url", "picklist", "multipicklist", "combobox", "email":
		s := v.(string)
		if f.Length > 0 && len([]rune(s)) > f.Length {
			return rerr("STRING_TOO_LONG", fmt.Sprintf("%s: data value too large: %s (max length=%d)", f.Label, s, f.Length), f.Name)
		}
		if f.Type == "email" && s != "" && !emailRe.MatchString(s) {
			return rerr("INVALID_EMAIL_ADDRESS", fmt.Sprintf("%s: invalid email address: %s", f.Label, s), f.Name)
		}
		if f.Type == "picklist" && f.RestrictedPicklist && s != "" {
			found := false
			for _, p := range f.PicklistValues {
				if p.Active && p.Value == s {
					found = true
					break
				}
			}
			if !found {
				return rerr("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", fmt.Sprintf("%s: bad value for restricted picklist field: %s", f.Label, s), f.Name)
			}
		}
	case "int", "long":
		n := v.(float64)
		digits := f.Digits
		if digits == 0 {
			digits = 18
		}
		if math.Abs(n) >= math.Pow10(digits) {
			return rerr("NUMBER_OUTSIDE_VALID_RANGE", fmt.Sprintf("%s: number outside valid range: %v", f.Label, formatValue(n)), f.Name)
		}
	case "double", "currency", "percent":
		n := v.(float64)
		if f.Precision > 0 && math.Abs(n) >= math.Pow10(f.Precision-f.Scale) {
			return rerr("NUMBER_OUTSIDE_VALID_RANGE", fmt.Sprintf("%s: number outside valid range: %v", f.Label, formatValue(n)), f.Name)
		}
	case "reference", "id":
		s := v.(string)
		if s == "" {
			return nil
		}
		id, ok := normalizeId(s)
		if !ok {
			return rerr("MALFORMED_ID", fmt.Sprintf("%s: id value of incorrect type: %s", f.Label, s), f.Name)
		}
		target := srv.store.schema.objectByIdPrefix(id)
		if target == nil {
			return rerr("FIELD_INTEGRITY_EXCEPTION", fmt.Sprintf("%s: id value of incorrect type: %s", f.Label, s), f.Name)
		}
		okType := false
		for _, rt := range f.ReferenceTo {
			if strings.EqualFold(rt, target.Name) {
				okType = true
			}
		}
		if !okType {
			return rerr("FIELD_INTEGRITY_EXCEPTION", fmt.Sprintf("%s: id value of incorrect type: %s", f.Label, s), f.Name)
		}
		if srv.store.table(target).byId[id] == nil {
			if srv.store.table(target).deletedIds[id] {
				return rerr("ENTITY_IS_DELETED", "entity is deleted", f.Name)
			}
			return rerr("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", f.Name)
		}
	}
	return nil
}

// normalizeStored rounds numbers and canonicalises Ids before storing.
func normalizeStored(f *Field, v any) any {
	switch x := v.(type) {
	case float64:
		switch f.Type {
		case "int", "long":
			return math.Round(x)
		case "double", "currency", "percent":
			p := math.Pow10(f.Scale)
			return math.Round(x*p) / p
		}
	case string:
		if (f.Type == "reference" || f.Type == "id") && x != "" {
			if id, ok := normalizeId(x); ok {
				return id
			}
		}
	}
	return v
}

// writeRecord validates and applies one create (existing == nil) or update. It must be
// called with the server lock held. It returns the record Id or the record's errors.
func (srv *Server) writeRecord(tx *Tx, o *Object, existing *Record, assigns []assign) (string, []*recErr) {
	create := existing == nil
	t := srv.store.table(o)
	var errs []*recErr
	// Field-level security: system fields and non-createable/updateable ones.
	var bad []string
	for _, a := range assigns {
		if a.f.Name == "Id" && !create {
			continue
		}
		if (create && !a.f.Createable) || (!create && !a.f.Updateable) {
			bad = append(bad, a.f.Name)
		}
	}
	if len(bad) > 0 {
		return "", []*recErr{rerr("INVALID_FIELD_FOR_INSERT_UPDATE", fmt.Sprintf("Unable to create/update fields: %s. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", strings.Join(bad, ", ")), bad...)}
	}
	newF := map[string]any{}
	if create {
		for _, f := range o.Fields {
			if f.DefaultValue != nil && !f.system {
				newF[f.Name] = f.DefaultValue
			}
		}
	} else {
		for k, v := range existing.F {
			newF[k] = v
		}
	}
	for _, a := range assigns {
		if a.f.Name == "Id" {
			continue
		}
		v := a.v
		if a.rel != nil {
			matches := srv.store.table(a.rel).lookup(a.relField, v)
			switch len(matches) {
			case 0:
				errs = append(errs, rerr("INVALID_FIELD", fmt.Sprintf("Foreign key external ID: %s not found for field %s in entity %s", formatValue(v), a.relField.Name, a.rel.Name), a.f.Name))
				continue
			case 1:
				v = matches[0].Id
			default:
				errs = append(errs, rerr("INVALID_FIELD", fmt.Sprintf("More than 1 record found for external id field %s with value %s in entity %s", a.relField.Name, formatValue(v), a.rel.Name), a.f.Name))
				continue
			}
		} else if e := srv.checkValue(a.f, v); e != nil {
			errs = append(errs, e)
			continue
		}
		newF[a.f.Name] = normalizeStored(a.f, v)
	}
	if len(errs) > 0 {
		return "", errs
	}
	// Required fields.
	var missing []string
	for _, f := range o.Fields {
		if f.system || f.Nillable || f.Type == "boolean" {
			continue
		}
		if create && !f.requiredOnCreate() {
			continue
		}
		if !create && !f.Updateable {
			continue
		}
		if blank(newF[f.Name]) {
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		return "", []*recErr{rerr("REQUIRED_FIELD_MISSING", fmt.Sprintf("Required fields are missing: [%s]", strings.Join(missing, ", ")), missing...)}
	}
	// Validation rules injected by tests.
	if e := srv.faults.checkRules(o, newF); e != nil {
		return "", []*recErr{e}
	}
	// Uniqueness.
	for name, m := range t.idx {
		f := o.field(name)
		if !f.Unique {
			continue
		}
		k, ok := indexKey(f, newF[name])
		if !ok {
			continue
		}
		for _, other := range m[k] {
			if existing == nil || other != existing {
				return "", []*recErr{rerr("DUPLICATE_VALUE", fmt.Sprintf("duplicate value found: %s duplicates value on record with id: %s", f.Name, other.Id))}
			}
		}
	}
	id := ""
	if existing != nil {
		id = existing.Id
	}
	if srv.faults.takeLock() {
		return "", []*recErr{rerr("UNABLE_TO_LOCK_ROW", fmt.Sprintf("unable to obtain exclusive access to this record or 1 records: %s", id))}
	}
	now := sfTime(srv.now())
	if create {
		id = srv.store.newId(o)
		newF["Id"] = id
		newF["IsDeleted"] = false
		newF["CreatedDate"] = now
		newF["CreatedById"] = srv.store.userId
		if f := o.field("OwnerId"); f != nil && blank(newF["OwnerId"]) {
			newF["OwnerId"] = srv.store.userId
		}
	}
	newF["LastModifiedDate"] = now
	newF["LastModifiedById"] = srv.store.userId
	newF["SystemModstamp"] = now
	if f := o.field("Name"); f != nil && f.system {
		parts := []string{}
		for _, n := range []string{"FirstName", "LastName"} {
			if s, ok := newF[n].(string); ok && s != "" {
				parts = append(parts, s)
			}
		}
		newF["Name"] = strings.Join(parts, " ")
	}
	if create {
		tx.insert(t, &Record{Id: id, F: newF})
	} else {
		tx.update(t, existing, newF)
	}
	return id, nil
}

// findById resolves an Id for update/delete: the live record, or the error to report.
func (srv *Server) findById(o *Object, raw string) (*Object, *Record, *recErr) {
	id, ok := normalizeId(raw)
	label := "Record"
	if o != nil {
		label = o.Label
	}
	if !ok {
		return nil, nil, rerr("MALFORMED_ID", fmt.Sprintf("%s ID: id value of incorrect type: %s", label, raw), "Id")
	}
	target := srv.store.schema.objectByIdPrefix(id)
	if target == nil || (o != nil && target != o) {
		return nil, nil, rerr("MALFORMED_ID", fmt.Sprintf("%s ID: id value of incorrect type: %s", label, raw), "Id")
	}
	t := srv.store.table(target)
	if r := t.byId[id]; r != nil {
		return target, r, nil
	}
	if t.deletedIds[id] {
		return target, nil, rerr("ENTITY_IS_DELETED", "entity is deleted")
	}
	return target, nil, rerr("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
}

func (srv *Server) deleteRecord(tx *Tx, o *Object, raw string) (string, []*recErr) {
	target, r, e := srv.findById(o, raw)
	if e != nil {
		return "", []*recErr{e}
	}
	if srv.faults.takeLock() {
		return "", []*recErr{rerr("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records: "+r.Id)}
	}
	tx.remove(srv.store.table(target), r)
	return r.Id, nil
}
