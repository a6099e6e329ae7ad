package main

import (
	"net/http/httptest"
	"testing"
)

func TestNormalize(t *testing.T) {
	s := defaultSchema()
	c := s.object("contacts")
	d := s.object("0-3")
	cases := []struct {
		o        *ObjectType
		prop     string
		in       any
		want     string
		wantCode string
	}{
		{c, "email", "Ada@Example.COM", "ada@example.com", ""},
		{c, "email", "ada@", "", "INVALID_EMAIL"},
		{c, "date_of_birth", "1990-05-01", "1990-05-01", ""},
		{c, "date_of_birth", "1430438400000", "2015-05-01", ""},
		{c, "date_of_birth", "1430438400001", "", "INVALID_DATE"},
		{c, "hs_email_optout", true, "true", ""},
		{c, "hs_email_optout", "yes", "", "INVALID_BOOLEAN"},
		{c, "lifecyclestage", "lead", "lead", ""},
		{c, "lifecyclestage", "Lead", "", "INVALID_OPTION"},
		{d, "amount", "12.5", "12.5", ""},
		{d, "amount", "1.2.3", "", "INVALID_NUMBER"},
		{d, "closedate", "2024-01-02T03:04:05+01:00", "2024-01-02T02:04:05.000Z", ""},
		{d, "closedate", "soon", "", "INVALID_DATETIME"},
		{d, "dealname", nil, "", ""},
	}
	for _, tc := range cases {
		got, pe := tc.o.normalize(tc.o.Props[tc.prop], tc.in)
		code := ""
		if pe != nil {
			code = pe.Code
		}
		if got != tc.want || code != tc.wantCode {
			t.Errorf("%s.%s(%v) = %q, %q; want %q, %q", tc.o.Name, tc.prop, tc.in, got, code, tc.want, tc.wantCode)
		}
	}
}

func TestRollingWindow(t *testing.T) {
	s := newServer(Options{RateLimit: 3, DailyLimit: 5}, defaultSchema())
	ok := 0
	for i := 0; i < 5; i++ {
		w := httptest.NewRecorder()
		if s.admit(w) {
			ok++
		} else if w.Code != 429 {
			t.Fatalf("rejected with %d", w.Code)
		}
	}
	if ok != 3 {
		t.Fatalf("admitted %d of 5 with a limit of 3", ok)
	}
	s.window = nil // the window passed
	s.admit(httptest.NewRecorder())
	s.admit(httptest.NewRecorder())
	w := httptest.NewRecorder()
	if s.admit(w) || w.Code != 429 {
		t.Fatalf("the daily limit of 5 was not enforced: %d", w.Code)
	}
}
