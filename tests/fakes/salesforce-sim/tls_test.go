package main

import (
	"retl/tests/fakes/simnet"

	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSelfSignedTLSVerifies(t *testing.T) {
	dir := t.TempDir()
	if err := simnet.SelfSigned(dir, "salesforce-sim test CA"); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(Options{DailyLimit: 10, StaticToken: "t"}, defaultSchema())
	ts := httptest.NewUnstartedServer(srv)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	ts.StartTLS()
	defer ts.Close()
	srv.baseURL = ts.URL

	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("bad ca.pem")
	}
	good := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := good.Get(ts.URL + "/services/data/")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("verified TLS: %v %v", err, res)
	}
	res.Body.Close()
	// Without the CA the certificate must not verify.
	bad := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}
	if _, err := bad.Get(ts.URL + "/services/data/"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("unverified TLS accepted: %v", err)
	}
	// A second call keeps the existing files.
	before, _ := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err := simnet.SelfSigned(dir, "salesforce-sim test CA"); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if string(before) != string(after) {
		t.Fatal("selfSigned regenerated existing files")
	}
}
