package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"time"
)

// Job is a Bulk API 2.0 ingest job.
type Job struct {
	Id              string
	Object          *Object
	Operation       string
	ExtIdField      *Field
	LineEnding      string
	ColumnDelimiter string
	ApiVersion      float64
	State           string
	ErrorMessage    string
	Created         time.Time
	Modstamp        time.Time
	data            []byte
	uploaded        bool
	processed       int
	failed          int
	procMs          int64
	header          []string
	success         bytes.Buffer
	failures        bytes.Buffer
	unprocessed     bytes.Buffer
	ctx             *reqCtx
	createdBy       string
	shuffle         bool  // results rows in random order (fault shuffleBulkResults)
	successOff      []int // start of each result row in success / failures
	failureOff      []int
}

var delimiters = map[string]rune{"BACKQUOTE": '`', "CARET": '^', "COMMA": ',', "PIPE": '|', "SEMICOLON": ';', "TAB": '\t'}

var operations = map[string]bool{"insert": true, "update": true, "upsert": true, "delete": true, "hardDelete": true}

func (j *Job) info(full bool) map[string]any {
	m := map[string]any{
		"id": j.Id, "operation": j.Operation, "object": j.Object.Name, "createdById": j.createdBy, "createdDate": sfTime(j.Created),
		"systemModstamp": sfTime(j.Modstamp), "state": j.State, "concurrencyMode": "Parallel", "contentType": "CSV",
		"apiVersion": j.ApiVersion, "lineEnding": j.LineEnding, "columnDelimiter": j.ColumnDelimiter,
	}
	if j.ExtIdField != nil {
		m["externalIdFieldName"] = j.ExtIdField.Name
	}
	m["contentUrl"] = fmt.Sprintf("services/data/v%.1f/jobs/ingest/%s/batches", j.ApiVersion, j.Id)
	if full {
		m["jobType"] = "V2Ingest"
		m["numberRecordsProcessed"] = j.processed
		m["numberRecordsFailed"] = j.failed
		m["retries"] = 0
		m["totalProcessingTime"] = j.procMs
		m["apiActiveProcessingTime"] = j.procMs
		m["apexProcessingTime"] = 0
		if j.ErrorMessage != "" {
			m["errorMessage"] = j.ErrorMessage
		}
	}
	return m
}

func bulkErr(w http.ResponseWriter, status int, code, msg string) {
	writeError(w, status, code, msg)
}

func (s *Server) routeBulk(w http.ResponseWriter, r *http.Request, ctx *reqCtx, parts []string) {
	if ctx.ver < 41 {
		notFound(w)
		return
	}
	if len(parts) == 0 || parts[0] == "" {
		switch r.Method {
		case "POST":
			s.bulkCreate(w, r, ctx)
		case "GET":
			s.mu.Lock()
			recs := make([]map[string]any, 0, len(s.jobList))
			for _, j := range s.jobList {
				recs = append(recs, j.info(false))
			}
			s.mu.Unlock()
			writeJSON(w, 200, map[string]any{"done": true, "records": recs, "nextRecordsUrl": nil})
		default:
			methodNotAllowed(w, r, "GET,POST")
		}
		return
	}
	s.mu.Lock()
	j := s.jobs[parts[0]]
	if j == nil {
		if id, ok := normalizeId(parts[0]); ok {
			j = s.jobs[id]
		}
	}
	s.mu.Unlock()
	if j == nil {
		notFound(w)
		return
	}
	if len(parts) == 1 {
		switch r.Method {
		case "GET":
			s.mu.Lock()
			info := j.info(true)
			s.mu.Unlock()
			writeJSON(w, 200, info)
		case "PATCH":
			s.bulkSetState(w, r, j)
		case "DELETE":
			s.mu.Lock()
			defer s.mu.Unlock()
			if j.State == "Open" || j.State == "InProgress" {
				bulkErr(w, 400, "INVALIDJOBSTATE", fmt.Sprintf("Job %s is in state %s and cannot be deleted", j.Id, j.State))
				return
			}
			delete(s.jobs, j.Id)
			for i, x := range s.jobList {
				if x == j {
					s.jobList = append(s.jobList[:i], s.jobList[i+1:]...)
					break
				}
			}
			w.WriteHeader(204)
		default:
			methodNotAllowed(w, r, "GET,PATCH,DELETE")
		}
		return
	}
	if len(parts) != 2 {
		notFound(w)
		return
	}
	switch parts[1] {
	case "batches":
		if r.Method != "PUT" {
			methodNotAllowed(w, r, "PUT")
			return
		}
		s.bulkUpload(w, r, j)
	case "successfulResults", "failedResults", "unprocessedrecords":
		if r.Method != "GET" {
			methodNotAllowed(w, r, "GET")
			return
		}
		s.mu.Lock()
		var body []byte
		switch parts[1] {
		case "successfulResults":
			body = append(body, j.success.Bytes()...)
		case "failedResults":
			body = append(body, j.failures.Bytes()...)
		default:
			body = append(body, j.unprocessed.Bytes()...)
		}
		if len(body) == 0 && j.header != nil {
			body = []byte(s.resultHeader(j, parts[1]))
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/csv")
		w.WriteHeader(200)
		w.Write(body)
	default:
		notFound(w)
	}
}

// multipartJob splits the create-and-upload form: part "job" (JSON) and part
// "content" (CSV, at most 100,000 characters).
func multipartJob(r *http.Request) (job, content []byte, e *reqErr) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, nil, newReqErr(400, "INVALIDJOB", "InvalidJob : malformed multipart request: "+err.Error())
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, newReqErr(400, "INVALIDJOB", "InvalidJob : malformed multipart request: "+err.Error())
		}
		data, err := io.ReadAll(io.LimitReader(part, 1<<20+1))
		if err != nil {
			return nil, nil, newReqErr(400, "INVALIDJOB", "InvalidJob : malformed multipart request: "+err.Error())
		}
		switch part.FormName() {
		case "job":
			job = data
		case "content":
			if len([]rune(string(data))) > 100000 {
				return nil, nil, newReqErr(400, "INVALIDJOB", "InvalidJob : multipart content is limited to 100000 characters; upload larger data with PUT .../batches")
			}
			content = data
		}
	}
	if job == nil || content == nil {
		return nil, nil, newReqErr(400, "INVALIDJOB", "InvalidJob : multipart request needs the parts job and content")
	}
	return job, content, nil
}

func (s *Server) bulkCreate(w http.ResponseWriter, r *http.Request, ctx *reqCtx) {
	var body, content []byte
	var e *reqErr
	if strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "multipart/") {
		body, content, e = multipartJob(r)
	} else {
		body, e = readBody(r, 1<<20)
	}
	if e != nil {
		writeReqErr(w, e)
		return
	}
	var req struct {
		Object              string `json:"object"`
		Operation           string `json:"operation"`
		ExternalIdFieldName string `json:"externalIdFieldName"`
		ContentType         string `json:"contentType"`
		LineEnding          string `json:"lineEnding"`
		ColumnDelimiter     string `json:"columnDelimiter"`
		AssignmentRuleId    string `json:"assignmentRuleId"`
	}
	if e := decodeJSON(body, &req); e != nil {
		writeReqErr(w, e)
		return
	}
	o := s.store.schema.object(req.Object)
	switch {
	case req.Object == "":
		bulkErr(w, 400, "INVALIDJOB", "InvalidJob : Object is required")
		return
	case o == nil:
		bulkErr(w, 400, "INVALIDJOB", fmt.Sprintf("InvalidJob : Unable to find object: %s", req.Object))
		return
	case !operations[req.Operation]:
		bulkErr(w, 400, "INVALIDJOB", fmt.Sprintf("InvalidJob : Invalid operation: %s", req.Operation))
		return
	case req.ContentType != "" && req.ContentType != "CSV":
		bulkErr(w, 400, "INVALIDJOB", fmt.Sprintf("InvalidJob : Invalid content type: %s", req.ContentType))
		return
	}
	if req.LineEnding == "" {
		req.LineEnding = "LF"
	}
	if req.LineEnding != "LF" && req.LineEnding != "CRLF" {
		bulkErr(w, 400, "INVALIDJOB", fmt.Sprintf("InvalidJob : Invalid line ending: %s", req.LineEnding))
		return
	}
	if req.ColumnDelimiter == "" {
		req.ColumnDelimiter = "COMMA"
	}
	if _, ok := delimiters[req.ColumnDelimiter]; !ok {
		bulkErr(w, 400, "INVALIDJOB", fmt.Sprintf("InvalidJob : Invalid column delimiter: %s", req.ColumnDelimiter))
		return
	}
	var ext *Field
	if req.Operation == "upsert" {
		if req.ExternalIdFieldName == "" {
			bulkErr(w, 400, "INVALIDJOB", fmt.Sprintf("InvalidJob : External ID was blank for %s. An External ID must be specified for upsert.", o.Name))
			return
		}
		ext = o.field(req.ExternalIdFieldName)
		if ext == nil || !(ext.ExternalId || ext.Name == "Id") {
			bulkErr(w, 400, "INVALIDJOB", fmt.Sprintf("InvalidJob : Field name provided, %s does not match an External ID, Salesforce Id, or indexed field for %s", req.ExternalIdFieldName, o.Name))
			return
		}
	}
	s.mu.Lock()
	s.jobSeq++
	now := s.now()
	j := &Job{Id: mintId("750", s.jobSeq), Object: o, Operation: req.Operation, ExtIdField: ext, LineEnding: req.LineEnding,
		ColumnDelimiter: req.ColumnDelimiter, ApiVersion: float64(ctx.ver), State: "Open", Created: now, Modstamp: now, ctx: ctx,
		createdBy: s.store.userId}
	if content != nil {
		j.data, j.uploaded = content, true
	}
	s.jobs[j.Id] = j
	s.jobList = append(s.jobList, j)
	info := j.info(false)
	s.mu.Unlock()
	writeJSON(w, 200, info)
}

func (s *Server) bulkUpload(w http.ResponseWriter, r *http.Request, j *Job) {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if ct != "" && !strings.HasPrefix(ct, "text/csv") {
		bulkErr(w, 400, "INVALIDCONTENTTYPE", fmt.Sprintf("Unsupported content type: %s", ct))
		return
	}
	data, e := readBody(r, 150<<20)
	if e != nil {
		writeReqErr(w, e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.State != "Open" {
		bulkErr(w, 409, "INVALIDJOBSTATE", fmt.Sprintf("Job %s is not Open (state %s); data can only be uploaded to an Open job", j.Id, j.State))
		return
	}
	if j.uploaded {
		bulkErr(w, 409, "INVALIDJOBSTATE", "Found multiple uploads for the job. Only one upload per job is supported.")
		return
	}
	j.data = data
	j.uploaded = true
	j.Modstamp = s.now()
	w.WriteHeader(201)
}

func (s *Server) bulkSetState(w http.ResponseWriter, r *http.Request, j *Job) {
	body, e := readBody(r, 1<<20)
	if e != nil {
		writeReqErr(w, e)
		return
	}
	var req struct {
		State string `json:"state"`
	}
	if e := decodeJSON(body, &req); e != nil {
		writeReqErr(w, e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.State {
	case "UploadComplete":
		if j.State != "Open" {
			bulkErr(w, 409, "INVALIDJOBSTATE", fmt.Sprintf("Job %s is in state %s; only an Open job can be closed", j.Id, j.State))
			return
		}
		j.State = "UploadComplete"
		j.Modstamp = s.now()
		go s.processJob(j)
	case "Aborted":
		if j.State != "Open" && j.State != "UploadComplete" && j.State != "InProgress" {
			bulkErr(w, 409, "INVALIDJOBSTATE", fmt.Sprintf("Job %s is in state %s and cannot be aborted", j.Id, j.State))
			return
		}
		j.State = "Aborted"
		j.Modstamp = s.now()
		if j.header == nil {
			// Not processed yet: the whole upload is unprocessed.
			j.unprocessed.Reset()
			j.unprocessed.Write(j.data)
		}
	default:
		bulkErr(w, 400, "INVALIDJOBSTATE", fmt.Sprintf("Invalid state: %s", req.State))
		return
	}
	writeJSON(w, 200, j.info(false))
}

// csvWriter writes result files with every value quoted, as Salesforce does.
func csvLine(buf *bytes.Buffer, delim rune, cells []string, quoteAll bool) {
	for i, c := range cells {
		if i > 0 {
			buf.WriteRune(delim)
		}
		if quoteAll || strings.ContainsAny(c, "\"\r\n"+string(delim)) {
			buf.WriteByte('"')
			buf.WriteString(strings.ReplaceAll(c, `"`, `""`))
			buf.WriteByte('"')
		} else {
			buf.WriteString(c)
		}
	}
	buf.WriteByte('\n')
}

func quoted(s string) string { return `"` + s + `"` }

func (s *Server) resultHeader(j *Job, kind string) string {
	var buf bytes.Buffer
	d := delimiters[j.ColumnDelimiter]
	var cells []string
	switch kind {
	case "successfulResults":
		buf.WriteString(quoted("sf__Id") + string(d) + quoted("sf__Created"))
	case "failedResults":
		if j.ApiVersion >= 53 {
			buf.WriteString(quoted("sf__Id") + string(d))
		}
		buf.WriteString(quoted("sf__Error"))
	}
	cells = j.header
	if buf.Len() > 0 && len(cells) > 0 {
		buf.WriteRune(d)
	}
	var tmp bytes.Buffer
	csvLine(&tmp, d, cells, false)
	buf.Write(tmp.Bytes())
	return buf.String()
}

// column is a resolved CSV header cell.
type column struct {
	f        *Field
	rel      *Object
	relField *Field
	isId     bool
}

func (s *Server) resolveColumns(j *Job) ([]column, error) {
	o := j.Object
	cols := make([]column, len(j.header))
	for i, h := range j.header {
		if strings.EqualFold(h, "Id") {
			cols[i] = column{f: o.field("Id"), isId: true}
			continue
		}
		if k := strings.IndexByte(h, '.'); k > 0 {
			relName, fname := h[:k], h[k+1:]
			typ := "" // polymorphic form Owner:User.Field
			if c := strings.IndexByte(relName, ':'); c >= 0 {
				relName, typ = relName[:c], relName[c+1:]
			}
			rf := o.relationship(relName)
			if rf != nil {
				for _, rt := range rf.ReferenceTo {
					if typ != "" && !strings.EqualFold(rt, typ) {
						continue
					}
					if t := s.store.schema.object(rt); t != nil {
						if ef := t.field(fname); ef != nil && (ef.ExternalId || ef.IdLookup) {
							cols[i] = column{f: rf, rel: t, relField: ef}
						}
					}
				}
				if cols[i].f != nil {
					continue
				}
			}
			return nil, fmt.Errorf("InvalidBatch : Field name not found : %s", h)
		}
		f := o.field(h)
		if f == nil {
			return nil, fmt.Errorf("InvalidBatch : Field name not found : %s", h)
		}
		cols[i] = column{f: f}
	}
	switch j.Operation {
	case "upsert":
		found := false
		for _, c := range cols {
			if c.f == j.ExtIdField && c.rel == nil {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("InvalidBatch : Field name not found : %s", j.ExtIdField.Name)
		}
	case "update", "delete", "hardDelete":
		found := false
		for _, c := range cols {
			if c.isId {
				found = true
			}
		}
		if !found {
			return nil, errors.New("InvalidBatch : Field name not found : Id")
		}
	}
	return cols, nil
}

func (s *Server) failJob(j *Job, msg string) {
	j.State = "Failed"
	j.ErrorMessage = msg
	j.Modstamp = s.now()
}

func checkLineEnding(data []byte, want string) bool {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		return true
	}
	crlf := i > 0 && data[i-1] == '\r'
	return crlf == (want == "CRLF")
}

// processJob runs a closed job in the background: UploadComplete -> InProgress ->
// JobComplete or Failed, in chunks of 200 rows so API calls interleave.
func (s *Server) processJob(j *Job) {
	start := time.Now()
	delay := s.faults.bulkDelay(s.opts.BulkDelay)
	time.Sleep(delay / 2)
	s.mu.Lock()
	if j.State != "UploadComplete" {
		s.mu.Unlock()
		return
	}
	j.shuffle = s.faults.shuffleResults()
	failAt := -1
	if s.faults.takeBulkFail() {
		failAt = 0 // set to half the rows below
	}
	j.State = "InProgress"
	j.Modstamp = s.now()
	d := delimiters[j.ColumnDelimiter]
	j.data = bytes.TrimPrefix(j.data, []byte("\xef\xbb\xbf"))
	var rows [][]string
	var parseErr error
	if len(bytes.TrimSpace(j.data)) == 0 {
		parseErr = errors.New("InvalidBatch : Records not processed: no data was uploaded")
	} else if !checkLineEnding(j.data, j.LineEnding) {
		parseErr = fmt.Errorf("ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is %s", j.LineEnding)
	} else {
		rd := csv.NewReader(bytes.NewReader(j.data))
		rd.Comma = d
		rd.FieldsPerRecord = -1
		for {
			rec, err := rd.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				parseErr = fmt.Errorf("ClientInputError : CSV parse error: %v", err)
				break
			}
			rows = append(rows, rec)
		}
	}
	var cols []column
	if parseErr == nil {
		j.header = rows[0]
		rows = rows[1:]
		cols, parseErr = s.resolveColumns(j)
	}
	if parseErr != nil {
		s.failJob(j, parseErr.Error())
		j.unprocessed.Reset()
		j.unprocessed.Write(j.data)
		s.mu.Unlock()
		return
	}
	j.success.WriteString(s.resultHeader(j, "successfulResults"))
	j.failures.WriteString(s.resultHeader(j, "failedResults"))
	j.unprocessed.WriteString(s.resultHeader(j, "unprocessedrecords"))
	if failAt == 0 {
		failAt = len(rows) / 2
	}
	s.mu.Unlock()

	for off := 0; off < len(rows); off += 200 {
		end := min(off+200, len(rows))
		if failAt >= 0 && end > failAt {
			end = failAt
		}
		s.mu.Lock()
		if failAt >= 0 && off >= failAt {
			// Injected failure: what was processed stays, the rest is unprocessed.
			for _, row := range rows[off:] {
				csvLine(&j.unprocessed, d, row, true)
			}
			s.failJob(j, "InternalServerError : An unexpected error occurred while processing the job")
			s.mu.Unlock()
			return
		}
		if j.State == "Aborted" {
			for _, row := range rows[off:] {
				csvLine(&j.unprocessed, d, row, true)
			}
			s.mu.Unlock()
			return
		}
		s.processChunk(j, cols, rows[off:end], d)
		j.procMs = time.Since(start).Milliseconds()
		s.dirty = true
		s.mu.Unlock()
		if end < off+200 && end < len(rows) {
			off = end - 200 // continue from the failure point
		}
	}
	if failAt >= 0 {
		s.mu.Lock()
		s.failJob(j, "InternalServerError : An unexpected error occurred while processing the job")
		s.mu.Unlock()
		return
	}
	if rest := delay - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	s.mu.Lock()
	if j.State == "InProgress" {
		if j.shuffle {
			shuffleRows(&j.success, j.successOff)
			shuffleRows(&j.failures, j.failureOff)
		}
		j.State = "JobComplete"
		j.Modstamp = s.now()
		j.procMs = time.Since(start).Milliseconds()
	}
	s.mu.Unlock()
}

func (s *Server) processChunk(j *Job, cols []column, rows [][]string, d rune) {
	o := j.Object
	t := s.store.table(o)
	// Duplicate external ids within the chunk fail, as in sObject Collections.
	dup := map[string]int{}
	extCol := -1
	if j.Operation == "upsert" {
		for i, c := range cols {
			if c.f == j.ExtIdField && c.rel == nil {
				extCol = i
			}
		}
		for _, row := range rows {
			if extCol < len(row) {
				if k, ok := indexKey(j.ExtIdField, row[extCol]); ok {
					dup[k]++
				}
			}
		}
	}
	for _, row := range rows {
		j.processed++
		id, created, errs := s.processRow(j, t, cols, row, extCol, dup)
		if errs != nil {
			j.failed++
			e := errs[0]
			cells := []string{fmt.Sprintf("%s:%s:%s --", e.StatusCode, e.Message, strings.Join(e.Fields, ","))}
			if j.ApiVersion >= 53 {
				cells = append([]string{id}, cells...)
			}
			j.failureOff = append(j.failureOff, j.failures.Len())
			csvLine(&j.failures, d, append(cells, row...), true)
			continue
		}
		cells := append([]string{id, fmt.Sprintf("%t", created)}, row...)
		j.successOff = append(j.successOff, j.success.Len())
		csvLine(&j.success, d, cells, true)
	}
}

func (s *Server) processRow(j *Job, t *Table, cols []column, row []string, extCol int, dup map[string]int) (string, bool, []*recErr) {
	o := j.Object
	if len(row) != len(cols) {
		return "", false, []*recErr{rerr("INVALID_FIELD", fmt.Sprintf("Row has %d columns, header has %d", len(row), len(cols)))}
	}
	var idVal string
	var assigns []assign
	var errs []*recErr
	for i, c := range cols {
		cell := row[i]
		if c.isId {
			idVal = cell
			continue
		}
		if c.rel != nil {
			if cell == "" {
				continue
			}
			if cell == "#N/A" {
				assigns = append(assigns, assign{f: c.f, v: nil})
				continue
			}
			v, _, e := convertCSV(c.relField, cell, i+1)
			if e != nil {
				errs = append(errs, e)
				continue
			}
			assigns = append(assigns, assign{f: c.f, v: v, rel: c.rel, relField: c.relField})
			continue
		}
		v, skip, e := convertCSV(c.f, cell, i+1)
		if e != nil {
			errs = append(errs, e)
			continue
		}
		if skip {
			continue
		}
		assigns = append(assigns, assign{f: c.f, v: v})
	}
	tx := s.store.begin()
	var id string
	created := false
	switch j.Operation {
	case "insert":
		if idVal != "" {
			return "", false, []*recErr{rerr("INVALID_FIELD", "cannot specify Id in an insert call", "Id")}
		}
		if errs != nil {
			return "", false, errs
		}
		created = true
		id, errs = s.writeRecord(tx, o, nil, assigns)
	case "update":
		if idVal == "" {
			return "", false, []*recErr{rerr("MISSING_ARGUMENT", "Id not specified in an update call")}
		}
		_, rec, e := s.findById(o, idVal)
		if e != nil {
			return "", false, []*recErr{e}
		}
		if errs != nil {
			return rec.Id, false, errs
		}
		id, errs = s.writeRecord(tx, o, rec, assigns)
		if errs != nil {
			id = rec.Id
		}
	case "upsert":
		f := j.ExtIdField
		raw := row[extCol]
		if raw == "" || raw == "#N/A" {
			return "", false, []*recErr{rerr("MISSING_ARGUMENT", fmt.Sprintf("%s not specified", f.Name), f.Name)}
		}
		var val any
		if f.Name == "Id" {
			nid, ok := normalizeId(raw)
			if !ok {
				return "", false, []*recErr{rerr("MALFORMED_ID", fmt.Sprintf("%s ID: id value of incorrect type: %s", o.Label, raw), "Id")}
			}
			val = nid
		} else {
			for _, a := range assigns {
				if a.f == f && a.rel == nil {
					val = a.v
				}
			}
			if k, _ := indexKey(f, val); dup[k] > 1 {
				return "", false, []*recErr{rerr("DUPLICATE_EXTERNAL_ID", fmt.Sprintf("Duplicate external id specified: %s", raw), f.Name)}
			}
		}
		if errs != nil {
			return "", false, errs
		}
		matches := t.lookup(f, val)
		switch len(matches) {
		case 0:
			if f.Name == "Id" {
				return "", false, []*recErr{rerr("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")}
			}
			created = true
			id, errs = s.writeRecord(tx, o, nil, assigns)
		case 1:
			id, errs = s.writeRecord(tx, o, matches[0], assigns)
			if errs != nil {
				id = matches[0].Id
			}
		default:
			ids := make([]string, len(matches))
			for k, m := range matches {
				ids[k] = m.Id
			}
			return "", false, []*recErr{rerr("DUPLICATE_EXTERNAL_ID", fmt.Sprintf("Duplicate external id specified: %s; matching records: %s", raw, strings.Join(ids, ", ")), f.Name)}
		}
	case "delete", "hardDelete":
		if idVal == "" {
			return "", false, []*recErr{rerr("MISSING_ARGUMENT", "Id not specified in a delete call")}
		}
		id, errs = s.deleteRecord(tx, o, idVal)
	}
	if errs != nil {
		tx.rollback()
		if created {
			id = ""
		}
		return id, false, errs
	}
	tx.commit()
	return id, created, nil
}

// shuffleRows puts the result rows that start at offs (after the header) in random
// order: Salesforce does not keep input order, and clients must correlate by key.
func shuffleRows(buf *bytes.Buffer, offs []int) {
	if len(offs) < 2 {
		return
	}
	data := buf.Bytes()
	rows := make([][]byte, len(offs))
	for i, o := range offs {
		end := len(data)
		if i+1 < len(offs) {
			end = offs[i+1]
		}
		rows[i] = data[o:end]
	}
	rand.Shuffle(len(rows), func(a, b int) { rows[a], rows[b] = rows[b], rows[a] })
	var out bytes.Buffer
	out.Write(data[:offs[0]])
	for _, r := range rows {
		out.Write(r)
	}
	*buf = out
}
