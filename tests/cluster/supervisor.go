package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/embed"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// layout names every file of a cluster directory.
type layout struct {
	dir string
}

func (l layout) p(parts ...string) string { return filepath.Join(append([]string{l.dir}, parts...)...) }
func (l layout) pidFile() string          { return l.p("retl-cluster.pid") }
func (l layout) kubeconfig() string       { return l.p("kubeconfig") }
func (l layout) envFile() string          { return l.p("cluster.env") }
func (l layout) pki() string              { return l.p("pki") }
func (l layout) logs() string             { return l.p("logs") }
func (l layout) pods() string             { return l.p("pods") }
func (l layout) procs() string            { return l.p("procs") }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeKubeconfig writes a self-contained kubeconfig (certificates embedded, like
// kubeadm's admin.conf).
func writeKubeconfig(path, server, caFile, certFile, keyFile, user string) error {
	var blobs [3][]byte
	for i, f := range []string{caFile, certFile, keyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		blobs[i] = b
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["retl"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: blobs[0]}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: blobs[1], ClientKeyData: blobs[2]}
	cfg.Contexts["retl"] = &clientcmdapi.Context{Cluster: "retl", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = "retl"
	return clientcmd.WriteToFile(*cfg, path)
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	c.QPS, c.Burst = 100, 200
	return c, nil
}

// child is a control-plane process: this binary in another mode.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

func spawn(name, logPath string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{name}, args...)...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	c := &child{name: name, cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait(); lf.Close() }()
	return c, nil
}

func (c *child) stop(grace time.Duration) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

func startEtcd(dir string, clientPort, peerPort int) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "retl"
	cfg.Dir = dir
	cu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", clientPort))
	pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", peerPort))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(filepath.Dir(dir), "etcd.log")}
	// A throw-away test store: durability is not worth the fsync latency.
	cfg.UnsafeNoFsync = true
	cfg.QuotaBackendBytes = 2 << 30
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, errors.New("etcd did not become ready in 30s")
	}
}

// restartAPIServer stops the apiserver, compacts etcd's history while it is
// down and starts it again: every client's watch breaks, and one that resumes
// from a resourceVersion it saw before gets 410 Gone and must list again, as
// after a long apiserver outage in a real cluster.
func restartAPIServer(ctx context.Context, etcd *embed.Etcd, admin *kubernetes.Clientset, api **child, args []string, l layout, grace time.Duration) error {
	log.Printf("restarting kube-apiserver (grace %v)", grace)
	(*api).stop(grace)
	// A write first, so the compaction passes every revision a client saw.
	if _, err := etcd.Server.Put(ctx, &etcdserverpb.PutRequest{Key: []byte("/retl-cluster/fault"), Value: []byte(time.Now().String())}); err != nil {
		return fmt.Errorf("etcd put: %w", err)
	}
	rev := etcd.Server.KV().Rev()
	if _, err := etcd.Server.Compact(ctx, &etcdserverpb.CompactionRequest{Revision: rev, Physical: true}); err != nil {
		return fmt.Errorf("etcd compact at %d: %w", rev, err)
	}
	log.Printf("etcd compacted at revision %d", rev)
	na, err := spawn("kube-apiserver", l.p("kube-apiserver.log"), args...)
	if err != nil {
		return err
	}
	*api = na
	if err := waitReadyz(ctx, admin, na, 60*time.Second); err != nil {
		return err
	}
	log.Printf("kube-apiserver restarted")
	return nil
}

// runSupervisor is `retl-cluster run`: it owns every process of the cluster and stops
// them all on SIGTERM/SIGINT or when one of them dies.
func runSupervisor(c commonFlags) int {
	t0 := time.Now()
	l := layout{c.dir}
	if c.runtime == "containerd" {
		criCleanup(l) // mounts left under the dir would stop the wipe
	}
	if err := os.RemoveAll(c.dir); err != nil {
		fatalf("wipe %s: %v", c.dir, err)
	}
	for _, d := range []string{c.dir, l.logs(), l.pods(), l.procs(), l.p("etcd")} {
		if err := os.MkdirAll(d, 0755); err != nil {
			fatalf("%v", err)
		}
	}
	lf, err := os.OpenFile(l.p("cluster.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0644)
	if err == nil {
		log.SetOutput(lf)
	}
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if err := os.WriteFile(l.pidFile(), []byte(strconv.Itoa(os.Getpid())+"\n"), 0644); err != nil {
		fatalf("%v", err)
	}

	ports := map[string]int{}
	for _, n := range []string{"etcd", "etcd-peer", "apiserver", "kubelet", "proxy-healthz", "proxy-metrics"} {
		p, err := freePort()
		if err != nil {
			fatalf("free port: %v", err)
		}
		ports[n] = p
	}
	ca, err := newPKI(l.pki())
	if err != nil {
		fatalf("pki: %v", err)
	}
	// Pods reach servers on the host, and the apiserver behind the kubernetes
	// Service, at hostIP: loopback for local processes, else a host address.
	hip := "127.0.0.1"
	if c.runtime == "containerd" {
		if hip, err = hostIP(); err != nil {
			fatalf("host IP: %v", err)
		}
	}
	hosts := []string{"127.0.0.1", "localhost", "::1", "10.96.0.1", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local", c.node, hip}
	certs := []struct {
		name, cn string
		orgs     []string
		hosts    []string
	}{
		{"apiserver", "kube-apiserver", nil, hosts},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil},
		{"admin", "kubernetes-admin", []string{"system:masters"}, nil},
		{"controller-manager", "system:kube-controller-manager", nil, nil},
		{"scheduler", "system:kube-scheduler", nil, nil},
		{"node", "system:node:" + c.node, []string{"system:nodes"}, nil},
		{"kubelet-serving", c.node, nil, []string{"127.0.0.1", "localhost", c.node, hip}},
		{"kube-proxy", "system:kube-proxy", nil, nil},
	}
	for _, ct := range certs {
		if err := ca.issue(ct.name, ct.cn, ct.orgs, ct.hosts); err != nil {
			fatalf("%v", err)
		}
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", ports["apiserver"])
	for _, k := range []struct{ file, cert, user string }{
		{l.kubeconfig(), "admin", "kubernetes-admin"},
		{l.p("controller-manager.kubeconfig"), "controller-manager", "system:kube-controller-manager"},
		{l.p("scheduler.kubeconfig"), "scheduler", "system:kube-scheduler"},
		{l.p("kubelet.kubeconfig"), "node", "system:node:" + c.node},
		{l.p("kube-proxy.kubeconfig"), "kube-proxy", "system:kube-proxy"},
	} {
		if err := writeKubeconfig(k.file, server, ca.path("ca.crt"), ca.path(k.cert+".crt"), ca.path(k.cert+".key"), k.user); err != nil {
			fatalf("kubeconfig: %v", err)
		}
	}
	env := fmt.Sprintf("RETL_CLUSTER_DIR=%s\nKUBECONFIG=%s\nRETL_APISERVER=%s\nRETL_APISERVER_PORT=%d\nRETL_ETCD_PORT=%d\nRETL_KUBELET_PORT=%d\nRETL_NODE=%s\nRETL_SUPERVISOR_PID=%d\nRETL_RUNTIME=%s\nRETL_HOST_IP=%s\n",
		c.dir, l.kubeconfig(), server, ports["apiserver"], ports["etcd"], ports["kubelet"], c.node, os.Getpid(), c.runtime, hip)
	if err := os.WriteFile(l.envFile(), []byte(env), 0644); err != nil {
		fatalf("%v", err)
	}
	log.Printf("pki and kubeconfigs ready in %v", time.Since(t0))

	etcd, err := startEtcd(l.p("etcd"), ports["etcd"], ports["etcd-peer"])
	if err != nil {
		fatalf("etcd: %v", err)
	}
	log.Printf("etcd ready on 127.0.0.1:%d after %v", ports["etcd"], time.Since(t0))

	pk := ca.path
	apiArgs := []string{
		"--etcd-servers=" + fmt.Sprintf("http://127.0.0.1:%d", ports["etcd"]),
		"--bind-address=" + map[bool]string{true: "0.0.0.0", false: "127.0.0.1"}[c.runtime == "containerd"],
		"--advertise-address=" + hip,
		"--secure-port=" + strconv.Itoa(ports["apiserver"]),
		"--cert-dir=" + l.pki(),
		"--tls-cert-file=" + pk("apiserver.crt"),
		"--tls-private-key-file=" + pk("apiserver.key"),
		"--client-ca-file=" + pk("ca.crt"),
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pk("sa.pub"),
		"--service-account-signing-key-file=" + pk("sa.key"),
		"--kubelet-client-certificate=" + pk("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + pk("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + pk("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--profiling=false",
		"--v=1",
	}
	api, err := spawn("kube-apiserver", l.p("kube-apiserver.log"), apiArgs...)
	if err != nil {
		fatalf("kube-apiserver: %v", err)
	}
	children := []*child{api}
	shutdown := func() {
		for i := len(children) - 1; i >= 0; i-- {
			children[i].stop(10 * time.Second)
		}
		etcd.Close()
	}

	cfg, err := restConfig(l.kubeconfig())
	if err != nil {
		fatalf("%v", err)
	}
	admin := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := waitReadyz(ctx, admin, api, 60*time.Second); err != nil {
		log.Printf("kube-apiserver: %v", err)
		shutdown()
		return 1
	}
	log.Printf("kube-apiserver ready on %s after %v", server, time.Since(t0))

	kcmArgs := []string{
		"--kubeconfig=" + l.p("controller-manager.kubeconfig"),
		"--secure-port=0",
		"--leader-elect=false",
		"--controllers=*",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + pk("sa.key"),
		"--root-ca-file=" + pk("ca.crt"),
		"--cluster-signing-cert-file=" + pk("ca.crt"),
		"--cluster-signing-key-file=" + pk("ca.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--concurrent-gc-syncs=5",
		"--v=1",
	}
	cm, err := spawn("kube-controller-manager", l.p("kube-controller-manager.log"), kcmArgs...)
	if err != nil {
		log.Printf("kube-controller-manager: %v", err)
		shutdown()
		return 1
	}
	children = append(children, cm)

	kl, err := newKubelet(kubeletConfig{
		layout:     l,
		node:       c.node,
		binDir:     c.binDir,
		apiPort:    ports["apiserver"],
		port:       ports["kubelet"],
		kubeconfig: l.p("kubelet.kubeconfig"),
		schedKC:    l.p("scheduler.kubeconfig"),
		caFile:     pk("ca.crt"),
		certFile:   pk("kubelet-serving.crt"),
		keyFile:    pk("kubelet-serving.key"),
		// With containerd the real kubelet runs pods; this one only schedules.
		schedulerOnly: c.runtime == "containerd",
	})
	if err != nil {
		log.Printf("kubelet: %v", err)
		shutdown()
		return 1
	}
	if err := kl.start(ctx); err != nil {
		log.Printf("kubelet: %v", err)
		shutdown()
		return 1
	}
	log.Printf("kubelet and scheduler started after %v", time.Since(t0))
	if c.runtime == "containerd" {
		var imgs []string
		for _, i := range strings.Split(c.images, ",") {
			if i = strings.TrimSpace(i); i != "" {
				imgs = append(imgs, i)
			}
		}
		cn := &criNode{l: l, node: c.node, binDir: c.nodeBinDir, hostIP: hip, images: imgs, ports: ports, certDir: l.pki()}
		kids, err := cn.start()
		children = append(children, kids...)
		if err != nil {
			log.Printf("containerd node: %v", err)
			kl.shutdown(time.Second)
			cancel()
			shutdown()
			criCleanup(l)
			return 1
		}
		log.Printf("containerd, kubelet and kube-proxy started after %v", time.Since(t0))
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	// Fault tests (tests/suites/77-e2e-faults.sh): SIGUSR1 crashes the
	// apiserver and starts it again, SIGUSR2 stops it gracefully first (the
	// outage then lasts longer than a leader's lease renewal deadline).
	restarts := make(chan os.Signal, 1)
	signal.Notify(restarts, syscall.SIGUSR1, syscall.SIGUSR2)
	rc := 0
wait:
	for {
		select {
		case s := <-restarts:
			grace := time.Duration(0)
			if s == syscall.SIGUSR2 {
				grace = 10 * time.Second
			}
			if err := restartAPIServer(ctx, etcd, admin, &api, apiArgs, l, grace); err != nil {
				log.Printf("kube-apiserver restart: %v", err)
				rc = 1
				break wait
			}
			children[0] = api
		case s := <-sigs:
			log.Printf("signal %v: stopping", s)
			break wait
		case err := <-api.done:
			log.Printf("kube-apiserver exited: %v", err)
			api.done <- err
			rc = 1
			break wait
		case err := <-cm.done:
			log.Printf("kube-controller-manager exited: %v", err)
			cm.done <- err
			rc = 1
			break wait
		case err := <-etcd.Err():
			log.Printf("etcd failed: %v", err)
			rc = 1
			break wait
		}
	}
	kl.shutdown(5 * time.Second)
	cancel()
	shutdown()
	if c.runtime == "containerd" {
		criCleanup(l)
	}
	os.Remove(l.pidFile())
	log.Printf("stopped")
	return rc
}

func waitReadyz(ctx context.Context, cs *kubernetes.Clientset, api *child, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-api.done:
			api.done <- err
			return fmt.Errorf("exited during startup: %v", err)
		default:
		}
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && strings.TrimSpace(string(body)) == "ok" {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("/readyz not ok after %v", timeout)
}

// clusterReady says why the cluster is not ready yet, or "" when it is.
func clusterReady(ctx context.Context, cs *kubernetes.Clientset, node string) string {
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil || strings.TrimSpace(string(body)) != "ok" {
		return "apiserver /readyz not ok"
	}
	n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return "node not registered"
	}
	ready := false
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		return "node not Ready"
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		return "namespace default missing"
	}
	if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		return "serviceaccount default/default missing"
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err != nil {
		return "configmap default/kube-root-ca.crt missing"
	}
	return ""
}

// readPid finds the supervisor of this cluster directory: from its pid file, or, when
// that is gone (e.g. `make clean` while up), by its command line.
func readPid(l layout) int {
	if b, err := os.ReadFile(l.pidFile()); err == nil {
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if pid > 0 && isSupervisorOf(pid, l.dir) {
			return pid
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && isSupervisorOf(pid, l.dir) {
			return pid
		}
	}
	return 0
}

// supervisorArg is the value of flag in pid's command line.
func supervisorArg(pid int, flag string) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			return args[i+1]
		}
	}
	return ""
}

// isSupervisorOf: pid is `retl-cluster run --dir dir ...` (guards against pid reuse).
func isSupervisorOf(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(args) < 4 || filepath.Base(args[0]) != "retl-cluster" || args[1] != "run" {
		return false
	}
	for i := 2; i+1 < len(args); i++ {
		if args[i] == "--dir" && args[i+1] == dir {
			return true
		}
	}
	return false
}

func status(c commonFlags) int {
	l := layout{c.dir}
	if readPid(l) == 0 {
		fmt.Println("down")
		return 1
	}
	cfg, err := restConfig(l.kubeconfig())
	if err != nil {
		fmt.Println("down:", err)
		return 1
	}
	cfg.Timeout = 5 * time.Second
	cs := kubernetes.NewForConfigOrDie(cfg)
	if why := clusterReady(context.Background(), cs, c.node); why != "" {
		fmt.Println("not ready:", why)
		return 1
	}
	fmt.Println("ready", cfg.Host)
	return 0
}

func start(c commonFlags) int {
	t0 := time.Now()
	l := layout{c.dir}
	if pid := readPid(l); pid != 0 && supervisorArg(pid, "--bin-dir") != c.binDir {
		fmt.Fprintf(os.Stderr, "retl-cluster: up with pod PATH dirs %s; restarting with %s\n", supervisorArg(pid, "--bin-dir"), c.binDir)
		stop(c)
	}
	if pid := readPid(l); pid != 0 && (supervisorArg(pid, "--runtime") != c.runtime || supervisorArg(pid, "--images") != c.images) {
		fmt.Fprintf(os.Stderr, "retl-cluster: up with runtime %s; restarting with %s\n", supervisorArg(pid, "--runtime"), c.runtime)
		stop(c)
	}
	if readPid(l) != 0 && readyNow(l, c.node) == "" {
		fmt.Printf("retl-cluster: already up: %s (KUBECONFIG=%s)\n", serverOf(l), l.kubeconfig())
		return 0
	}
	deadline := time.Now().Add(time.Duration(c.wait) * time.Second)
	// A second attempt covers a port taken between picking and binding it.
attempts:
	for attempt := 1; ; attempt++ {
		var exited chan error
		if readPid(l) == 0 { // else another caller is starting it: wait for that one
			killLeftovers(l)
			os.Remove(l.kubeconfig()) // the previous cluster's, until the supervisor wipes the dir
			exited = make(chan error, 1)
			if err := spawnSupervisor(c, exited); err != nil {
				fatalf("start supervisor: %v", err)
			}
		}
		why := "starting"
		for time.Now().Before(deadline) {
			select {
			case err := <-exited:
				b, _ := os.ReadFile(c.dir + ".out")
				t, _ := os.ReadFile(l.p("cluster.log"))
				fmt.Fprintf(os.Stderr, "retl-cluster: supervisor exited (%v):\n%s%s\n", err, b, tail(t, 3000))
				if attempt < 2 {
					continue attempts
				}
				return 1
			default:
			}
			if why = readyNow(l, c.node); why == "" {
				fmt.Printf("retl-cluster: ready in %.1fs: %s (KUBECONFIG=%s)\n", time.Since(t0).Seconds(), serverOf(l), l.kubeconfig())
				return 0
			}
			time.Sleep(200 * time.Millisecond)
		}
		fmt.Fprintf(os.Stderr, "retl-cluster: not ready after %ds: %s (logs in %s)\n", c.wait, why, c.dir)
		return 1
	}
}

func spawnSupervisor(c commonFlags, exited chan error) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.dir), 0755); err != nil {
		return err
	}
	out, err := os.OpenFile(c.dir+".out", os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(self, "run", "--dir", c.dir, "--bin-dir", c.binDir, "--node-name", c.node,
		"--runtime", c.runtime, "--images", c.images, "--node-bin-dir", c.nodeBinDir)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { exited <- cmd.Wait() }()
	return nil
}

// readyNow says why the cluster in l is not ready, or "" when it is.
func readyNow(l layout, node string) string {
	if _, err := os.Stat(l.kubeconfig()); err != nil {
		return "no kubeconfig yet"
	}
	cfg, err := restConfig(l.kubeconfig())
	if err != nil {
		return err.Error()
	}
	cfg.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err.Error()
	}
	return clusterReady(context.Background(), cs, node)
}

func serverOf(l layout) string {
	cfg, err := restConfig(l.kubeconfig())
	if err != nil {
		return "?"
	}
	return cfg.Host
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// killLeftovers kills pod process groups that a crashed supervisor left behind.
func killLeftovers(l layout) {
	ents, _ := os.ReadDir(l.procs())
	for _, e := range ents {
		if pgid, err := strconv.Atoi(e.Name()); err == nil && pgid > 1 {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
}

func stop(c commonFlags) int {
	l := layout{c.dir}
	pid := readPid(l)
	if pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) && syscall.Kill(pid, 0) == nil {
			time.Sleep(100 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	killLeftovers(l)
	if _, err := os.Stat(criState(l)); err == nil {
		criCleanup(l)
	}
	os.Remove(l.pidFile())
	fmt.Println("retl-cluster: stopped")
	return 0
}
