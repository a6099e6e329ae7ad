package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestConvertCSV(t *testing.T) {
	s := testSchemaObj(t)
	c := s.object("Contact")
	cases := []struct {
		field, in string
		want      any
		skip      bool
		errCode   string
	}{
		{"LastName", "", nil, true, ""},
		{"LastName", "#N/A", nil, false, ""},
		{"LastName", " padded ", " padded ", false, ""},
		{"Active__c", "true", true, false, ""},
		{"Active__c", "FALSE", false, false, ""},
		{"Active__c", "maybe", nil, false, "INVALID_FIELD"},
		{"Score__c", "12.5", 12.5, false, ""},
		{"Score__c", "1e2", 100.0, false, ""},
		{"Score__c", "12,5", nil, false, "INVALID_FIELD"},
		{"Birthdate", "2024-02-29", "2024-02-29", false, ""},
		{"Birthdate", "2023-02-29", nil, false, "INVALID_FIELD"},
		{"Birthdate", "05/01/2024", nil, false, "INVALID_FIELD"},
		{"Seen__c", "2024-05-01T10:00:00.000Z", "2024-05-01T10:00:00.000+0000", false, ""},
		{"Seen__c", "2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00.000+0000", false, ""},
		{"Seen__c", "2024-05-01T10:00:00.000-0500", "2024-05-01T15:00:00.000+0000", false, ""},
		{"Seen__c", "yesterday", nil, false, "INVALID_FIELD"},
	}
	for _, tc := range cases {
		v, skip, e := convertCSV(c.field(tc.field), tc.in, 3)
		gotCode := ""
		if e != nil {
			gotCode = e.StatusCode
		}
		if gotCode != tc.errCode || skip != tc.skip || (e == nil && v != tc.want) {
			t.Errorf("convertCSV(%s, %q) = %v %v %v, want %v %v %s", tc.field, tc.in, v, skip, e, tc.want, tc.skip, tc.errCode)
		}
	}
	_, _, e := convertCSV(c.field("Birthdate"), "2024-13-01", 4)
	if e == nil || e.Message != "Failed to deserialize field at col 4. Due to, '2024-13-01' is not a valid value for the type xsd:date" {
		t.Fatalf("date error message: %+v", e)
	}
}

func TestConvertJSON(t *testing.T) {
	s := testSchemaObj(t)
	c := s.object("Contact")
	if _, _, rq := convertJSON(c.field("Birthdate"), "2024-13-45"); rq == nil || rq.Code != "JSON_PARSER_ERROR" || rq.Status != 400 {
		t.Fatalf("bad date: %+v", rq)
	}
	if _, re, _ := convertJSON(c.field("Score__c"), "abc"); re == nil || re.StatusCode != "INVALID_TYPE_ON_FIELD_IN_RECORD" {
		t.Fatalf("bad number: %+v", re)
	}
	if v, _, _ := convertJSON(c.field("Score__c"), json.Number("3.25")); v != 3.25 {
		t.Fatalf("number: %v", v)
	}
	if v, _, _ := convertJSON(c.field("Active__c"), nil); v != false {
		t.Fatalf("null boolean is false, got %v", v)
	}
	if _, _, rq := convertJSON(c.field("Active__c"), "sometimes"); rq == nil {
		t.Fatal("bad boolean accepted")
	}
	if v, _, _ := convertJSON(c.field("Seen__c"), "2024-05-01T10:00:00Z"); v != "2024-05-01T10:00:00.000+0000" {
		t.Fatalf("datetime: %v", v)
	}
}

func TestRecordValidation(t *testing.T) {
	h := newHarness(t, nil)
	long := strings.Repeat("x", 81)
	res := h.create(false,
		rec("Contact", "LastName", "Ok", "Email", "ok@example.com"),
		rec("Contact", "FirstName", "NoLast"),
		rec("Contact", "LastName", long),
		rec("Contact", "LastName", "E", "Email", "a@b"),
		rec("Contact", "LastName", "P", "Tier__c", "Bronze"),
		rec("Contact", "LastName", "N", "Score__c", 1000),
		rec("Contact", "LastName", "R", "AccountId", "001000000000001AAA"),
		rec("Contact", "LastName", "M", "AccountId", "not-an-id"),
		rec("Contact", "LastName", "W", "AccountId", "0035e0000000001AAA"),
		rec("Contact", "LastName", "C", "CreatedDate", "2024-01-01T00:00:00Z"),
		rec("Lead", "LastName", "L"),
		rec("Contact", "LastName", "I", "Id", "0035e0000000001AAA"),
		rec("Widget__c", "Name", "w"),
	)
	want := []string{"", "REQUIRED_FIELD_MISSING", "STRING_TOO_LONG", "INVALID_EMAIL_ADDRESS", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
		"NUMBER_OUTSIDE_VALID_RANGE", "INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID", "FIELD_INTEGRITY_EXCEPTION",
		"INVALID_FIELD_FOR_INSERT_UPDATE", "REQUIRED_FIELD_MISSING", "INVALID_FIELD", "REQUIRED_FIELD_MISSING"}
	for i, w := range want {
		if code(res[i]) != w {
			t.Errorf("record %d: %s %+v, want %s", i, code(res[i]), res[i].Errors, w)
		}
		if w != "" && (res[i].Success || res[i].Id != "") {
			t.Errorf("record %d: failed item must have success=false and no id", i)
		}
	}
	if res[2].Errors[0].Message != "Last Name: data value too large: "+long+" (max length=80)" {
		t.Errorf("STRING_TOO_LONG message: %s", res[2].Errors[0].Message)
	}
	if m := res[10].Errors[0].Message; m != "Required fields are missing: [LastName, Company]" && m != "Required fields are missing: [Company]" {
		t.Errorf("lead message: %s", m)
	}
	if !res[0].Success || len(res[0].Id) != 18 || res[0].Id[:3] != "003" {
		t.Fatalf("create: %+v", res[0])
	}
	// Unique external id: DUPLICATE_VALUE.
	r1 := h.create(false, rec("Contact", "LastName", "U1", "External_Id__c", "X-1"))
	r2 := h.create(false, rec("Contact", "LastName", "U2", "External_Id__c", "x-1"))
	if !r1[0].Success || code(r2[0]) != "DUPLICATE_VALUE" || !strings.Contains(r2[0].Errors[0].Message, r1[0].Id) {
		t.Fatalf("unique: %+v %+v", r1, r2)
	}
	// Round values to the field scale.
	r3 := h.create(false, rec("Contact", "LastName", "S", "Score__c", 1.236))
	var got map[string]any
	h.json("GET", "sobjects/Contact/"+r3[0].Id, nil, 200, &got)
	if got["Score__c"] != 1.24 {
		t.Fatalf("scale rounding: %v", got["Score__c"])
	}
}

func TestRequestLevelErrors(t *testing.T) {
	h := newHarness(t, nil)
	cases := []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "composite/sobjects", map[string]any{"records": []any{rec("Contact", "LastName", "A", "Nope__c", 1)}}, 400, "INVALID_FIELD"},
		{"POST", "composite/sobjects", map[string]any{"records": []any{rec("Nope", "LastName", "A")}}, 400, "INVALID_TYPE"},
		{"POST", "composite/sobjects", map[string]any{"records": []any{rec("Contact", "LastName", "A", "Birthdate", "2024-99-99")}}, 400, "JSON_PARSER_ERROR"},
		{"POST", "composite/sobjects", `{"records": [`, 400, "JSON_PARSER_ERROR"},
		{"POST", "sobjects/Contact", map[string]any{"FirstName": "x"}, 400, "REQUIRED_FIELD_MISSING"},
		{"GET", "sobjects/Nope/describe", nil, 404, "NOT_FOUND"},
		{"GET", "sobjects/Contact/0035e0000000999AAA", nil, 404, "NOT_FOUND"},
		{"PATCH", "sobjects/Contact/Nope__c/1", map[string]any{"LastName": "x"}, 404, "NOT_FOUND"},
		{"PUT", "composite/sobjects", nil, 405, "METHOD_NOT_ALLOWED"},
		{"GET", "jobs/ingest/7505e0000000999AAA", nil, 404, "NOT_FOUND"},
	}
	for _, c := range cases {
		st, _, body := h.do(c.method, c.path, c.body)
		var errs []apiError
		if st != c.status || json.Unmarshal(body, &errs) != nil || len(errs) != 1 || errs[0].ErrorCode != c.code {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, st, body, c.status, c.code)
		}
	}
	recs := make([]map[string]any, 201)
	for i := range recs {
		recs[i] = rec("Contact", "LastName", "x")
	}
	st, _, body := h.do("POST", "composite/sobjects", map[string]any{"records": recs})
	if st != 400 || !strings.Contains(string(body), "EXCEEDED_ID_LIMIT") {
		t.Fatalf("201 records: %d %s", st, body)
	}
	// Nothing above was written.
	if n := h.query("SELECT COUNT() FROM Contact").TotalSize; n != 0 {
		t.Fatalf("%d records written by failed requests", n)
	}
}

func TestAllOrNone(t *testing.T) {
	h := newHarness(t, nil)
	res := h.create(true, rec("Contact", "LastName", "A"), rec("Contact", "FirstName", "B"), rec("Contact", "LastName", "C"))
	if code(res[0]) != "ALL_OR_NONE_OPERATION_ROLLED_BACK" || code(res[1]) != "REQUIRED_FIELD_MISSING" || code(res[2]) != "ALL_OR_NONE_OPERATION_ROLLED_BACK" {
		t.Fatalf("allOrNone results: %+v", res)
	}
	if n := h.query("SELECT COUNT() FROM Contact").TotalSize; n != 0 {
		t.Fatalf("rolled back records visible: %d", n)
	}
	// allOrNone update rollback restores the old values and indexes.
	ok := h.create(false, rec("Contact", "LastName", "Keep", "External_Id__c", "K-1"))
	var up []result
	h.json("PATCH", "composite/sobjects", map[string]any{"allOrNone": true, "records": []any{
		rec("Contact", "id", ok[0].Id, "LastName", "Changed", "External_Id__c", "K-2"),
		rec("Contact", "id", ok[0].Id, "Email", "bad"),
	}}, 200, &up)
	if code(up[0]) != "ALL_OR_NONE_OPERATION_ROLLED_BACK" || code(up[1]) != "INVALID_EMAIL_ADDRESS" {
		t.Fatalf("update results %+v", up)
	}
	q := h.query("SELECT LastName FROM Contact WHERE External_Id__c = 'K-1'")
	if q.TotalSize != 1 || q.Records[0]["LastName"] != "Keep" || h.query("SELECT Id FROM Contact WHERE External_Id__c = 'K-2'").TotalSize != 0 {
		t.Fatalf("rollback did not restore: %+v", q)
	}
}

func TestUpsertSingleAndCollections(t *testing.T) {
	h := newHarness(t, nil)
	var r result
	h.json("PATCH", "sobjects/Contact/External_Id__c/E-1", map[string]any{"LastName": "One"}, 201, &r)
	if !r.Success || r.Created == nil || !*r.Created {
		t.Fatalf("create: %+v", r)
	}
	var r2 result
	h.json("PATCH", "sobjects/Contact/External_Id__c/E-1", map[string]any{"Title": "Dr"}, 200, &r2)
	if r2.Id != r.Id || *r2.Created {
		t.Fatalf("update: %+v", r2)
	}
	st, _, _ := h.do("PATCH", "/services/data/v45.0/sobjects/Contact/External_Id__c/E-1", map[string]any{"Title": "Prof"})
	if st != 204 {
		t.Fatalf("v45 update status %d", st)
	}
	st, _, _ = h.do("PATCH", "sobjects/Contact/External_Id__c/E-404?updateOnly=true", map[string]any{"LastName": "x"})
	if st != 404 {
		t.Fatalf("updateOnly status %d", st)
	}
	var got map[string]any
	h.json("GET", "sobjects/Contact/External_Id__c/E-1?fields=LastName,Title", nil, 200, &got)
	if got["LastName"] != "One" || got["Title"] != "Prof" || len(got) != 3 {
		t.Fatalf("get by ext id: %v", got)
	}
	var res []result
	h.json("PATCH", "composite/sobjects/Contact/External_Id__c", map[string]any{"records": []any{
		rec("Contact", "External_Id__c", "E-1", "LastName", "One again"),
		rec("Contact", "External_Id__c", "E-2", "LastName", "Two"),
		rec("Contact", "LastName", "No key"),
		rec("Contact", "External_Id__c", "E-3", "LastName", "Three"),
		rec("Contact", "External_Id__c", "e-3", "LastName", "Three dup"),
		rec("Contact", "External_Id__c", "E-4"),
	}}, 200, &res)
	if !res[0].Success || *res[0].Created || res[0].Id != r.Id || !*res[1].Created {
		t.Fatalf("upsert results %+v", res)
	}
	if code(res[2]) != "MISSING_ARGUMENT" || code(res[3]) != "DUPLICATE_EXTERNAL_ID" || code(res[4]) != "DUPLICATE_EXTERNAL_ID" || code(res[5]) != "REQUIRED_FIELD_MISSING" {
		t.Fatalf("upsert errors %+v", res)
	}
	st, _, body := h.do("PATCH", "composite/sobjects/Contact/Email", map[string]any{"records": []any{rec("Contact", "Email", "a@b.c")}})
	if st != 400 || !strings.Contains(string(body), "INVALID_FIELD") {
		t.Fatalf("non-external id field: %d %s", st, body)
	}
	// Relationship by external id in the body.
	h.json("PATCH", "sobjects/Account/Warehouse_Id__c/A-17", map[string]any{"Name": "Parent"}, 201, nil)
	h.json("PATCH", "composite/sobjects/Contact/External_Id__c", map[string]any{"records": []any{
		rec("Contact", "External_Id__c", "E-5", "LastName", "Child", "Account", map[string]any{"Warehouse_Id__c": "A-17"}),
		rec("Contact", "External_Id__c", "E-6", "LastName", "Orphan", "Account", map[string]any{"Warehouse_Id__c": "A-404"}),
	}}, 200, &res)
	if !res[0].Success || code(res[1]) != "INVALID_FIELD" {
		t.Fatalf("relationship upsert %+v", res)
	}
	if q := h.query("SELECT Account.Name FROM Contact WHERE External_Id__c = 'E-5'"); q.Records[0]["Account"].(map[string]any)["Name"] != "Parent" {
		t.Fatalf("relationship not set: %+v", q)
	}
}

func TestDescribe(t *testing.T) {
	h := newHarness(t, nil)
	var d struct {
		Name      string           `json:"name"`
		KeyPrefix string           `json:"keyPrefix"`
		Custom    bool             `json:"custom"`
		Fields    []map[string]any `json:"fields"`
	}
	h.json("GET", "sobjects/Widget__c/describe", nil, 200, &d)
	if d.Name != "Widget__c" || !d.Custom || d.KeyPrefix != "a00" {
		t.Fatalf("custom object: %+v", d)
	}
	var req []string
	for _, f := range d.Fields {
		if f["createable"].(bool) && !f["nillable"].(bool) && !f["defaultedOnCreate"].(bool) {
			req = append(req, f["name"].(string))
		}
		if f["name"] == "Code__c" && (f["externalId"] != true || f["unique"] != true || f["length"] != 10.0 || f["soapType"] != "xsd:string") {
			t.Fatalf("Code__c describe: %v", f)
		}
	}
	if strings.Join(req, ",") != "Name,Code__c" {
		t.Fatalf("required fields of Widget__c: %v", req)
	}
	h.json("GET", "sobjects/Account/describe", nil, 200, &d)
	req = nil
	for _, f := range d.Fields {
		if f["createable"].(bool) && !f["nillable"].(bool) && !f["defaultedOnCreate"].(bool) {
			req = append(req, f["name"].(string))
		}
	}
	if strings.Join(req, ",") != "Name" || d.KeyPrefix != "001" {
		t.Fatalf("Account: %v %s", req, d.KeyPrefix)
	}
}

func TestOwnerAndHttpMethodOverride(t *testing.T) {
	h := newHarness(t, nil)
	res := h.create(false, rec("Account", "Name", "Owned"), rec("Account", "Name", "Bad owner", "OwnerId", "0055e0000000999AAA"))
	if !res[0].Success || code(res[1]) != "INVALID_CROSS_REFERENCE_KEY" {
		t.Fatalf("owner: %+v", res)
	}
	q := h.query("SELECT Name, Owner.Name, CreatedBy.Username FROM Account WHERE OwnerId = '" + h.srv.store.userId + "'")
	if q.TotalSize != 1 || q.Records[0]["Owner"].(map[string]any)["Name"] != "Integration User" ||
		q.Records[0]["CreatedBy"].(map[string]any)["Username"] != "integration@sim.example" {
		t.Fatalf("owner query: %+v", q)
	}
	h.json("POST", "sobjects/Account/"+res[0].Id+"?_HttpMethod=PATCH", map[string]any{"Name": "Renamed"}, 204, nil)
	if q := h.query("SELECT Id FROM Account WHERE Name = 'Renamed'"); q.TotalSize != 1 {
		t.Fatalf("_HttpMethod override: %+v", q)
	}
}
