package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

type jobInfo struct {
	Id                     string `json:"id"`
	State                  string `json:"state"`
	ErrorMessage           string `json:"errorMessage"`
	NumberRecordsProcessed int    `json:"numberRecordsProcessed"`
	NumberRecordsFailed    int    `json:"numberRecordsFailed"`
	ContentUrl             string `json:"contentUrl"`
}

func (h *harness) bulkRun(job map[string]any, data string, wantState string) jobInfo {
	h.t.Helper()
	var info jobInfo
	h.json("POST", "jobs/ingest", job, 200, &info)
	if info.State != "Open" || !strings.HasPrefix(info.Id, "750") || info.ContentUrl != "services/data/v59.0/jobs/ingest/"+info.Id+"/batches" {
		h.t.Fatalf("create job: %+v", info)
	}
	st, _, body := h.do("PUT", "jobs/ingest/"+info.Id+"/batches", data)
	if st != 201 || len(body) != 0 {
		h.t.Fatalf("upload: %d %s", st, body)
	}
	h.json("PATCH", "jobs/ingest/"+info.Id, map[string]string{"state": "UploadComplete"}, 200, &info)
	if info.State != "UploadComplete" {
		h.t.Fatalf("close: %+v", info)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		h.json("GET", "jobs/ingest/"+info.Id, nil, 200, &info)
		if info.State == "JobComplete" || info.State == "Failed" || info.State == "Aborted" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if info.State != wantState {
		h.t.Fatalf("job ended %s (%s), want %s", info.State, info.ErrorMessage, wantState)
	}
	return info
}

func (h *harness) results(id, kind string) [][]string {
	h.t.Helper()
	st, hdr, body := h.do("GET", "jobs/ingest/"+id+"/"+kind+"/", nil)
	if st != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		h.t.Fatalf("%s: %d %s", kind, st, hdr.Get("Content-Type"))
	}
	rd := csv.NewReader(bytes.NewReader(body))
	rd.FieldsPerRecord = -1
	rows, err := rd.ReadAll()
	if err != nil {
		h.t.Fatalf("%s: %v\n%s", kind, err, body)
	}
	return rows
}

func TestBulkUpsertResults(t *testing.T) {
	h := newHarness(t, nil)
	h.create(false, rec("Contact", "LastName", "Existing", "External_Id__c", "W-1", "Email", "old@example.com", "Title", "Keep"))
	data := "External_Id__c,LastName,Email,Title\n" +
		"W-1,Updated,#N/A,\n" +
		"W-2,\"Quoted, Name\",w2@example.com,Boss\n" +
		"W-3,,x@example.com,\n" +
		"W-4,Four,nope,\n" +
		",Nokey,,\n"
	info := h.bulkRun(map[string]any{"object": "Contact", "operation": "upsert", "externalIdFieldName": "External_Id__c"}, data, "JobComplete")
	if info.NumberRecordsProcessed != 5 || info.NumberRecordsFailed != 3 {
		t.Fatalf("counts: %+v", info)
	}
	ok := h.results(info.Id, "successfulResults")
	if strings.Join(ok[0], ",") != "sf__Id,sf__Created,External_Id__c,LastName,Email,Title" || len(ok) != 3 {
		t.Fatalf("successful: %v", ok)
	}
	if ok[1][1] != "false" || ok[2][1] != "true" || ok[2][3] != "Quoted, Name" {
		t.Fatalf("successful rows: %v", ok)
	}
	bad := h.results(info.Id, "failedResults")
	if strings.Join(bad[0], ",") != "sf__Id,sf__Error,External_Id__c,LastName,Email,Title" || len(bad) != 4 {
		t.Fatalf("failed: %v", bad)
	}
	if bad[1][1] != "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --" || bad[1][0] != "" {
		t.Fatalf("failed row: %v", bad[1])
	}
	if !strings.HasPrefix(bad[2][1], "INVALID_EMAIL_ADDRESS:Email: invalid email address: nope:Email --") {
		t.Fatalf("failed row: %v", bad[2])
	}
	if !strings.HasPrefix(bad[3][1], "MISSING_ARGUMENT:") {
		t.Fatalf("failed row: %v", bad[3])
	}
	if un := h.results(info.Id, "unprocessedrecords"); len(un) != 1 {
		t.Fatalf("unprocessed: %v", un)
	}
	q := h.query("SELECT LastName, Email, Title FROM Contact WHERE External_Id__c = 'W-1'")
	r := q.Records[0]
	if r["LastName"] != "Updated" || r["Email"] != nil || r["Title"] != "Keep" {
		t.Fatalf("#N/A / empty semantics: %v", r)
	}
}

func TestBulkOperationsAndFailures(t *testing.T) {
	h := newHarness(t, nil)
	ins := h.bulkRun(map[string]any{"object": "Account", "operation": "insert", "columnDelimiter": "PIPE", "lineEnding": "CRLF"},
		"Name|Phone\r\nA|1\r\nB|2\r\n", "JobComplete")
	_, _, raw := h.do("GET", "jobs/ingest/"+ins.Id+"/successfulResults/", nil)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 3 || lines[0] != `"sf__Id"|"sf__Created"|Name|Phone` || !strings.HasSuffix(lines[2], `|"true"|"B"|"2"`) {
		t.Fatalf("results use the job's delimiter: %q", raw)
	}
	ids := h.query("SELECT Id FROM Account ORDER BY Name")
	a, b := ids.Records[0]["Id"].(string), ids.Records[1]["Id"].(string)
	upd := h.bulkRun(map[string]any{"object": "Account", "operation": "update"},
		fmt.Sprintf("Id,Name\n%s,A2\n%s,B2\n0015e0000000999AAA,C\n", a[:15], b), "JobComplete")
	if upd.NumberRecordsFailed != 1 {
		t.Fatalf("update: %+v", upd)
	}
	del := h.bulkRun(map[string]any{"object": "Account", "operation": "delete"}, fmt.Sprintf("Id\n%s\n%s\n", a, "bogus"), "JobComplete")
	if del.NumberRecordsFailed != 1 || h.query("SELECT COUNT() FROM Account").TotalSize != 1 {
		t.Fatalf("delete: %+v", del)
	}
	bad := h.bulkRun(map[string]any{"object": "Contact", "operation": "insert"}, "LastName,Warehouse_Idx__c\nA,1\n", "Failed")
	if bad.ErrorMessage != "InvalidBatch : Field name not found : Warehouse_Idx__c" || bad.NumberRecordsProcessed != 0 {
		t.Fatalf("unknown column: %+v", bad)
	}
	if un := h.results(bad.Id, "unprocessedrecords"); len(un) != 2 {
		t.Fatalf("unprocessed of failed job: %v", un)
	}
	le := h.bulkRun(map[string]any{"object": "Contact", "operation": "insert"}, "LastName\r\nA\r\n", "Failed")
	if !strings.Contains(le.ErrorMessage, "LineEnding is invalid") {
		t.Fatalf("line ending: %+v", le)
	}
	// Relationship column by external id.
	h.json("PATCH", "sobjects/Account/Warehouse_Id__c/WH-1", map[string]any{"Name": "Parent"}, 201, nil)
	rel := h.bulkRun(map[string]any{"object": "Contact", "operation": "insert"}, "LastName,Account.Warehouse_Id__c\nKid,WH-1\nLost,WH-404\n", "JobComplete")
	if rel.NumberRecordsFailed != 1 {
		t.Fatalf("relationship: %+v", rel)
	}
	// State machine errors.
	var info jobInfo
	h.json("POST", "jobs/ingest", map[string]any{"object": "Contact", "operation": "insert"}, 200, &info)
	if st, _, _ := h.do("PATCH", "jobs/ingest/"+info.Id, map[string]string{"state": "Aborted"}); st != 200 {
		t.Fatalf("abort: %d", st)
	}
	if st, _, _ := h.do("PUT", "jobs/ingest/"+info.Id+"/batches", "LastName\nA\n"); st < 400 {
		t.Fatalf("upload to aborted job: %d", st)
	}
	for _, bad := range []map[string]any{
		{"object": "Nope", "operation": "insert"},
		{"object": "Contact", "operation": "merge"},
		{"object": "Contact", "operation": "upsert"},
		{"object": "Contact", "operation": "upsert", "externalIdFieldName": "Email"},
		{"object": "Contact", "operation": "insert", "columnDelimiter": "COLON"},
	} {
		if st, _, _ := h.do("POST", "jobs/ingest", bad); st != 400 {
			t.Errorf("create %v: %d", bad, st)
		}
	}
	var list struct {
		Done    bool      `json:"done"`
		Records []jobInfo `json:"records"`
	}
	h.json("GET", "jobs/ingest", nil, 200, &list)
	if !list.Done || len(list.Records) != 7 {
		t.Fatalf("job list: %d jobs", len(list.Records))
	}
	if st, _, _ := h.do("DELETE", "jobs/ingest/"+ins.Id, nil); st != 204 {
		t.Fatalf("delete job: %d", st)
	}
}

func TestBulk100kIsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	h := newHarness(t, nil)
	var sb strings.Builder
	sb.WriteString("External_Id__c,LastName,FirstName,Email,Score__c,Birthdate\n")
	for i := 0; i < 100000; i++ {
		fmt.Fprintf(&sb, "K-%d,Last %d,First,u%d@example.com,%d.5,1990-01-02\n", i, i, i, i%999)
	}
	start := time.Now()
	info := h.bulkRun(map[string]any{"object": "Contact", "operation": "upsert", "externalIdFieldName": "External_Id__c"}, sb.String(), "JobComplete")
	insert := time.Since(start)
	if info.NumberRecordsProcessed != 100000 || info.NumberRecordsFailed != 0 {
		t.Fatalf("100k: %+v", info)
	}
	start = time.Now()
	info = h.bulkRun(map[string]any{"object": "Contact", "operation": "upsert", "externalIdFieldName": "External_Id__c"}, sb.String(), "JobComplete")
	update := time.Since(start)
	if info.NumberRecordsFailed != 0 {
		t.Fatalf("100k update: %+v", info)
	}
	t.Logf("100k upsert: insert %v, update %v", insert, update)
	if insert > 30*time.Second || update > 30*time.Second {
		t.Fatalf("too slow: insert %v, update %v", insert, update)
	}
	if n := h.query("SELECT COUNT() FROM Contact").TotalSize; n != 100000 {
		t.Fatalf("count %d", n)
	}
	start = time.Now()
	q := h.query("SELECT Id, LastName FROM Contact WHERE External_Id__c = 'K-77777'")
	if q.TotalSize != 1 || time.Since(start) > time.Second {
		t.Fatalf("indexed lookup: %+v in %v", q.TotalSize, time.Since(start))
	}
}

func TestBulkShuffleAndVersionedColumns(t *testing.T) {
	h := newHarness(t, nil)
	var sb strings.Builder
	sb.WriteString("LastName,Title\n")
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&sb, "N%d,T\n", i)
	}
	sb.WriteString(",missing last name\n")
	order := func(rows [][]string) []string {
		var out []string
		for _, r := range rows[1:] {
			out = append(out, r[2])
		}
		return out
	}
	info := h.bulkRun(map[string]any{"object": "Contact", "operation": "insert"}, sb.String(), "JobComplete")
	inOrder := order(h.results(info.Id, "successfulResults"))
	for i, n := range inOrder {
		if n != fmt.Sprintf("N%d", i) {
			t.Fatalf("without the fault results keep input order: row %d is %s", i, n)
		}
	}
	h.json("POST", "/__admin/faults", map[string]any{"shuffleBulkResults": true}, 200, nil)
	info = h.bulkRun(map[string]any{"object": "Contact", "operation": "insert"}, sb.String(), "JobComplete")
	shuffled := order(h.results(info.Id, "successfulResults"))
	if len(shuffled) != 500 || strings.Join(shuffled, ",") == strings.Join(inOrder, ",") {
		t.Fatalf("shuffled results: %d rows, same order %v", len(shuffled), strings.Join(shuffled, ",") == strings.Join(inOrder, ","))
	}
	seen := map[string]bool{}
	for _, n := range shuffled {
		seen[n] = true
	}
	if len(seen) != 500 {
		t.Fatalf("shuffle lost rows: %d distinct", len(seen))
	}
	// Before v53 failedResults has no sf__Id column.
	var job jobInfo
	h.json("POST", "/services/data/v52.0/jobs/ingest", map[string]any{"object": "Contact", "operation": "insert"}, 200, &job)
	h.do("PUT", "/services/data/v52.0/jobs/ingest/"+job.Id+"/batches", "LastName,Title\n,x\n")
	h.json("PATCH", "/services/data/v52.0/jobs/ingest/"+job.Id, map[string]string{"state": "UploadComplete"}, 200, nil)
	for i := 0; i < 500 && job.State != "JobComplete" && job.State != "Failed"; i++ {
		time.Sleep(10 * time.Millisecond)
		h.json("GET", "jobs/ingest/"+job.Id, nil, 200, &job)
	}
	bad := h.results(job.Id, "failedResults")
	if job.State != "JobComplete" || strings.Join(bad[0], ",") != "sf__Error,LastName,Title" || len(bad) != 2 {
		t.Fatalf("v52 failed results: %s %v", job.State, bad)
	}
}

func TestDescribeIfModifiedSince(t *testing.T) {
	h := newHarness(t, nil)
	req, _ := http.NewRequest("GET", h.ts.URL+"/services/data/v59.0/sobjects/Account/describe", nil)
	req.Header.Set("Authorization", "Bearer "+h.tok)
	req.Header.Set("If-Modified-Since", time.Now().Add(time.Minute).UTC().Format(http.TimeFormat))
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 304 {
		t.Fatalf("If-Modified-Since now: %v %v", err, res.StatusCode)
	}
	req.Header.Set("If-Modified-Since", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat))
	res, err = http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("If-Modified-Since an hour ago: %v %v", err, res.StatusCode)
	}
}

func TestBulkMultipartCreate(t *testing.T) {
	h := newHarness(t, nil)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	jh := textproto.MIMEHeader{}
	jh.Set("Content-Disposition", `form-data; name="job"`)
	jh.Set("Content-Type", "application/json")
	jw, _ := mw.CreatePart(jh)
	jw.Write([]byte(`{"object":"Contact","operation":"insert"}`))
	ch := textproto.MIMEHeader{}
	ch.Set("Content-Disposition", `form-data; name="content"; filename="content"`)
	ch.Set("Content-Type", "text/csv")
	cw, _ := mw.CreatePart(ch)
	cw.Write([]byte("LastName\nMulti\n"))
	mw.Close()
	req, _ := http.NewRequest("POST", h.ts.URL+"/services/data/v59.0/jobs/ingest", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+h.tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("multipart create: %v %v", err, res.StatusCode)
	}
	var job jobInfo
	json.NewDecoder(res.Body).Decode(&job)
	res.Body.Close()
	if st, _, _ := h.do("PUT", "jobs/ingest/"+job.Id+"/batches", "LastName\nAgain\n"); st != 409 {
		t.Fatalf("second upload after multipart: %d", st)
	}
	h.json("PATCH", "jobs/ingest/"+job.Id, map[string]string{"state": "UploadComplete"}, 200, nil)
	for i := 0; i < 500 && job.State != "JobComplete"; i++ {
		time.Sleep(10 * time.Millisecond)
		h.json("GET", "jobs/ingest/"+job.Id, nil, 200, &job)
	}
	if job.State != "JobComplete" || h.query("SELECT COUNT() FROM Contact WHERE LastName = 'Multi'").TotalSize != 1 {
		t.Fatalf("multipart job: %+v", job)
	}
}

func TestBulkFaults(t *testing.T) {
	h := newHarness(t, nil)
	var sb strings.Builder
	sb.WriteString("LastName\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&sb, "F%d\n", i)
	}
	h.json("POST", "/__admin/faults", map[string]any{"bulkFailNext": 1}, 200, nil)
	info := h.bulkRun(map[string]any{"object": "Contact", "operation": "insert"}, sb.String(), "Failed")
	if info.NumberRecordsProcessed != 500 || !strings.HasPrefix(info.ErrorMessage, "InternalServerError : ") {
		t.Fatalf("failed job: %+v", info)
	}
	if un := h.results(info.Id, "unprocessedrecords"); len(un) != 501 || un[1][0] != "F500" {
		t.Fatalf("unprocessed: %d rows, first %v", len(un), un[1])
	}
	if ok := h.results(info.Id, "successfulResults"); len(ok) != 501 {
		t.Fatalf("successful: %d", len(ok))
	}
	if n := h.query("SELECT COUNT() FROM Contact").TotalSize; n != 500 {
		t.Fatalf("processed part kept: %d", n)
	}
	// The next job is fine again; bulkDelayMs stretches processing.
	h.json("POST", "/__admin/faults", map[string]any{"bulkDelayMs": 400}, 200, nil)
	start := time.Now()
	h.bulkRun(map[string]any{"object": "Contact", "operation": "insert"}, "LastName\nX\n", "JobComplete")
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("bulkDelayMs not applied: %v", el)
	}
}
