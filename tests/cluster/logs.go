package main

// The kubelet's HTTPS endpoint, so `kubectl logs` works: the apiserver proxies
// /api/v1/namespaces/N/pods/P/log to https://127.0.0.1:<port>/containerLogs/N/P/C with
// its kubelet client certificate, which is verified against the cluster CA.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func startLogServer(k *kubelet) error {
	caPEM, err := os.ReadFile(k.cfg.caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(k.cfg.certFile, k.cfg.keyFile)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) { _, _ = rw.Write([]byte("ok")) })
	mux.HandleFunc("/containerLogs/", k.serveLogs)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", k.cfg.port))
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:   mux,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert},
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return nil
}

// logTail returns the end of path from offset on: at most lines lines and bytes bytes.
func logTail(path string, offset int64, lines, maxBytes int) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return ""
	}
	b = b[offset:]
	if lines > 0 {
		b = tailLines(b, lines)
	}
	if maxBytes > 0 && len(b) > maxBytes {
		b = b[len(b)-maxBytes:]
	}
	return string(b)
}

func tailLines(b []byte, n int) []byte {
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end--
	}
	cut := 0
	for i, count := end-1, 0; i >= 0; i-- {
		if b[i] == '\n' {
			if count++; count == n {
				cut = i + 1
				break
			}
		}
	}
	return b[cut:]
}

func (k *kubelet) serveLogs(rw http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
	if len(parts) != 3 {
		http.Error(rw, "expected /containerLogs/{namespace}/{pod}/{container}", http.StatusBadRequest)
		return
	}
	ns, pod, name := parts[0], parts[1], parts[2]
	path := filepath.Join(k.cfg.layout.logs(), fmt.Sprintf("%s_%s_%s.log", ns, pod, name))
	q := r.URL.Query()
	// The log file holds every run of the container; serve the current run, or the
	// previous one for ?previous=true, as a kubelet does.
	start, end := int64(0), int64(-1)
	if w := k.worker(ns, pod); w != nil {
		var msg string
		if start, end, msg = w.logRange(name, q.Get("previous") == "true"); msg != "" {
			http.Error(rw, msg, http.StatusBadRequest)
			return
		}
	}
	f, err := os.Open(path)
	if err != nil {
		http.Error(rw, fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", name, pod), http.StatusBadRequest)
		return
	}
	defer f.Close()
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	var rd io.Reader = f
	if end >= 0 {
		rd = io.LimitReader(f, end-start)
	}
	data, _ := io.ReadAll(rd)
	if s := q.Get("tailLines"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			if n == 0 {
				data = nil
			} else {
				data = tailLines(data, n)
			}
		}
	}
	limit := int64(-1)
	if s := q.Get("limitBytes"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			limit = n
		}
	}
	rw.Header().Set("Content-Type", "text/plain")
	written := int64(0)
	write := func(b []byte) bool {
		if limit >= 0 && written+int64(len(b)) > limit {
			b = b[:limit-written]
		}
		n, err := rw.Write(b)
		written += int64(n)
		return err == nil && (limit < 0 || written < limit)
	}
	if !write(data) || q.Get("follow") != "true" || end >= 0 {
		return
	}
	fl, _ := rw.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		if fl != nil {
			fl.Flush()
		}
		n, _ := f.Read(buf)
		if n > 0 {
			if !write(bytes.Clone(buf[:n])) {
				return
			}
			continue
		}
		w := k.worker(ns, pod)
		if w == nil || !w.containerMayWrite(name) {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// containerMayWrite: the container is running or will be restarted.
func (w *podWorker) containerMayWrite(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.ctrs {
		if c.spec.Name == name {
			return (c.running && !c.exited) || !c.started || restarts(w.pod.Spec.RestartPolicy, c.exitCode)
		}
	}
	return false
}

// logRange is the byte range of container name's current (or previous) run in its log
// file; end -1 means up to the end. msg explains why there is nothing to serve.
func (w *podWorker) logRange(name string, previous bool) (start, end int64, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pod
	for _, c := range w.ctrs {
		if c.spec.Name != name {
			continue
		}
		if !c.started {
			return 0, -1, fmt.Sprintf("container %q in pod %q is waiting to start: %s", name, p.Name, orDefault(c.waitReason, "ContainerCreating"))
		}
		if previous {
			if c.restarts == 0 {
				return 0, -1, fmt.Sprintf("previous terminated container %q in pod %q not found", name, p.Name)
			}
			return c.prevStart, c.logOffset, ""
		}
		return c.logOffset, -1, ""
	}
	return 0, -1, fmt.Sprintf("container %s is not valid for pod %s", name, p.Name)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
