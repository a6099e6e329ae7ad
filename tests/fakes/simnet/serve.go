package simnet

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Persist is how a stand-in keeps its records across restarts (--state DIR).
// Load runs before the listener opens, Saver runs in the background until
// shutdown (it must return when stop closes), and Save runs once after the
// server and the Saver have stopped, so the last writes are on disk.
type Persist struct {
	Load  func() error
	Saver func(stop <-chan struct{})
	Save  func()
}

// Serve is the life of every API stand-in: listen on addr (TLS as t says),
// hand the base URL to started before the first request can arrive, print it
// on stdout (the test harnesses read that line), serve h until SIGINT or
// SIGTERM, then stop. p may be nil (nothing persists). Errors are fatal: a
// stand-in that cannot listen is of no use to the test that started it.
func Serve(addr string, t TLS, h http.Handler, p *Persist, started func(baseURL string)) {
	if p != nil {
		if err := p.Load(); err != nil {
			log.Fatalf("state: %v", err)
		}
	}
	ln, baseURL, err := Listen(addr, t)
	if err != nil {
		log.Fatal(err)
	}
	if started != nil {
		started(baseURL)
	}
	stop, saverDone := make(chan struct{}), make(chan struct{})
	if p != nil {
		go func() {
			p.Saver(stop)
			close(saverDone)
		}()
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	fmt.Println(baseURL)
	os.Stdout.Sync()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	close(stop)
	hs.Close()
	if p != nil {
		// A background save that read the records before the last write
		// would otherwise rename its older file over the final one.
		<-saverDone
		p.Save()
	}
}
