package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// QueryJob is a Bulk API 2.0 query job: the SOQL runs once in the background and
// its CSV result is served in pages with Sforce-Locator.
type QueryJob struct {
	Id              string
	Object          string
	Operation       string
	Query           string
	LineEnding      string
	ColumnDelimiter string
	ApiVersion      float64
	State           string
	ErrorMessage    string
	Created         time.Time
	Modstamp        time.Time
	createdBy       string
	header          []string
	rows            [][]string
	procMs          int64
}

func (j *QueryJob) info(full bool) map[string]any {
	m := map[string]any{
		"id": j.Id, "operation": j.Operation, "object": j.Object, "createdById": j.createdBy,
		"createdDate": sfTime(j.Created), "systemModstamp": sfTime(j.Modstamp), "state": j.State,
		"concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": j.ApiVersion,
		"lineEnding": j.LineEnding, "columnDelimiter": j.ColumnDelimiter,
	}
	if full {
		m["jobType"] = "V2Query"
		m["numberRecordsProcessed"] = len(j.rows)
		m["retries"] = 0
		m["totalProcessingTime"] = j.procMs
		if j.ErrorMessage != "" {
			m["errorMessage"] = j.ErrorMessage
		}
	}
	return m
}

func (s *Server) routeBulkQuery(w http.ResponseWriter, r *http.Request, ctx *reqCtx, parts []string) {
	if ctx.ver < 47 {
		notFound(w)
		return
	}
	if len(parts) == 0 || parts[0] == "" {
		switch r.Method {
		case "POST":
			s.queryJobCreate(w, r, ctx)
		case "GET":
			s.mu.Lock()
			recs := make([]map[string]any, 0, len(s.qjobList))
			for _, j := range s.qjobList {
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
	j := s.qjobs[parts[0]]
	s.mu.Unlock()
	if j == nil {
		notFound(w)
		return
	}
	switch {
	case len(parts) == 1 && r.Method == "GET":
		s.mu.Lock()
		info := j.info(true)
		s.mu.Unlock()
		writeJSON(w, 200, info)
	case len(parts) == 1 && r.Method == "PATCH":
		body, e := readBody(r, 1<<16)
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
		if req.State != "Aborted" || (j.State != "UploadComplete" && j.State != "InProgress") {
			bulkErr(w, 409, "INVALIDJOBSTATE", fmt.Sprintf("Job %s is in state %s and cannot change to %s", j.Id, j.State, req.State))
			return
		}
		j.State = "Aborted"
		j.Modstamp = s.now()
		writeJSON(w, 200, j.info(false))
	case len(parts) == 1 && r.Method == "DELETE":
		s.mu.Lock()
		defer s.mu.Unlock()
		if j.State == "UploadComplete" || j.State == "InProgress" {
			bulkErr(w, 409, "INVALIDJOBSTATE", fmt.Sprintf("Job %s is in state %s and cannot be deleted", j.Id, j.State))
			return
		}
		delete(s.qjobs, j.Id)
		for i, x := range s.qjobList {
			if x == j {
				s.qjobList = append(s.qjobList[:i], s.qjobList[i+1:]...)
				break
			}
		}
		w.WriteHeader(204)
	case len(parts) == 2 && parts[1] == "results" && r.Method == "GET":
		s.queryJobResults(w, r, j)
	case len(parts) <= 2:
		methodNotAllowed(w, r, "GET,PATCH,DELETE")
	default:
		notFound(w)
	}
}

func (s *Server) queryJobCreate(w http.ResponseWriter, r *http.Request, ctx *reqCtx) {
	body, e := readBody(r, 1<<20)
	if e != nil {
		writeReqErr(w, e)
		return
	}
	var req struct {
		Operation       string `json:"operation"`
		Query           string `json:"query"`
		ContentType     string `json:"contentType"`
		ColumnDelimiter string `json:"columnDelimiter"`
		LineEnding      string `json:"lineEnding"`
	}
	if e := decodeJSON(body, &req); e != nil {
		writeReqErr(w, e)
		return
	}
	if req.Operation != "query" && req.Operation != "queryAll" {
		bulkErr(w, 400, "INVALIDJOB", fmt.Sprintf("InvalidJob : Invalid operation: %s", req.Operation))
		return
	}
	if req.LineEnding == "" {
		req.LineEnding = "LF"
	}
	if req.ColumnDelimiter == "" {
		req.ColumnDelimiter = "COMMA"
	}
	if _, ok := delimiters[req.ColumnDelimiter]; !ok || (req.LineEnding != "LF" && req.LineEnding != "CRLF") || (req.ContentType != "" && req.ContentType != "CSV") {
		bulkErr(w, 400, "INVALIDJOB", "InvalidJob : invalid contentType, columnDelimiter or lineEnding")
		return
	}
	q, err := parseSOQL(req.Query)
	if err != nil {
		writeReqErr(w, queryError(req.Query, err, "MALFORMED_QUERY"))
		return
	}
	if q.Count {
		bulkErr(w, 400, "INVALIDJOB", "InvalidJob : Aggregate queries are not supported by Bulk API 2.0 query")
		return
	}
	s.mu.Lock()
	o := s.store.schema.object(q.Object)
	if o == nil {
		s.mu.Unlock()
		writeReqErr(w, queryError(req.Query, fmt.Errorf("sObject type '%s' is not supported.", q.Object), "INVALID_TYPE"))
		return
	}
	for _, f := range q.Fields {
		if _, err := s.resolvePath(o, f); err != nil {
			s.mu.Unlock()
			writeReqErr(w, queryError(req.Query, err, "INVALID_FIELD"))
			return
		}
	}
	s.jobSeq++
	now := s.now()
	j := &QueryJob{Id: mintId("750", s.jobSeq), Object: o.Name, Operation: req.Operation, Query: req.Query,
		LineEnding: req.LineEnding, ColumnDelimiter: req.ColumnDelimiter, ApiVersion: float64(ctx.ver),
		State: "UploadComplete", Created: now, Modstamp: now, createdBy: s.store.userId}
	s.qjobs[j.Id] = j
	s.qjobList = append(s.qjobList, j)
	info := j.info(false)
	s.mu.Unlock()
	go s.processQueryJob(j, o, q)
	writeJSON(w, 200, info)
}

func csvCell(v any) string {
	if v == nil {
		return ""
	}
	return formatValue(v)
}

func (s *Server) processQueryJob(j *QueryJob, o *Object, q *Query) {
	start := time.Now()
	delay := s.faults.bulkDelay(s.opts.BulkDelay)
	time.Sleep(delay / 2)
	s.mu.Lock()
	if j.State != "UploadComplete" {
		s.mu.Unlock()
		return
	}
	j.State = "InProgress"
	recs, refs, err := s.runQuery(o, q)
	if err == nil {
		for _, fr := range refs {
			j.header = append(j.header, fr.name)
		}
		j.rows = make([][]string, len(recs))
		for i, r := range recs {
			row := make([]string, len(refs))
			for k, fr := range refs {
				row[k] = csvCell(s.refValue(r, fr))
			}
			j.rows[i] = row
		}
	}
	s.mu.Unlock()
	if rest := delay - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.State != "InProgress" {
		return
	}
	j.Modstamp = s.now()
	j.procMs = time.Since(start).Milliseconds()
	if err != nil {
		j.State = "Failed"
		j.ErrorMessage = err.Error()
		return
	}
	j.State = "JobComplete"
}

// queryJobResults serves one page of results: ?maxRecords=N&locator=L, with the
// Sforce-Locator ("null" on the last page) and Sforce-NumberOfRecords headers.
func (s *Server) queryJobResults(w http.ResponseWriter, r *http.Request, j *QueryJob) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.State != "JobComplete" {
		bulkErr(w, 400, "INVALIDJOBSTATE", fmt.Sprintf("Job %s is in state %s; results are available once it is JobComplete", j.Id, j.State))
		return
	}
	off := 0
	if l := r.URL.Query().Get("locator"); l != "" && l != "null" {
		n, err := strconv.Atoi(strings.TrimPrefix(l, "L"))
		if err != nil || n < 0 || n > len(j.rows) {
			bulkErr(w, 400, "INVALID_LOCATOR", "invalid locator: "+l)
			return
		}
		off = n
	}
	max := len(j.rows) - off
	if m, err := strconv.Atoi(r.URL.Query().Get("maxRecords")); err == nil && m > 0 && m < max {
		max = m
	}
	end := off + max
	d := delimiters[j.ColumnDelimiter]
	nl := "\n"
	if j.LineEnding == "CRLF" {
		nl = "\r\n"
	}
	var buf bytes.Buffer
	writeRow := func(cells []string) {
		var tmp bytes.Buffer
		csvLine(&tmp, d, cells, true)
		buf.Write(bytes.TrimSuffix(tmp.Bytes(), []byte("\n")))
		buf.WriteString(nl)
	}
	writeRow(j.header)
	for _, row := range j.rows[off:end] {
		writeRow(row)
	}
	locator := "null"
	if end < len(j.rows) {
		locator = "L" + strconv.Itoa(end)
	}
	w.Header().Set("Sforce-Locator", locator)
	w.Header().Set("Sforce-NumberOfRecords", strconv.Itoa(end-off))
	w.Header().Set("Content-Type", "text/csv")
	w.WriteHeader(200)
	w.Write(buf.Bytes())
}
