package main

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

const maxBatchInputs = 100

type batchInput struct {
	ID                 any            `json:"id"`
	IDProperty         string         `json:"idProperty"`
	Properties         map[string]any `json:"properties"`
	ObjectWriteTraceID string         `json:"objectWriteTraceId"`
}

type batchRequest struct {
	Inputs     []batchInput `json:"inputs"`
	Properties []string     `json:"properties"`
	IDProperty string       `json:"idProperty"`
}

// checkNames rejects unknown and read-only properties for the whole request,
// as HubSpot does, naming every offender.
func checkNames(o *ObjectType, inputs []batchInput) *apiErr {
	var bad []propErr
	seen := map[string]bool{}
	for _, in := range inputs {
		names := make([]string, 0, len(in.Properties))
		for n := range in.Properties {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if seen[n] {
				continue
			}
			p := o.Props[n]
			switch {
			case p == nil:
				bad = append(bad, propErr{n, "PROPERTY_DOESNT_EXIST", fmt.Sprintf("Property \"%s\" does not exist", n)})
			case p.readOnly():
				bad = append(bad, propErr{n, "READ_ONLY_VALUE", fmt.Sprintf("\"%s\" is a read only property; its value cannot be set.", n)})
			default:
				continue
			}
			seen[n] = true
		}
	}
	if len(bad) == 0 {
		return nil
	}
	e := validationErr(propErrMessage(bad))
	for _, b := range bad {
		e.errors = append(e.errors, map[string]any{"message": b.Message, "code": b.Code,
			"context": map[string][]string{"propertyName": {b.Name}}})
	}
	return e
}

// values converts an input's properties; rule faults apply here too.
func (s *Server) values(o *ObjectType, props map[string]any) (map[string]string, []propErr) {
	out := make(map[string]string, len(props))
	var errs []propErr
	for n, v := range props {
		sv, pe := o.normalize(o.Props[n], v)
		if pe != nil {
			errs = append(errs, *pe)
			continue
		}
		out[n] = sv
	}
	if pe := s.faults.ruleFor(o, out); pe != nil {
		errs = append(errs, *pe)
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Name < errs[j].Name })
	return out, errs
}

// recordErr is one item of a 207 body's errors[].
func recordErr(category, msg string, in *batchInput, ctx map[string][]string) map[string]any {
	if ctx == nil {
		ctx = map[string][]string{}
	}
	if in != nil && in.ObjectWriteTraceID != "" {
		ctx["objectWriteTraceId"] = []string{in.ObjectWriteTraceID}
	}
	return map[string]any{"status": "error", "category": category, "message": msg, "context": ctx}
}

func idString(v any) string {
	s, _ := rawString(v)
	return s
}

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request, o *ObjectType, op string) *apiErr {
	var req batchRequest
	if e := readJSON(r, &req); e != nil {
		return e
	}
	if req.Inputs == nil {
		return validationErr("Invalid input JSON: inputs is required")
	}
	if len(req.Inputs) > maxBatchInputs {
		return validationErr(fmt.Sprintf("Too many inputs: %d. The maximum is %d.", len(req.Inputs), maxBatchInputs))
	}
	if op == "update" || op == "upsert" || op == "archive" || op == "read" {
		seen := map[string]bool{}
		var dups []string
		for _, in := range req.Inputs {
			id := idString(in.ID)
			// A read by email names records case-insensitively, as
			// HubSpot stores emails: "A@x.com" and "a@x.com" are one id.
			k := id
			if op == "read" {
				k = uniqueKey(req.IDProperty, id)
			}
			if seen[k] {
				dups = append(dups, id)
			}
			seen[k] = true
		}
		if len(dups) > 0 {
			e := validationErr(fmt.Sprintf("Duplicate IDs found in batch input: [%s]. IDs must be unique", strings.Join(dups, ", ")))
			e.context = map[string][]string{"ids": dups}
			return e
		}
	}
	start := time.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.store.table(o)
	var results, errs []map[string]any
	status := 200
	switch op {
	case "create", "update", "upsert":
		if op == "create" {
			status = 201
		}
		if e := checkNames(o, req.Inputs); e != nil {
			return e
		}
		var ae *apiErr
		results, errs, ae = s.write(t, op, req.Inputs, start)
		if ae != nil {
			return ae
		}
		s.dirty = true
	case "archive":
		for _, in := range req.Inputs {
			if rec := t.find("", idString(in.ID)); rec != nil {
				s.store.archive(t, rec)
				s.dirty = true
			}
		}
		w.WriteHeader(204)
		return nil
	case "read":
		props := req.Properties
		if len(props) == 0 {
			props = o.defaultProps()
		}
		var missing []string
		for _, in := range req.Inputs {
			id := idString(in.ID)
			rec := t.find(req.IDProperty, id)
			if rec == nil {
				missing = append(missing, id)
				continue
			}
			results = append(results, t.recordJSON(rec, props, false))
		}
		if len(missing) > 0 {
			errs = append(errs, recordErr("OBJECT_NOT_FOUND", fmt.Sprintf("Could not get some %s objects, they may be deleted or not exist. Check that ids are valid.", o.Singular),
				nil, map[string][]string{"ids": missing}))
		}
	default:
		return &apiErr{status: 404, category: "OBJECT_NOT_FOUND", message: "resource not found"}
	}
	if results == nil {
		results = []map[string]any{}
	}
	body := map[string]any{"status": "COMPLETE", "results": results, "startedAt": start.Format(tsLayout),
		"completedAt": time.Now().UTC().Format(tsLayout)}
	if len(errs) > 0 {
		body["numErrors"] = len(errs)
		body["errors"] = errs
		status = 207
	}
	writeJSON(w, status, body)
	return nil
}

// nonUnique is HubSpot's answer to an idProperty without unique values.
func (s *Server) nonUnique(o *ObjectType, prop string) *apiErr {
	return validationErr(fmt.Sprintf("Unable to perform update/upsert by non-unique %s property %s in portal ID %d. Please use a property with unique values.",
		o.TypeID, prop, s.opts.PortalID))
}

// write runs batch create/update/upsert under s.mu. Without objectWriteTraceId
// on every input, create and update fail as a whole on the first bad input
// (HubSpot's behaviour); upsert always answers per input.
func (s *Server) write(t *Table, op string, inputs []batchInput, now time.Time) ([]map[string]any, []map[string]any, *apiErr) {
	o := t.obj
	multi := op == "upsert"
	if !multi {
		multi = true
		for _, in := range inputs {
			if in.ObjectWriteTraceID == "" {
				multi = false
			}
		}
	}
	for _, in := range inputs {
		if op == "upsert" {
			if in.IDProperty == "" {
				return nil, nil, validationErr("idProperty is required for upsert")
			}
			if _, ok := t.unique[in.IDProperty]; !ok {
				return nil, nil, s.nonUnique(o, in.IDProperty)
			}
		}
		if op == "update" && in.IDProperty != "" {
			if _, ok := t.unique[in.IDProperty]; !ok || in.IDProperty == "email" {
				return nil, nil, s.nonUnique(o, in.IDProperty)
			}
		}
	}
	var results, errs []map[string]any
	var missing []string
	fail := func(in *batchInput, status int, category, msg string, ctx map[string][]string) *apiErr {
		if !multi {
			e := &apiErr{status: status, category: category, message: msg, context: ctx}
			return e
		}
		errs = append(errs, recordErr(category, msg, in, ctx))
		return nil
	}
	// Validate everything first so a whole-batch failure writes nothing.
	type planned struct {
		in    *batchInput
		rec   *Record
		props map[string]string
	}
	var plan []planned
	for i := range inputs {
		in := &inputs[i]
		props, perrs := s.values(o, in.Properties)
		id := idString(in.ID)
		if len(perrs) > 0 {
			if e := fail(in, 400, "VALIDATION_ERROR", propErrMessage(perrs), map[string][]string{"ids": {id}}); e != nil {
				return nil, nil, e
			}
			continue
		}
		var rec *Record
		switch op {
		case "update":
			rec = t.find(in.IDProperty, id)
			if rec == nil {
				missing = append(missing, id)
				continue
			}
		case "upsert":
			rec = t.find(in.IDProperty, id)
			if rec == nil {
				if cur, ok := props[in.IDProperty]; ok && uniqueKey(in.IDProperty, cur) != uniqueKey(in.IDProperty, id) {
					if e := fail(in, 400, "VALIDATION_ERROR", fmt.Sprintf("The %s property value %q differs from the id %q", in.IDProperty, cur, id), nil); e != nil {
						return nil, nil, e
					}
					continue
				}
				norm, pe := o.normalize(o.Props[in.IDProperty], id)
				if pe != nil {
					fail(in, 400, "VALIDATION_ERROR", propErrMessage([]propErr{*pe}), map[string][]string{"ids": {id}})
					continue
				}
				props[in.IDProperty] = norm
			}
		}
		if n, other := t.conflict(rec, props); other != nil {
			msg := fmt.Sprintf("A %s with the %s %q already exists. Existing ID: %s", strings.ToLower(o.Singular), n, props[n], other.ID)
			if o.TypeID == "0-1" && n == "email" {
				msg = "Contact already exists. Existing ID: " + other.ID
			}
			if e := fail(in, 409, "CONFLICT", msg, map[string][]string{"existingId": {other.ID}}); e != nil {
				return nil, nil, e
			}
			continue
		}
		// Two inputs of one batch claiming the same unique value: the later one conflicts.
		dup := false
		for _, p := range plan {
			for n := range t.unique {
				if v := props[n]; v != "" && uniqueKey(n, p.props[n]) == uniqueKey(n, v) {
					dup = true
				}
			}
		}
		if dup {
			if e := fail(in, 409, "CONFLICT", "Another input of this batch has the same unique value", nil); e != nil {
				return nil, nil, e
			}
			continue
		}
		plan = append(plan, planned{in, rec, props})
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("Could not get some %s objects, they may be deleted or not exist. Check that ids are valid.", o.Singular)
		errs = append(errs, recordErr("OBJECT_NOT_FOUND", msg, nil, map[string][]string{"ids": missing}))
	}
	for _, p := range plan {
		isNew := p.rec == nil
		if isNew {
			p.rec = s.store.create(t, p.props, now)
		} else {
			s.store.apply(t, p.rec, p.props, now)
		}
		res := t.recordJSON(p.rec, nil, false)
		if op == "upsert" {
			res["new"] = isNew
		}
		if p.in.ObjectWriteTraceID != "" {
			res["objectWriteTraceId"] = p.in.ObjectWriteTraceID
		}
		results = append(results, res)
	}
	return results, errs, nil
}

// handleCreateOne is POST /crm/v3/objects/{type}.
func (s *Server) handleCreateOne(w http.ResponseWriter, r *http.Request, o *ObjectType) *apiErr {
	var in batchInput
	if e := readJSON(r, &in); e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inputs := []batchInput{in}
	if e := checkNames(o, inputs); e != nil {
		return e
	}
	results, _, e := s.write(s.store.table(o), "create", inputs, time.Now().UTC())
	if e != nil {
		return e
	}
	s.dirty = true
	writeJSON(w, 201, results[0])
	return nil
}

// handleOne is GET/PATCH/DELETE /crm/v3/objects/{type}/{id}[?idProperty=].
func (s *Server) handleOne(w http.ResponseWriter, r *http.Request, o *ObjectType, id string) *apiErr {
	q := r.URL.Query()
	idProp := q.Get("idProperty")
	var patch batchInput
	if r.Method == "PATCH" {
		if e := readJSON(r, &patch); e != nil {
			return e
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.store.table(o)
	if idProp != "" && idProp != "hs_object_id" {
		if _, ok := t.unique[idProp]; !ok {
			return s.nonUnique(o, idProp)
		}
	}
	rec := t.find(idProp, id)
	switch r.Method {
	case "DELETE":
		if rec != nil {
			s.store.archive(t, rec)
			s.dirty = true
		}
		w.WriteHeader(204)
		return nil
	case "GET":
		if rec == nil {
			return &apiErr{status: 404, category: "OBJECT_NOT_FOUND", message: "resource not found"}
		}
		writeJSON(w, 200, t.recordJSON(rec, queryList(q["properties"], o), false))
		return nil
	}
	if rec == nil {
		return &apiErr{status: 404, category: "OBJECT_NOT_FOUND", message: "resource not found"}
	}
	inputs := []batchInput{{ID: rec.ID, Properties: patch.Properties}}
	if e := checkNames(o, inputs); e != nil {
		return e
	}
	results, _, e := s.write(t, "update", inputs, time.Now().UTC())
	if e != nil {
		return e
	}
	s.dirty = true
	writeJSON(w, 200, results[0])
	return nil
}

// queryList accepts repeated and comma-separated query values.
func queryList(vals []string, o *ObjectType) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		return o.defaultProps()
	}
	return out
}

// handleList is GET /crm/v3/objects/{type}?limit=&after=&properties=.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request, o *ObjectType) *apiErr {
	q := r.URL.Query()
	limit := 10
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return validationErr("limit must be a positive integer")
		}
		limit = min(n, 100)
	}
	after := int64(0)
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return validationErr("after must be a record id")
		}
		after = n
	}
	props := queryList(q["properties"], o)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.store.table(o)
	results := []map[string]any{}
	var next string
	for _, rec := range t.live() {
		n, _ := strconv.ParseInt(rec.ID, 10, 64)
		if n < after {
			continue
		}
		if len(results) == limit {
			next = rec.ID
			break
		}
		results = append(results, t.recordJSON(rec, props, false))
	}
	body := map[string]any{"results": results}
	if next != "" {
		body["paging"] = map[string]any{"next": map[string]string{"after": next,
			"link": s.baseURL + r.URL.Path + "?after=" + next}}
	}
	writeJSON(w, 200, body)
	return nil
}
