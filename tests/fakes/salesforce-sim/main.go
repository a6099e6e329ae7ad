// salesforce-sim is a stand-in for the Salesforce REST, OAuth and Bulk API 2.0
// endpoints a reverse-ETL loader uses. See README.md for flags and the admin API.
package main

import (
	"retl/tests/fakes/simnet"

	"flag"
	"log"
	"os"
	"time"
)

func main() {
	var o Options
	flag.StringVar(&o.Listen, "listen", "127.0.0.1:0", "address to listen on (port 0 picks a free port)")
	flag.StringVar(&o.SchemaFile, "schema", "", "JSON file adding custom objects and fields")
	flag.StringVar(&o.JWTPublicKey, "jwt-public-key", "", "PEM public key or certificate that verifies JWT bearer assertions (RS256)")
	flag.StringVar(&o.StateDir, "state", "", "directory where records persist across restarts")
	flag.StringVar(&o.TLSCert, "tls-cert", "", "serve HTTPS with this PEM certificate")
	flag.StringVar(&o.TLSKey, "tls-key", "", "PEM private key for --tls-cert")
	flag.StringVar(&o.TLSSelfSigned, "tls-self-signed", "", "generate a CA and a 127.0.0.1/localhost certificate into DIR (ca.pem, cert.pem, key.pem) and serve HTTPS with it")
	flag.IntVar(&o.DailyLimit, "daily-api-limit", 1000000, "DailyApiRequests Max; calls beyond it get 403 REQUEST_LIMIT_EXCEEDED")
	flag.StringVar(&o.ClientId, "client-id", "", "only accept this OAuth client id (default: any)")
	flag.StringVar(&o.ClientSecret, "client-secret", "", "only accept this client secret (default: any)")
	flag.StringVar(&o.Username, "username", "", "only accept this username (password flow, JWT sub)")
	flag.StringVar(&o.Password, "password", "", "only accept this password (password flow)")
	flag.StringVar(&o.RefreshToken, "refresh-token", "", "only accept this refresh token (default: any non-empty)")
	flag.StringVar(&o.StaticToken, "access-token", "", "an access token that is valid from the start (no login needed)")
	flag.StringVar(&o.Audiences, "jwt-audience", "", "extra accepted JWT aud values, comma separated")
	flag.DurationVar(&o.SessionTTL, "session-ttl", 0, "access tokens expire after this long (0: never)")
	flag.DurationVar(&o.BulkDelay, "bulk-delay", 300*time.Millisecond, "minimum Bulk API 2.0 processing time per job")
	flag.IntVar(&o.QueryBatchSize, "query-batch-size", 2000, "records per query page before nextRecordsUrl")
	flag.BoolVar(&o.LogRequests, "log-requests", false, "log every request to stderr")
	flag.Parse()
	log.SetPrefix("salesforce-sim: ")
	log.SetFlags(log.Ltime | log.Lmicroseconds)

	schema := defaultSchema()
	if o.SchemaFile != "" {
		if err := loadSchemaFile(schema, o.SchemaFile); err != nil {
			log.Fatalf("schema: %v", err)
		}
	}
	if o.JWTPublicKey != "" {
		if _, err := loadPublicKey(o.JWTPublicKey); err != nil {
			log.Fatalf("jwt public key: %v", err)
		}
	}
	srv := newServer(o, schema)
	var p *simnet.Persist
	if o.StateDir != "" {
		if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
			log.Fatal(err)
		}
		p = &simnet.Persist{Load: srv.loadState, Saver: srv.saver, Save: srv.saveState}
	}
	simnet.Serve(o.Listen, simnet.TLS{SelfSignedDir: o.TLSSelfSigned, CertFile: o.TLSCert, KeyFile: o.TLSKey, CAName: "salesforce-sim test CA"}, srv, p,
		func(u string) { srv.baseURL = u })
}
