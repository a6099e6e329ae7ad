package main

// Readiness and liveness probes (httpGet, tcpSocket, exec) against 127.0.0.1, the
// pod's address. A container without a readiness probe is ready once running; one
// failing its liveness probe failureThreshold times is killed and restarted per policy.

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func probePort(c *corev1.Container, port intstr.IntOrString) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("port %q not found", port.StrVal)
}

func runProbe(pr *corev1.Probe, c *corev1.Container, envFn func() []string) bool {
	timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
	switch {
	case pr.HTTPGet != nil:
		port, err := probePort(c, pr.HTTPGet.Port)
		if err != nil {
			return false
		}
		host := pr.HTTPGet.Host
		if host == "" {
			host = "127.0.0.1"
		}
		scheme := "http"
		if pr.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		cl := &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		req, err := http.NewRequest("GET", fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, fmt.Sprint(port)), pr.HTTPGet.Path), nil)
		if err != nil {
			return false
		}
		req.Header.Set("User-Agent", "kube-probe/1.32")
		for _, h := range pr.HTTPGet.HTTPHeaders {
			req.Header.Set(h.Name, h.Value)
		}
		resp, err := cl.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 400
	case pr.TCPSocket != nil:
		port, err := probePort(c, pr.TCPSocket.Port)
		if err != nil {
			return false
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", fmt.Sprint(port)), timeout)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	case pr.Exec != nil && len(pr.Exec.Command) > 0:
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		env := envFn()
		bin, err := lookPath(pr.Exec.Command[0], envValue(env, "PATH"))
		if err != nil {
			return false
		}
		cmd := exec.CommandContext(ctx, bin, pr.Exec.Command[1:]...)
		cmd.Env = env
		return cmd.Run() == nil
	}
	return true
}

// probe runs c's due probes; it is called from the pod worker while c runs.
func (w *podWorker) probe(p *corev1.Pod, c *ctr, now time.Time) {
	since := now.Sub(c.startedAt)
	rp, lp := c.spec.ReadinessProbe, c.spec.LivenessProbe
	envFn := func() []string { e, _ := w.buildEnv(w.k.ctx, p, &c.spec); return e }
	if rp == nil {
		c.ready = true
	} else if since >= time.Duration(rp.InitialDelaySeconds)*time.Second &&
		now.Sub(c.lastProbe) >= time.Duration(max(rp.PeriodSeconds, 1))*time.Second {
		c.lastProbe = now
		if runProbe(rp, &c.spec, envFn) {
			c.readyFails = 0
			c.readyOK++
			if c.readyOK >= int(max(rp.SuccessThreshold, 1)) {
				c.ready = true
			}
		} else {
			c.readyOK = 0
			c.readyFails++
			if c.readyFails >= int(max(rp.FailureThreshold, 1)) {
				c.ready = false
			}
		}
	}
	if lp != nil && since >= time.Duration(lp.InitialDelaySeconds)*time.Second &&
		now.Sub(c.lastLiveness) >= time.Duration(max(lp.PeriodSeconds, 1))*time.Second {
		c.lastLiveness = now
		if runProbe(lp, &c.spec, envFn) {
			c.liveFails = 0
		} else if c.liveFails++; c.liveFails >= int(max(lp.FailureThreshold, 1)) {
			w.event(p, corev1.EventTypeWarning, "Unhealthy", "Liveness probe failed", "")
			_ = syscall.Kill(-c.pgid, syscall.SIGKILL)
			c.liveFails = 0
		}
	}
}
