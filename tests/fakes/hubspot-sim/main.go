// hubspot-sim is a stand-in for the HubSpot CRM v3 endpoints a reverse-ETL
// loader uses: objects (single, list, batch, search), properties, private-app
// token auth, the ten-secondly rolling rate limit, and injectable faults. See
// README.md for flags and the admin API.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// Options are the command-line settings.
type Options struct {
	Listen        string
	AccessToken   string
	RateLimit     int
	DailyLimit    int
	SchemaFile    string
	TLSSelfSigned string
	StateDir      string
	PortalID      int
	LogRequests   bool
}

func main() {
	var o Options
	flag.StringVar(&o.Listen, "listen", "127.0.0.1:0", "address to listen on (port 0 picks a free port)")
	flag.StringVar(&o.AccessToken, "access-token", "", "the only private-app token accepted (default: any token starting pat-)")
	flag.IntVar(&o.RateLimit, "rate-limit", 0, "requests allowed per rolling 10 s (0: unlimited; search is exempt)")
	flag.IntVar(&o.DailyLimit, "daily-limit", 1000000, "requests allowed per day (X-HubSpot-RateLimit-Daily)")
	flag.StringVar(&o.SchemaFile, "schema", "", "JSON file adding custom properties and custom objects")
	flag.StringVar(&o.TLSSelfSigned, "tls-self-signed", "", "generate a CA and a 127.0.0.1/localhost certificate into DIR (ca.pem, cert.pem, key.pem) and serve HTTPS")
	flag.StringVar(&o.StateDir, "state", "", "directory where records persist across restarts")
	flag.IntVar(&o.PortalID, "portal-id", 4242, "the account's portal id (appears in some messages)")
	flag.BoolVar(&o.LogRequests, "log-requests", false, "log every request to stderr")
	flag.Parse()
	log.SetPrefix("hubspot-sim: ")
	log.SetFlags(log.Ltime | log.Lmicroseconds)

	schema := defaultSchema()
	if o.SchemaFile != "" {
		if err := loadSchemaFile(schema, o.SchemaFile); err != nil {
			log.Fatalf("schema: %v", err)
		}
	}
	srv := newServer(o, schema)
	if o.StateDir != "" {
		if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
			log.Fatal(err)
		}
		if err := srv.loadState(); err != nil {
			log.Fatalf("state: %v", err)
		}
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		log.Fatal(err)
	}
	scheme := "http"
	if o.TLSSelfSigned != "" {
		if err := selfSigned(o.TLSSelfSigned); err != nil {
			log.Fatalf("tls: %v", err)
		}
		cert, err := tls.LoadX509KeyPair(filepath.Join(o.TLSSelfSigned, "cert.pem"), filepath.Join(o.TLSSelfSigned, "key.pem"))
		if err != nil {
			log.Fatalf("tls: %v", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.To4() == nil {
		host = "[" + host + "]"
	}
	srv.baseURL = fmt.Sprintf("%s://%s:%d", scheme, host, addr.Port)

	stop := make(chan struct{})
	if o.StateDir != "" {
		go srv.saver(stop)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	fmt.Println(srv.baseURL)
	os.Stdout.Sync()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	close(stop)
	hs.Close()
	if o.StateDir != "" {
		srv.saveState()
	}
}

// selfSigned writes ca.pem, cert.pem and key.pem into dir (kept if already there).
func selfSigned(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "key.pem")); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hubspot-sim test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	write := func(name, typ string, b []byte, mode os.FileMode) error {
		return os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), mode)
	}
	if err := write("ca.pem", "CERTIFICATE", caDER, 0o644); err != nil {
		return err
	}
	if err := write("cert.pem", "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	return write("key.pem", "PRIVATE KEY", keyDER, 0o600)
}
