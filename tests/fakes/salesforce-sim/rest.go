package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ---- describe ----

func soapType(f *Field) string {
	switch f.Type {
	case "id", "reference":
		return "tns:ID"
	case "boolean":
		return "xsd:boolean"
	case "int":
		return "xsd:int"
	case "long":
		return "xsd:long"
	case "double", "currency", "percent":
		return "xsd:double"
	case "date":
		return "xsd:date"
	case "datetime":
		return "xsd:dateTime"
	}
	return "xsd:string"
}

func describeField(f *Field) map[string]any {
	pv := f.PicklistValues
	if pv == nil {
		pv = []PicklistValue{}
	}
	ref := f.ReferenceTo
	if ref == nil {
		ref = []string{}
	}
	var rel any
	if f.RelationshipName != "" {
		rel = f.RelationshipName
	}
	byteLen := f.Length * 3
	if f.Type == "id" || f.Type == "reference" {
		byteLen = 18
	}
	filterable := f.Type != "textarea" || f.Length <= 255
	return map[string]any{
		"aggregatable": filterable, "autoNumber": false, "byteLength": byteLen, "calculated": f.Calculated,
		"calculatedFormula": nil, "cascadeDelete": false, "caseSensitive": f.CaseSensitive, "compoundFieldName": nil,
		"controllerName": nil, "createable": f.Createable, "custom": f.Custom, "defaultValue": f.DefaultValue,
		"defaultValueFormula": nil, "defaultedOnCreate": f.DefaultedOnCreate, "dependentPicklist": false,
		"deprecatedAndHidden": false, "digits": f.Digits, "displayLocationInDecimal": false, "encrypted": false,
		"externalId": f.ExternalId, "extraTypeInfo": nil, "filterable": filterable, "filteredLookupInfo": nil,
		"groupable": filterable && f.Type != "double", "highScaleNumber": false, "htmlFormatted": false, "idLookup": f.IdLookup,
		"inlineHelpText": nil, "label": f.Label, "length": f.Length, "mask": nil, "maskType": nil, "name": f.Name,
		"nameField": f.Name == "Name", "namePointing": false, "nillable": f.Nillable, "permissionable": f.Custom && f.Nillable,
		"picklistValues": pv, "polymorphicForeignKey": false, "precision": f.Precision, "queryByDistance": false,
		"referenceTargetField": nil, "referenceTo": ref, "relationshipName": rel, "relationshipOrder": nil,
		"restrictedDelete": false, "restrictedPicklist": f.RestrictedPicklist, "scale": f.Scale, "searchPrefilterable": false,
		"soapType": soapType(f), "sortable": filterable, "type": f.Type, "unique": f.Unique, "updateable": f.Updateable,
		"writeRequiresMasterRead": false,
	}
}

func (s *Server) objectSummary(o *Object, ctx *reqCtx) map[string]any {
	base := ctx.vpath + "/sobjects/" + o.Name
	return map[string]any{
		"activateable": false, "createable": true, "custom": o.Custom, "customSetting": false, "deepCloneable": false,
		"deletable": true, "deprecatedAndHidden": false, "feedEnabled": false, "hasSubtypes": false, "isInterface": false,
		"isSubtype": false, "keyPrefix": o.KeyPrefix, "label": o.Label, "labelPlural": o.LabelPlural, "layoutable": true,
		"mergeable": !o.Custom, "mruEnabled": true, "name": o.Name, "queryable": true, "replicateable": true,
		"retrieveable": true, "searchable": true, "triggerable": true, "undeletable": true, "updateable": true,
		"urls": map[string]string{"rowTemplate": base + "/{ID}", "defaultValues": base + "/defaultValues?recordTypeId&fields",
			"describe": base + "/describe", "sobject": base},
	}
}

func (s *Server) describe(o *Object, ctx *reqCtx) map[string]any {
	d := s.objectSummary(o, ctx)
	fields := make([]map[string]any, 0, len(o.Fields))
	for _, f := range o.Fields {
		fields = append(fields, describeField(f))
	}
	d["fields"] = fields
	d["childRelationships"] = []any{}
	d["recordTypeInfos"] = []any{}
	d["actionOverrides"] = []any{}
	d["compactLayoutable"] = true
	d["searchLayoutable"] = true
	d["listviewable"] = nil
	d["lookupLayoutable"] = nil
	d["networkScopeFieldName"] = nil
	d["namedLayoutInfos"] = []any{}
	d["supportedScopes"] = []any{}
	d["sobjectDescribeOption"] = "FULL"
	return d
}

// ---- record rendering ----

func jsonValue(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case string:
		b, _ := json.Marshal(x)
		buf.Write(b)
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case float64:
		buf.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
	default:
		b, _ := json.Marshal(x)
		buf.Write(b)
	}
}

func (s *Server) writeAttributes(buf *bytes.Buffer, o *Object, id string, ctx *reqCtx) {
	buf.WriteString(`{"attributes":{"type":`)
	jsonValue(buf, o.Name)
	buf.WriteString(`,"url":`)
	jsonValue(buf, ctx.vpath+"/sobjects/"+o.Name+"/"+id)
	buf.WriteString("}")
}

// renderRecord writes a record with the given fields (all fields when refs is nil).
// Must hold s.mu.
func (s *Server) renderRecord(buf *bytes.Buffer, o *Object, r *Record, ctx *reqCtx, refs []*fieldRef) {
	s.writeAttributes(buf, o, r.Id, ctx)
	if refs == nil {
		for _, f := range o.Fields {
			buf.WriteByte(',')
			jsonValue(buf, f.Name)
			buf.WriteByte(':')
			jsonValue(buf, r.F[f.Name])
		}
		buf.WriteByte('}')
		return
	}
	done := map[*Field]bool{}
	for i, fr := range refs {
		if fr.rel == nil {
			buf.WriteByte(',')
			jsonValue(buf, fr.f.Name)
			buf.WriteByte(':')
			jsonValue(buf, r.F[fr.f.Name])
			continue
		}
		if done[fr.rel] {
			continue
		}
		done[fr.rel] = true
		buf.WriteByte(',')
		jsonValue(buf, fr.rel.RelationshipName)
		buf.WriteByte(':')
		pid, _ := r.F[fr.rel.Name].(string)
		var parent *Record
		if pid != "" {
			parent = s.store.table(fr.relObj).byId[pid]
		}
		if parent == nil {
			buf.WriteString("null")
			continue
		}
		s.writeAttributes(buf, fr.relObj, parent.Id, ctx)
		seen := map[string]bool{}
		for _, g := range refs[i:] {
			if g.rel != fr.rel || seen[g.f.Name] {
				continue
			}
			seen[g.f.Name] = true
			buf.WriteByte(',')
			jsonValue(buf, g.f.Name)
			buf.WriteByte(':')
			jsonValue(buf, parent.F[g.f.Name])
		}
		buf.WriteByte('}')
	}
	buf.WriteByte('}')
}

// ---- JSON record bodies ----

// parseJSONRecord maps a JSON record onto fields of o. The Id/id key is returned
// separately. Unknown fields fail the request, as Salesforce's deserializer does.
func (s *Server) parseJSONRecord(o *Object, m map[string]any, collections bool) (assigns []assign, idVal string, hasId bool, errs []*recErr, rq *reqErr) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		if k == "attributes" {
			continue
		}
		if strings.EqualFold(k, "Id") {
			str, _ := v.(string)
			idVal, hasId = str, true
			continue
		}
		f := o.field(k)
		if f == nil {
			if rf := o.relationship(k); rf != nil {
				if mm, ok := v.(map[string]any); ok {
					a, e := s.relAssign(rf, mm)
					if e != nil {
						return nil, "", false, nil, e
					}
					assigns = append(assigns, a)
					continue
				}
			}
			msg := fmt.Sprintf("No such column '%s' on sobject of type %s", k, o.Name)
			if collections {
				msg = fmt.Sprintf("Json Deserialization failed on token '%s' and has failed with exception: %s", k, msg)
			}
			return nil, "", false, nil, newReqErr(400, "INVALID_FIELD", msg)
		}
		cv, re, rqe := convertJSON(f, v)
		if rqe != nil {
			return nil, "", false, nil, rqe
		}
		if re != nil {
			errs = append(errs, re)
			continue
		}
		assigns = append(assigns, assign{f: f, v: cv})
	}
	return
}

func (s *Server) relAssign(rf *Field, m map[string]any) (assign, *reqErr) {
	var target *Object
	for _, rt := range rf.ReferenceTo {
		if t := s.store.schema.object(rt); t != nil {
			target = t
		}
	}
	if target == nil {
		return assign{}, newReqErr(400, "INVALID_FIELD", fmt.Sprintf("Cannot reference %s by external id", rf.RelationshipName))
	}
	for k, v := range m {
		if k == "attributes" {
			continue
		}
		ef := target.field(k)
		if ef == nil || !(ef.ExternalId || ef.IdLookup) {
			return assign{}, newReqErr(400, "INVALID_FIELD", fmt.Sprintf("Field name provided, %s is not an External ID or indexed field for %s", k, target.Name))
		}
		cv, re, rqe := convertJSON(ef, v)
		if rqe != nil {
			return assign{}, rqe
		}
		if re != nil {
			return assign{}, newReqErr(400, re.StatusCode, re.Message)
		}
		return assign{f: rf, v: cv, rel: target, relField: ef}, nil
	}
	return assign{}, newReqErr(400, "INVALID_FIELD", fmt.Sprintf("No external id field given for relationship %s", rf.RelationshipName))
}

// ---- single-record resources ----

// saveRes is a SaveResult/UpsertResult/DeleteResult in Salesforce's key order.
type saveRes struct {
	Id      string    `json:"id,omitempty"`
	Success bool      `json:"success"`
	Errors  []*recErr `json:"errors"`
	Created *bool     `json:"created,omitempty"`
}

func saveResult(id string, created *bool) saveRes {
	return saveRes{Id: id, Success: true, Errors: []*recErr{}, Created: created}
}

func writeRecErrs(w http.ResponseWriter, status int, errs []*recErr) {
	out := make([]apiError, 0, len(errs))
	for _, e := range errs {
		out = append(out, apiError{Message: e.Message, ErrorCode: e.StatusCode, Fields: e.Fields})
	}
	writeJSON(w, status, out)
}

func (s *Server) routeSObjects(w http.ResponseWriter, r *http.Request, ctx *reqCtx, parts []string) {
	if len(parts) == 0 || parts[0] == "" {
		if r.Method != "GET" {
			methodNotAllowed(w, r, "GET,HEAD")
			return
		}
		list := []map[string]any{}
		for _, n := range s.store.schema.sortedNames() {
			list = append(list, s.objectSummary(s.store.schema.object(n), ctx))
		}
		writeJSON(w, 200, map[string]any{"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list})
		return
	}
	o := s.store.schema.object(parts[0])
	if o == nil {
		notFound(w)
		return
	}
	switch len(parts) {
	case 1:
		switch r.Method {
		case "GET":
			s.mu.Lock()
			var recent []json.RawMessage
			t := s.store.table(o)
			for i := len(t.list) - 1; i >= 0 && len(recent) < 10; i-- {
				if rec := t.list[i]; !rec.deleted {
					var buf bytes.Buffer
					s.renderRecord(&buf, o, rec, ctx, []*fieldRef{{name: "Id", f: o.field("Id")}})
					recent = append(recent, buf.Bytes())
				}
			}
			s.mu.Unlock()
			if recent == nil {
				recent = []json.RawMessage{}
			}
			writeJSON(w, 200, map[string]any{"objectDescribe": s.objectSummary(o, ctx), "recentItems": recent})
		case "POST":
			s.singleCreate(w, r, o)
		default:
			methodNotAllowed(w, r, "GET,HEAD,POST")
		}
	case 2:
		if parts[1] == "describe" {
			if r.Method != "GET" {
				methodNotAllowed(w, r, "GET,HEAD")
				return
			}
			// The schema never changes while the sim runs.
			if ims, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !ims.Before(s.started.Truncate(time.Second)) {
				w.WriteHeader(304)
				return
			}
			writeJSON(w, 200, s.describe(o, ctx))
			return
		}
		if strings.EqualFold(parts[1], "Id") && r.Method == "POST" {
			s.singleCreate(w, r, o)
			return
		}
		s.singleById(w, r, ctx, o, parts[1])
	case 3:
		val, err := url.PathUnescape(parts[2])
		if err != nil {
			val = parts[2]
		}
		s.singleByExtId(w, r, ctx, o, parts[1], val)
	default:
		notFound(w)
	}
}

func (s *Server) readRecordBody(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	body, e := readBody(r, 50<<20)
	if e != nil {
		writeReqErr(w, e)
		return nil, false
	}
	var m map[string]any
	if e := decodeJSON(body, &m); e != nil {
		writeReqErr(w, e)
		return nil, false
	}
	if m == nil {
		writeError(w, 400, "JSON_PARSER_ERROR", "The HTTP entity body is required, but this request has no entity body.")
		return nil, false
	}
	return m, true
}

func (s *Server) singleCreate(w http.ResponseWriter, r *http.Request, o *Object) {
	m, ok := s.readRecordBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	assigns, _, hasId, errs, rq := s.parseJSONRecord(o, m, false)
	if rq != nil {
		writeReqErr(w, rq)
		return
	}
	if hasId {
		writeRecErrs(w, 400, []*recErr{rerr("INVALID_FIELD", "cannot specify Id in an insert call", "Id")})
		return
	}
	if len(errs) > 0 {
		writeRecErrs(w, 400, errs)
		return
	}
	tx := s.store.begin()
	id, errs := s.writeRecord(tx, o, nil, assigns)
	if errs != nil {
		tx.rollback()
		writeRecErrs(w, 400, errs)
		return
	}
	tx.commit()
	s.dirty = true
	writeJSON(w, 201, saveResult(id, nil))
}

func (s *Server) selectedRefs(o *Object, fields string) ([]*fieldRef, *reqErr) {
	if fields == "" {
		return nil, nil
	}
	var refs []*fieldRef
	for _, name := range strings.Split(fields, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		fr, err := s.resolvePath(o, name)
		if err != nil {
			return nil, newReqErr(400, "INVALID_FIELD", err.Error())
		}
		refs = append(refs, fr)
	}
	return refs, nil
}

func (s *Server) singleById(w http.ResponseWriter, r *http.Request, ctx *reqCtx, o *Object, rawId string) {
	switch r.Method {
	case "GET":
		s.mu.Lock()
		defer s.mu.Unlock()
		_, rec, e := s.findById(o, rawId)
		if e != nil {
			if e.StatusCode == "ENTITY_IS_DELETED" {
				writeError(w, 404, "ENTITY_IS_DELETED", "entity is deleted")
				return
			}
			notFound(w)
			return
		}
		refs, rq := s.selectedRefs(o, r.URL.Query().Get("fields"))
		if rq != nil {
			writeReqErr(w, rq)
			return
		}
		var buf bytes.Buffer
		s.renderRecord(&buf, o, rec, ctx, refs)
		writeJSON(w, 200, buf.Bytes())
	case "PATCH":
		m, ok := s.readRecordBody(w, r)
		if !ok {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		assigns, _, _, errs, rq := s.parseJSONRecord(o, m, false)
		if rq != nil {
			writeReqErr(w, rq)
			return
		}
		_, rec, e := s.findById(o, rawId)
		if e != nil {
			if e.StatusCode == "ENTITY_IS_DELETED" {
				writeError(w, 404, "ENTITY_IS_DELETED", "entity is deleted")
			} else {
				notFound(w)
			}
			return
		}
		if len(errs) > 0 {
			writeRecErrs(w, 400, errs)
			return
		}
		tx := s.store.begin()
		if _, errs := s.writeRecord(tx, o, rec, assigns); errs != nil {
			tx.rollback()
			writeRecErrs(w, 400, errs)
			return
		}
		tx.commit()
		s.dirty = true
		w.WriteHeader(204)
	case "DELETE":
		s.mu.Lock()
		defer s.mu.Unlock()
		tx := s.store.begin()
		if _, errs := s.deleteRecord(tx, o, rawId); errs != nil {
			if errs[0].StatusCode == "ENTITY_IS_DELETED" {
				writeError(w, 404, "ENTITY_IS_DELETED", "entity is deleted")
			} else if errs[0].StatusCode == "UNABLE_TO_LOCK_ROW" {
				writeRecErrs(w, 400, errs)
			} else {
				notFound(w)
			}
			return
		}
		tx.commit()
		s.dirty = true
		w.WriteHeader(204)
	default:
		methodNotAllowed(w, r, "GET,HEAD,PATCH,DELETE")
	}
}

// extField resolves the field of an upsert/lookup URL: an external id or Id.
func extField(o *Object, name string) *Field {
	f := o.field(name)
	if f == nil || !(f.ExternalId || f.Name == "Id" || f.IdLookup) {
		return nil
	}
	return f
}

func (s *Server) extValue(f *Field, raw string) (any, bool) {
	if f.Name == "Id" {
		id, ok := normalizeId(raw)
		return id, ok
	}
	v, _, e := convertCSV(f, raw, 1)
	if e != nil {
		return nil, false
	}
	return v, true
}

func (s *Server) multipleChoices(w http.ResponseWriter, ctx *reqCtx, o *Object, recs []*Record) {
	urls := make([]string, 0, len(recs))
	for _, r := range recs {
		urls = append(urls, ctx.vpath+"/sobjects/"+o.Name+"/"+r.Id)
	}
	writeJSON(w, 300, urls)
}

func (s *Server) singleByExtId(w http.ResponseWriter, r *http.Request, ctx *reqCtx, o *Object, fieldName, value string) {
	f := extField(o, fieldName)
	if f == nil || (r.Method == "PATCH" && !f.ExternalId && f.Name != "Id") {
		writeError(w, 404, "NOT_FOUND", fmt.Sprintf("Provided external ID field does not exist or is not accessible: %s", fieldName))
		return
	}
	switch r.Method {
	case "GET", "DELETE":
		s.mu.Lock()
		defer s.mu.Unlock()
		v, ok := s.extValue(f, value)
		var matches []*Record
		if ok {
			matches = s.store.table(o).lookup(f, v)
		}
		switch {
		case len(matches) == 0:
			notFound(w)
		case len(matches) > 1:
			s.multipleChoices(w, ctx, o, matches)
		case r.Method == "GET":
			refs, rq := s.selectedRefs(o, r.URL.Query().Get("fields"))
			if rq != nil {
				writeReqErr(w, rq)
				return
			}
			var buf bytes.Buffer
			s.renderRecord(&buf, o, matches[0], ctx, refs)
			writeJSON(w, 200, buf.Bytes())
		default:
			tx := s.store.begin()
			if _, errs := s.deleteRecord(tx, o, matches[0].Id); errs != nil {
				writeRecErrs(w, 400, errs)
				return
			}
			tx.commit()
			s.dirty = true
			w.WriteHeader(204)
		}
	case "PATCH", "POST":
		m, ok := s.readRecordBody(w, r)
		if !ok {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		assigns, _, _, errs, rq := s.parseJSONRecord(o, m, false)
		if rq != nil {
			writeReqErr(w, rq)
			return
		}
		v, ok := s.extValue(f, value)
		if !ok {
			if f.Name == "Id" {
				writeRecErrs(w, 400, []*recErr{rerr("MALFORMED_ID", fmt.Sprintf("%s ID: id value of incorrect type: %s", o.Label, value), "Id")})
			} else {
				writeRecErrs(w, 400, []*recErr{rerr("INVALID_FIELD", fmt.Sprintf("%s: value not of required type: %s", f.Label, value), f.Name)})
			}
			return
		}
		if len(errs) > 0 {
			writeRecErrs(w, 400, errs)
			return
		}
		matches := s.store.table(o).lookup(f, v)
		if len(matches) > 1 {
			s.multipleChoices(w, ctx, o, matches)
			return
		}
		tx := s.store.begin()
		if len(matches) == 0 {
			if f.Name == "Id" || r.URL.Query().Get("updateOnly") == "true" {
				notFound(w)
				return
			}
			hasExt := false
			for _, a := range assigns {
				if a.f == f {
					hasExt = true
				}
			}
			if !hasExt {
				assigns = append(assigns, assign{f: f, v: v})
			}
			id, errs := s.writeRecord(tx, o, nil, assigns)
			if errs != nil {
				tx.rollback()
				writeRecErrs(w, 400, errs)
				return
			}
			tx.commit()
			s.dirty = true
			t := true
			writeJSON(w, 201, saveResult(id, &t))
			return
		}
		id, errs := s.writeRecord(tx, o, matches[0], assigns)
		if errs != nil {
			tx.rollback()
			writeRecErrs(w, 400, errs)
			return
		}
		tx.commit()
		s.dirty = true
		if ctx.ver < 46 {
			w.WriteHeader(204)
			return
		}
		f := false
		writeJSON(w, 200, saveResult(id, &f))
	default:
		methodNotAllowed(w, r, "GET,HEAD,PATCH,DELETE")
	}
}
