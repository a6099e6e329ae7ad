package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

const maxCollection = 200

type collectionBody struct {
	AllOrNone bool             `json:"allOrNone"`
	Records   []map[string]any `json:"records"`
}

type itemResult struct {
	id      string
	created *bool
	errs    []*recErr
}

func (it itemResult) json(rolledBack bool) saveRes {
	if it.errs == nil && !rolledBack {
		return saveResult(it.id, it.created)
	}
	if rolledBack {
		return saveRes{Id: it.id, Errors: []*recErr{rerr("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all records were valid and the request was using AllOrNone header")}}
	}
	return saveRes{Errors: it.errs}
}

var errLimit = newReqErr(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")

func recordType(rec map[string]any) string {
	attrs, _ := rec["attributes"].(map[string]any)
	t, _ := attrs["type"].(string)
	return t
}

func (s *Server) readCollection(w http.ResponseWriter, r *http.Request) (*collectionBody, bool) {
	body, e := readBody(r, 50<<20)
	if e != nil {
		writeReqErr(w, e)
		return nil, false
	}
	var cb collectionBody
	if e := decodeJSON(body, &cb); e != nil {
		writeReqErr(w, e)
		return nil, false
	}
	if len(cb.Records) > maxCollection {
		writeReqErr(w, errLimit)
		return nil, false
	}
	return &cb, true
}

// finish commits or rolls back per allOrNone and writes the positional results.
func (s *Server) finishCollection(w http.ResponseWriter, tx *Tx, allOrNone bool, results []itemResult) {
	failed := false
	for _, it := range results {
		if it.errs != nil {
			failed = true
		}
	}
	rollback := allOrNone && failed
	if rollback {
		tx.rollback()
	} else {
		tx.commit()
		s.dirty = true
	}
	out := make([]saveRes, len(results))
	for i, it := range results {
		out[i] = it.json(rollback && it.errs == nil)
	}
	writeJSON(w, 200, out)
}

func (s *Server) routeCollections(w http.ResponseWriter, r *http.Request, ctx *reqCtx, parts []string) {
	if ctx.ver < 42 {
		notFound(w)
		return
	}
	switch len(parts) {
	case 0:
		switch r.Method {
		case "POST":
			s.collectionCreate(w, r, ctx)
		case "PATCH":
			s.collectionUpdate(w, r, ctx)
		case "DELETE":
			s.collectionDelete(w, r, ctx)
		default:
			methodNotAllowed(w, r, "POST,PATCH,DELETE")
		}
	case 1:
		if r.Method != "GET" {
			methodNotAllowed(w, r, "GET,POST")
			return
		}
		s.collectionRetrieve(w, r, ctx, parts[0])
	case 2:
		if r.Method != "PATCH" {
			methodNotAllowed(w, r, "PATCH")
			return
		}
		if ctx.ver < 46 {
			notFound(w)
			return
		}
		s.collectionUpsert(w, r, ctx, parts[0], parts[1])
	default:
		notFound(w)
	}
}

// parsedItem is a collection record after request-level validation.
type parsedItem struct {
	o       *Object
	assigns []assign
	id      string
	hasId   bool
	errs    []*recErr
}

// parseItems does the request-level checks (types, unknown fields, JSON types) for
// every record before anything is written, as Salesforce deserializes the whole body first.
func (s *Server) parseItems(cb *collectionBody, fixed *Object) ([]parsedItem, *reqErr) {
	items := make([]parsedItem, len(cb.Records))
	for i, rec := range cb.Records {
		tn := recordType(rec)
		if tn == "" {
			return nil, newReqErr(400, "INVALID_TYPE", "No SObject Type defined in the attributes of record "+strconv.Itoa(i))
		}
		o := s.store.schema.object(tn)
		if o == nil {
			return nil, newReqErr(400, "INVALID_TYPE", fmt.Sprintf("sObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.", tn))
		}
		if fixed != nil && o != fixed {
			return nil, newReqErr(400, "INVALID_TYPE", fmt.Sprintf("All records must be of type %s; found %s", fixed.Name, o.Name))
		}
		assigns, id, hasId, errs, rq := s.parseJSONRecord(o, rec, true)
		if rq != nil {
			return nil, rq
		}
		items[i] = parsedItem{o: o, assigns: assigns, id: id, hasId: hasId, errs: errs}
	}
	return items, nil
}

func (s *Server) collectionCreate(w http.ResponseWriter, r *http.Request, ctx *reqCtx) {
	cb, ok := s.readCollection(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	items, rq := s.parseItems(cb, nil)
	if rq != nil {
		writeReqErr(w, rq)
		return
	}
	tx := s.store.begin()
	results := make([]itemResult, len(items))
	for i, it := range items {
		switch {
		case it.hasId:
			results[i].errs = []*recErr{rerr("INVALID_FIELD", "cannot specify Id in an insert call", "Id")}
		case it.errs != nil:
			results[i].errs = it.errs
		default:
			results[i].id, results[i].errs = s.writeRecord(tx, it.o, nil, it.assigns)
		}
	}
	s.finishCollection(w, tx, cb.AllOrNone, results)
}

func (s *Server) collectionUpdate(w http.ResponseWriter, r *http.Request, ctx *reqCtx) {
	cb, ok := s.readCollection(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	items, rq := s.parseItems(cb, nil)
	if rq != nil {
		writeReqErr(w, rq)
		return
	}
	tx := s.store.begin()
	results := make([]itemResult, len(items))
	for i, it := range items {
		if !it.hasId || it.id == "" {
			results[i].errs = []*recErr{rerr("MISSING_ARGUMENT", "Id not specified in an update call")}
			continue
		}
		_, rec, e := s.findById(it.o, it.id)
		if e != nil {
			results[i].errs = []*recErr{e}
			continue
		}
		if it.errs != nil {
			results[i].errs = it.errs
			continue
		}
		results[i].id, results[i].errs = s.writeRecord(tx, it.o, rec, it.assigns)
	}
	s.finishCollection(w, tx, cb.AllOrNone, results)
}

func (s *Server) collectionUpsert(w http.ResponseWriter, r *http.Request, ctx *reqCtx, objName, fieldName string) {
	s.mu.Lock()
	o := s.store.schema.object(objName)
	s.mu.Unlock()
	if o == nil {
		writeError(w, 400, "INVALID_TYPE", fmt.Sprintf("sObject type '%s' is not supported.", objName))
		return
	}
	f := o.field(fieldName)
	if f == nil || !f.ExternalId {
		msg := fmt.Sprintf("Field name provided, %s does not match an External ID, Salesforce Id, or indexed field for %s", fieldName, o.Name)
		if f != nil && f.Name == "Id" {
			msg = "Only external ids are supported. Don't use record ids."
		}
		writeError(w, 400, "INVALID_FIELD", msg)
		return
	}
	cb, ok := s.readCollection(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	items, rq := s.parseItems(cb, o)
	if rq != nil {
		writeReqErr(w, rq)
		return
	}
	// Values of the external id in this request, to catch duplicates.
	keys := make([]string, len(items))
	seen := map[string]int{}
	for i, it := range items {
		for _, a := range it.assigns {
			if a.f == f && a.rel == nil {
				if k, ok := indexKey(f, a.v); ok {
					keys[i] = k
					seen[k]++
				}
			}
		}
	}
	tx := s.store.begin()
	results := make([]itemResult, len(items))
	t := s.store.table(o)
	for i, it := range items {
		var val any
		for _, a := range it.assigns {
			if a.f == f {
				val = a.v
			}
		}
		switch {
		case it.hasId && it.id != "":
			results[i].errs = []*recErr{rerr("INVALID_FIELD", "Only external ids are supported. Don't use record ids.", "Id")}
		case keys[i] == "":
			results[i].errs = []*recErr{rerr("MISSING_ARGUMENT", fmt.Sprintf("%s not specified", f.Name), f.Name)}
		case seen[keys[i]] > 1:
			results[i].errs = []*recErr{rerr("DUPLICATE_EXTERNAL_ID", fmt.Sprintf("Duplicate external id specified: %s", formatValue(val)), f.Name)}
		case it.errs != nil:
			results[i].errs = it.errs
		default:
			matches := t.lookup(f, val)
			switch len(matches) {
			case 0:
				created := true
				results[i].created = &created
				results[i].id, results[i].errs = s.writeRecord(tx, o, nil, it.assigns)
			case 1:
				created := false
				results[i].created = &created
				results[i].id, results[i].errs = s.writeRecord(tx, o, matches[0], it.assigns)
			default:
				ids := make([]string, len(matches))
				for j, m := range matches {
					ids[j] = m.Id
				}
				results[i].errs = []*recErr{rerr("DUPLICATE_EXTERNAL_ID", fmt.Sprintf("Duplicate external id specified: %s; matching records: %s", formatValue(val), strings.Join(ids, ", ")), f.Name)}
			}
		}
	}
	s.finishCollection(w, tx, cb.AllOrNone, results)
}

func (s *Server) collectionDelete(w http.ResponseWriter, r *http.Request, ctx *reqCtx) {
	q := r.URL.Query()
	raw := q.Get("ids")
	if raw == "" {
		writeError(w, 400, "MISSING_ARGUMENT", "ids parameter is required")
		return
	}
	ids := strings.Split(raw, ",")
	if len(ids) > maxCollection {
		writeReqErr(w, errLimit)
		return
	}
	allOrNone := strings.EqualFold(q.Get("allOrNone"), "true")
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := s.store.begin()
	results := make([]itemResult, len(ids))
	for i, id := range ids {
		id = strings.TrimSpace(id)
		if _, ok := normalizeId(id); !ok {
			results[i].errs = []*recErr{rerr("MALFORMED_ID", "malformed id "+id)}
			continue
		}
		results[i].id, results[i].errs = s.deleteRecord(tx, nil, id)
	}
	s.finishCollection(w, tx, allOrNone, results)
}

func (s *Server) collectionRetrieve(w http.ResponseWriter, r *http.Request, ctx *reqCtx, objName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.store.schema.object(objName)
	if o == nil {
		notFound(w)
		return
	}
	q := r.URL.Query()
	if q.Get("ids") == "" || q.Get("fields") == "" {
		writeError(w, 400, "MISSING_ARGUMENT", "ids and fields parameters are required")
		return
	}
	refs, rq := s.selectedRefs(o, q.Get("fields"))
	if rq != nil {
		writeReqErr(w, rq)
		return
	}
	ids := strings.Split(q.Get("ids"), ",")
	if len(ids) > 2000 {
		writeReqErr(w, errLimit)
		return
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			buf.WriteByte(',')
		}
		_, rec, e := s.findById(o, strings.TrimSpace(id))
		if e != nil {
			buf.WriteString("null")
			continue
		}
		s.renderRecord(&buf, o, rec, ctx, refs)
	}
	buf.WriteByte(']')
	writeJSON(w, 200, buf.Bytes())
}

// ---- query ----

type cursor struct {
	records []json.RawMessage
	batch   int
	ctx     *reqCtx
}

func queryError(q string, err error, code string) *reqErr {
	return newReqErr(400, code, "\n"+q+"\n"+err.Error())
}

func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request, ctx *reqCtx) {
	qs := r.URL.Query().Get("q")
	if qs == "" {
		writeError(w, 400, "MALFORMED_QUERY", "A query string has to be specified")
		return
	}
	q, err := parseSOQL(qs)
	if err != nil {
		writeReqErr(w, queryError(qs, err, "MALFORMED_QUERY"))
		return
	}
	batch := 2000
	if s.opts.QueryBatchSize > 0 {
		batch = s.opts.QueryBatchSize
	}
	if opt := r.Header.Get("Sforce-Query-Options"); opt != "" {
		for _, kv := range strings.Split(opt, ",") {
			kv = strings.TrimSpace(kv)
			if strings.HasPrefix(kv, "batchSize=") {
				if n, err := strconv.Atoi(strings.TrimPrefix(kv, "batchSize=")); err == nil {
					batch = min(max(n, 200), 2000)
				}
			}
		}
	}
	s.mu.Lock()
	o := s.store.schema.object(q.Object)
	if o == nil {
		s.mu.Unlock()
		writeReqErr(w, queryError(qs, fmt.Errorf("sObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.", q.Object), "INVALID_TYPE"))
		return
	}
	recs, refs, rerr := s.runQuery(o, q)
	if rerr != nil {
		s.mu.Unlock()
		writeReqErr(w, queryError(qs, rerr, "INVALID_FIELD"))
		return
	}
	if q.Count {
		s.mu.Unlock()
		if q.CountField == "" {
			writeJSON(w, 200, map[string]any{"totalSize": len(recs), "done": true, "records": []any{}})
		} else {
			writeJSON(w, 200, map[string]any{"totalSize": 1, "done": true, "records": []any{map[string]any{"attributes": map[string]string{"type": "AggregateResult"}, "expr0": len(recs)}}})
		}
		return
	}
	rendered := make([]json.RawMessage, len(recs))
	for i, rec := range recs {
		var buf bytes.Buffer
		s.renderRecord(&buf, o, rec, ctx, refs)
		rendered[i] = buf.Bytes()
	}
	var locator string
	if len(rendered) > batch {
		s.curSeq++
		locator = mintId("01g", s.curSeq)
		s.cursors[locator] = &cursor{records: rendered, batch: batch, ctx: ctx}
		if len(s.cursors) > 200 {
			for k := range s.cursors {
				if k != locator {
					delete(s.cursors, k)
					break
				}
			}
		}
	}
	s.mu.Unlock()
	s.writeQueryPage(w, ctx, rendered, 0, batch, locator)
}

func (s *Server) writeQueryPage(w http.ResponseWriter, ctx *reqCtx, recs []json.RawMessage, offset, batch int, locator string) {
	end := min(offset+batch, len(recs))
	var buf bytes.Buffer
	buf.WriteString(`{"totalSize":`)
	buf.WriteString(strconv.Itoa(len(recs)))
	done := end >= len(recs)
	buf.WriteString(`,"done":`)
	buf.WriteString(strconv.FormatBool(done))
	if !done {
		buf.WriteString(`,"nextRecordsUrl":`)
		jsonValue(&buf, fmt.Sprintf("%s/query/%s-%d", ctx.vpath, locator, end))
	}
	buf.WriteString(`,"records":[`)
	for i := offset; i < end; i++ {
		if i > offset {
			buf.WriteByte(',')
		}
		buf.Write(recs[i])
	}
	buf.WriteString("]}")
	writeJSON(w, 200, buf.Bytes())
}

func (s *Server) handleQueryMore(w http.ResponseWriter, r *http.Request, ctx *reqCtx, loc string) {
	i := strings.LastIndexByte(loc, '-')
	if i < 0 {
		writeError(w, 400, "INVALID_QUERY_LOCATOR", "invalid query locator")
		return
	}
	off, err := strconv.Atoi(loc[i+1:])
	s.mu.Lock()
	c := s.cursors[loc[:i]]
	s.mu.Unlock()
	if c == nil || err != nil || off < 0 || off > len(c.records) {
		writeError(w, 400, "INVALID_QUERY_LOCATOR", "invalid query locator")
		return
	}
	s.writeQueryPage(w, ctx, c.records, off, c.batch, loc[:i])
	if off+c.batch >= len(c.records) {
		s.mu.Lock()
		delete(s.cursors, loc[:i])
		s.mu.Unlock()
	}
}

// runQuery evaluates q. Must hold s.mu.
func (s *Server) runQuery(o *Object, q *Query) ([]*Record, []*fieldRef, error) {
	var refs []*fieldRef
	for _, name := range q.Fields {
		fr, err := s.resolvePath(o, name)
		if err != nil {
			return nil, nil, err
		}
		refs = append(refs, fr)
	}
	if q.CountField != "" {
		if _, err := s.resolvePath(o, q.CountField); err != nil {
			return nil, nil, err
		}
	}
	var match evalFn
	if q.Where != nil {
		m, err := s.compileCond(o, q.Where)
		if err != nil {
			return nil, nil, err
		}
		match = m
	}
	var order []*fieldRef
	for _, it := range q.OrderBy {
		fr, err := s.resolvePath(o, it.Field)
		if err != nil {
			return nil, nil, err
		}
		order = append(order, fr)
	}
	t := s.store.table(o)
	cands, ok := []*Record(nil), false
	if q.Where != nil {
		cands, ok = s.indexedCandidates(o, q.Where)
	}
	if !ok {
		cands = t.list
	}
	var out []*Record
	for _, r := range cands {
		if r.deleted {
			continue
		}
		if match == nil || match(r) {
			out = append(out, r)
		}
	}
	if len(order) > 0 {
		sortRecords(out, func(a, b *Record) int {
			for i, fr := range order {
				va, vb := s.refValue(a, fr), s.refValue(b, fr)
				it := q.OrderBy[i]
				na, nb := blank(va), blank(vb)
				var c int
				switch {
				case na && nb:
					c = 0
				case na:
					c = -1
					if it.NullsLast {
						c = 1
					}
				case nb:
					c = 1
					if it.NullsLast {
						c = -1
					}
				default:
					c = compareVals(va, vb)
					if it.Desc {
						c = -c
					}
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
	}
	if q.Offset > 0 {
		if q.Offset >= len(out) {
			out = nil
		} else {
			out = out[q.Offset:]
		}
	}
	if q.Limit >= 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, refs, nil
}
