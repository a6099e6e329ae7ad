package main

import (
	"strings"
	"testing"
)

func TestParseSOQL(t *testing.T) {
	q, err := parseSOQL("SELECT Id, Name, Account.Name FROM Contact WHERE (LastName = 'O\\'Neil' OR Score__c >= -1.5) AND NOT Email = null AND Tier__c IN ('Gold','Silver') AND Birthdate < 2020-01-01 AND Seen__c > 2024-01-01T10:00:00Z ORDER BY LastName DESC NULLS FIRST, Id LIMIT 10 OFFSET 5")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(q.Fields, ",") != "Id,Name,Account.Name" || q.Object != "Contact" || q.Limit != 10 || q.Offset != 5 {
		t.Fatalf("bad query %+v", q)
	}
	if len(q.OrderBy) != 2 || !q.OrderBy[0].Desc || q.OrderBy[0].NullsLast || q.OrderBy[1].Desc {
		t.Fatalf("bad order by %+v", q.OrderBy)
	}
	top, ok := q.Where.(*Logic)
	if !ok || top.Op != "AND" {
		t.Fatalf("where root %T", q.Where)
	}
	// Leftmost term is the parenthesised OR.
	var leftmost Cond = top
	for {
		l, ok := leftmost.(*Logic)
		if !ok || l.Op != "AND" {
			break
		}
		leftmost = l.L
	}
	or, ok := leftmost.(*Logic)
	if !ok || or.Op != "OR" {
		t.Fatalf("expected OR, got %#v", leftmost)
	}
	c := or.L.(*Cmp)
	if c.Field != "LastName" || c.Vals[0].S != "O'Neil" {
		t.Fatalf("escaped string: %+v", c)
	}
	if n := or.R.(*Cmp).Vals[0]; n.Kind != "number" || n.N != -1.5 {
		t.Fatalf("negative number: %+v", n)
	}
}

func TestParseSOQLCount(t *testing.T) {
	q, err := parseSOQL("select count() from Lead")
	if err != nil || !q.Count || q.Object != "Lead" {
		t.Fatalf("%+v %v", q, err)
	}
	q, err = parseSOQL("SELECT COUNT(Id) FROM Lead WHERE IsConverted = false")
	if err != nil || !q.Count || q.CountField != "Id" {
		t.Fatalf("%+v %v", q, err)
	}
}

func TestParseSOQLErrors(t *testing.T) {
	for _, bad := range []string{
		"", "SELECT", "SELECT Id", "SELECT Id FROM", "SELECT FROM Contact", "SELECT Id FROM Contact WHERE",
		"SELECT Id FROM Contact WHERE Name = 'x", "SELECT Id FROM Contact LIMIT x", "SELECT Id FROM Contact WHERE Name IN ('a'",
		"SELECT Id FROM Contact ORDER Name", "SELECT Id, FROM Contact", "SELECT Id FROM Contact extra", "SELECT Id FROM Contact WHERE Name ~ 'x'",
	} {
		if _, err := parseSOQL(bad); err == nil {
			t.Errorf("parseSOQL(%q) succeeded", bad)
		} else if bad != "" && !strings.Contains(err.Error(), "olumn") && !strings.Contains(err.Error(), "unterminated") {
			t.Errorf("parseSOQL(%q) error lacks position: %v", bad, err)
		}
	}
}

func TestQueryExecution(t *testing.T) {
	h := newHarness(t, nil)
	res := h.create(false,
		rec("Account", "Name", "Acme", "Warehouse_Id__c", "A-1"),
	)
	acct := res[0].Id
	h.create(false,
		rec("Contact", "LastName", "Ng", "Email", "ng@example.com", "Score__c", 12.5, "AccountId", acct, "External_Id__c", "C-1"),
		rec("Contact", "LastName", "Diaz", "Score__c", 99, "Birthdate", "1980-02-03", "External_Id__c", "C-2"),
		rec("Contact", "LastName", "Ito", "Active__c", true, "External_Id__c", "C-3"),
		rec("Contact", "FirstName", "Ann", "LastName", "O'Neil"),
	)
	cases := []struct {
		q    string
		want []string // LastNames in order
	}{
		{"SELECT LastName FROM Contact ORDER BY LastName", []string{"Diaz", "Ito", "Ng", "O'Neil"}},
		{"SELECT LastName FROM Contact ORDER BY Score__c DESC", []string{"Diaz", "Ng", "Ito", "O'Neil"}},
		{"SELECT LastName FROM Contact ORDER BY Score__c", []string{"Ito", "O'Neil", "Ng", "Diaz"}},
		{"SELECT LastName FROM Contact WHERE Score__c > 20", []string{"Diaz"}},
		{"SELECT LastName FROM Contact WHERE Email != null", []string{"Ng"}},
		{"SELECT LastName FROM Contact WHERE lastname = 'NG'", []string{"Ng"}},
		{"SELECT LastName FROM Contact WHERE LastName LIKE '%i%' ORDER BY LastName", []string{"Diaz", "Ito", "O'Neil"}},
		{"SELECT LastName FROM Contact WHERE External_Id__c IN ('C-3', 'c-1') ORDER BY LastName", []string{"Ito", "Ng"}},
		{"SELECT LastName FROM Contact WHERE External_Id__c = 'C-2'", []string{"Diaz"}},
		{"SELECT LastName FROM Contact WHERE Active__c = true", []string{"Ito"}},
		{"SELECT LastName FROM Contact WHERE Birthdate < 1990-01-01", []string{"Diaz"}},
		{"SELECT LastName FROM Contact WHERE Account.Name = 'Acme'", []string{"Ng"}},
		{"SELECT LastName FROM Contact WHERE NOT LastName = 'Ng' AND (Score__c = null OR Score__c < 100) ORDER BY LastName LIMIT 2", []string{"Diaz", "Ito"}},
		{"SELECT LastName FROM Contact ORDER BY LastName LIMIT 2 OFFSET 1", []string{"Ito", "Ng"}},
		{"SELECT LastName FROM Contact WHERE Name = 'Ann O\\'Neil'", []string{"O'Neil"}},
	}
	for _, c := range cases {
		res := h.query(c.q)
		var got []string
		for _, r := range res.Records {
			got = append(got, r["LastName"].(string))
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") || res.TotalSize != len(c.want) || !res.Done {
			t.Errorf("%s: got %v (total %d), want %v", c.q, got, res.TotalSize, c.want)
		}
	}
	res2 := h.query("SELECT Id, Account.Name, Account.Warehouse_Id__c FROM Contact WHERE External_Id__c = 'C-1'")
	acc := res2.Records[0]["Account"].(map[string]any)
	if acc["Name"] != "Acme" || acc["Warehouse_Id__c"] != "A-1" || acc["attributes"].(map[string]any)["type"] != "Account" {
		t.Fatalf("relationship: %v", res2.Records[0])
	}
	if n := h.query("SELECT COUNT() FROM Contact WHERE Score__c != null").TotalSize; n != 2 {
		t.Fatalf("count = %d", n)
	}
	for q, want := range map[string]string{
		"SELECT Nope FROM Contact":                        "INVALID_FIELD",
		"SELECT Id FROM Nope":                             "INVALID_TYPE",
		"SELECT Id FROM Contact WHERE Score__c = 'x'":     "INVALID_FIELD",
		"SELECT Id FROM Contact WHERE":                    "MALFORMED_QUERY",
		"SELECT Id FROM Contact WHERE Birthdate = '2020'": "INVALID_FIELD",
	} {
		st, _, body := h.do("GET", "query?q="+urlQuery(q), nil)
		if st != 400 || !strings.Contains(string(body), `"errorCode":"`+want+`"`) {
			t.Errorf("%s: %d %s, want %s", q, st, body, want)
		}
	}
}

func TestQueryPaging(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.QueryBatchSize = 300 })
	for i := 0; i < 5; i++ {
		recs := make([]map[string]any, 0, 200)
		for j := 0; j < 200; j++ {
			recs = append(recs, rec("Contact", "LastName", "P"))
		}
		h.create(false, recs...)
	}
	res := h.query("SELECT Id FROM Contact")
	seen := map[string]bool{}
	pages := 1
	for {
		for _, r := range res.Records {
			seen[r["Id"].(string)] = true
		}
		if res.Done {
			break
		}
		if res.TotalSize != 1000 || len(res.Records) != 300 {
			t.Fatalf("page: total %d, %d records", res.TotalSize, len(res.Records))
		}
		next := res.NextRecordsUrl
		res = queryResult{}
		h.json("GET", next, nil, 200, &res)
		pages++
	}
	if len(seen) != 1000 || pages != 4 {
		t.Fatalf("%d distinct records over %d pages", len(seen), pages)
	}
	st, _, _ := h.do("GET", "query/01g5e0000000999AAA-300", nil)
	if st != 400 {
		t.Fatalf("unknown locator: %d", st)
	}
}
