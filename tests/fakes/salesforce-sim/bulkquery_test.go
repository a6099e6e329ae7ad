package main

import (
	"bytes"
	"encoding/csv"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBulkQueryJob(t *testing.T) {
	h := newHarness(t, nil)
	acct := h.create(false, rec("Account", "Name", "Acme, Inc."))[0].Id
	recs := []map[string]any{}
	for i := 0; i < 150; i++ {
		r := rec("Contact", "LastName", "Q", "Active__c", i%2 == 0)
		if i == 0 {
			r["AccountId"] = acct
		}
		recs = append(recs, r)
	}
	h.create(false, recs...)
	var job struct {
		Id     string `json:"id"`
		State  string `json:"state"`
		Object string `json:"object"`
		N      int    `json:"numberRecordsProcessed"`
	}
	h.json("POST", "jobs/query", map[string]any{"operation": "query", "query": "SELECT Id, LastName, Active__c, Email, Account.Name FROM Contact ORDER BY CreatedDate"}, 200, &job)
	if job.State != "UploadComplete" || job.Object != "Contact" || !strings.HasPrefix(job.Id, "750") {
		t.Fatalf("create: %+v", job)
	}
	if st, _, _ := h.do("GET", "jobs/query/"+job.Id+"/results", nil); st != 400 && job.State != "JobComplete" {
		t.Fatalf("results before completion: %d", st)
	}
	for i := 0; i < 500 && job.State != "JobComplete"; i++ {
		time.Sleep(10 * time.Millisecond)
		h.json("GET", "jobs/query/"+job.Id, nil, 200, &job)
	}
	if job.State != "JobComplete" || job.N != 150 {
		t.Fatalf("job: %+v", job)
	}
	var all [][]string
	locator := ""
	pages := 0
	for {
		path := "jobs/query/" + job.Id + "/results?maxRecords=60"
		if locator != "" {
			path += "&locator=" + locator
		}
		req, _ := http.NewRequest("GET", h.ts.URL+"/services/data/v59.0/"+path, nil)
		req.Header.Set("Authorization", "Bearer "+h.tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("results: %v %v", err, res.StatusCode)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(rows[0], ",") != "Id,LastName,Active__c,Email,Account.Name" {
			t.Fatalf("header: %v", rows[0])
		}
		if res.Header.Get("Sforce-NumberOfRecords") != strconv.Itoa(len(rows)-1) {
			t.Fatalf("Sforce-NumberOfRecords %s for %d rows", res.Header.Get("Sforce-NumberOfRecords"), len(rows)-1)
		}
		all = append(all, rows[1:]...)
		pages++
		locator = res.Header.Get("Sforce-Locator")
		if locator == "null" {
			break
		}
	}
	if len(all) != 150 || pages != 3 {
		t.Fatalf("%d rows in %d pages", len(all), pages)
	}
	if all[0][4] != "Acme, Inc." || all[0][2] != "true" || all[1][2] != "false" || all[1][3] != "" || all[1][4] != "" {
		t.Fatalf("values: %v %v", all[0], all[1])
	}
	if st, _, _ := h.do("DELETE", "jobs/query/"+job.Id, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	for q, want := range map[string]int{"SELECT Nope FROM Contact": 400, "SELECT Id FROM": 400, "SELECT COUNT() FROM Contact": 400} {
		if st, _, _ := h.do("POST", "jobs/query", map[string]any{"operation": "query", "query": q}); st != want {
			t.Errorf("%s: %d", q, st)
		}
	}
}
