// Package simnet is what every API stand-in needs to listen: a TCP listener,
// optionally TLS with a self-signed CA made on first use (for tests of
// certificate verification), and the base URL the stand-in prints.
package simnet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// TLS says how to serve HTTPS: SelfSignedDir makes (or reuses) ca.pem,
// cert.pem and key.pem there; otherwise CertFile and KeyFile are used when set.
// Neither set: plain HTTP.
type TLS struct {
	SelfSignedDir string
	CertFile      string
	KeyFile       string
	CAName        string // the self-signed CA's common name, e.g. "hubspot-sim test CA"
}

// Listen opens addr and returns the listener and its base URL
// ("https://127.0.0.1:PORT", IPv6 hosts in brackets).
func Listen(addr string, t TLS) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	certFile, keyFile := t.CertFile, t.KeyFile
	if t.SelfSignedDir != "" {
		if err := SelfSigned(t.SelfSignedDir, t.CAName); err != nil {
			ln.Close()
			return nil, "", fmt.Errorf("tls: %w", err)
		}
		certFile, keyFile = filepath.Join(t.SelfSignedDir, "cert.pem"), filepath.Join(t.SelfSignedDir, "key.pem")
	}
	scheme := "http"
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			ln.Close()
			return nil, "", fmt.Errorf("tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	a := ln.Addr().(*net.TCPAddr)
	host := a.IP.String()
	if a.IP.To4() == nil {
		host = "[" + host + "]"
	}
	return ln, fmt.Sprintf("%s://%s:%d", scheme, host, a.Port), nil
}

// SelfSigned writes ca.pem, cert.pem and key.pem into dir (kept if already
// there): a CA named caName and a server certificate for localhost,
// 127.0.0.1 and ::1 signed by it.
func SelfSigned(dir, caName string) error {
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
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: caName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
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
