// hubspot-sim is a stand-in for the HubSpot CRM v3 endpoints a reverse-ETL
// loader uses: objects (single, list, batch, search), properties, private-app
// token auth, the ten-secondly rolling rate limit, and injectable faults. See
// README.md for flags and the admin API.
package main

import (
	"retl/tests/fakes/simnet"

	"flag"
	"log"
	"os"
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
	var p *simnet.Persist
	if o.StateDir != "" {
		if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
			log.Fatal(err)
		}
		p = &simnet.Persist{Load: srv.loadState, Saver: srv.saver, Save: srv.saveState}
	}
	simnet.Serve(o.Listen, simnet.TLS{SelfSignedDir: o.TLSSelfSigned, CAName: "hubspot-sim test CA"}, srv, p,
		func(u string) { srv.baseURL = u })
}
