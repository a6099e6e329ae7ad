package main

// --runtime containerd (issue 15, DESIGN §8.3): the real kubelet and kube-proxy
// (k8s.io/kubernetes at the apiserver's version, built into the node bin dir by
// tests/containers/containers.mk) over containerd v2 + runc + the Debian CNI plugins
// (bridge), instead of the process kubelet. The supervisor keeps only its scheduler
// part (binding pending pods to the node) and runs containerd, kubelet and kube-proxy
// as children. Settings this kernel needs (shared/reference/containers.md):
// restrict_oom_score_adj, no hugetlb controller, cgroupfs, cgroup v1 allowed, a
// locally built pause image, NRI socket and netns mounts in private folders.
//
// Layout: <dir>/node/{kubelet,cni,...} is wiped with the cluster; containerd's image
// store lives beside the cluster dir (<dir>-containerd) so images survive restarts;
// its state (sockets, runc state) is under /run/retl-containerd/<hash of dir> to keep
// unix socket paths short.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	podCIDR    = "10.244.0.0/16"
	pauseImage = "localhost/pause:retl"
	cniBinDir  = "/usr/lib/cni"
)

type criNode struct {
	l       layout
	node    string
	binDir  string // containerd, containerd-shim-runc-v2, ctr, kubelet, kube-proxy
	hostIP  string
	images  []string // OCI archives imported into containerd at each start
	ports   map[string]int
	caFile  string
	certDir string
}

func (n *criNode) p(parts ...string) string { return n.l.p(append([]string{"node"}, parts...)...) }
func (n *criNode) root() string             { return n.l.dir + "-containerd" }
func (n *criNode) state() string            { return criState(n.l) }
func (n *criNode) sock() string             { return filepath.Join(n.state(), "containerd.sock") }

func criState(l layout) string {
	h := sha256.Sum256([]byte(l.dir))
	return filepath.Join("/run/retl-containerd", hex.EncodeToString(h[:6]))
}

// hostIP is the address at which pods reach the host (and the apiserver): the first
// global IPv4 address of an interface that is up, not the pod bridge.
func hostIP() (string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	_, pods, _ := net.ParseCIDR(podCIDR)
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil || !ipn.IP.IsGlobalUnicast() || pods.Contains(ipn.IP) {
				continue
			}
			return ipn.IP.String(), nil
		}
	}
	return "", fmt.Errorf("no global IPv4 address on an interface that is up")
}

func (n *criNode) writeConfigs() error {
	for _, d := range []string{n.p("kubelet"), n.p("cni", "net.d"), n.p("cni", "ipam"), n.p("pod-logs"),
		n.root(), n.state(), n.p("nri")} {
		if err := os.MkdirAll(d, 0755); err != nil {
			return err
		}
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		return fmt.Errorf("runc not found (make deps): %v", err)
	}
	ctd := fmt.Sprintf(`version = 3
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = %q
  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = true
    tolerate_missing_hugetlb_controller = true
    disable_hugetlb_controller = true
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = %q
          Root = %q
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = [%q]
      conf_dir = %q
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
  [plugins.'io.containerd.nri.v1.nri']
    disable = true
    socket_path = %q
`, n.root(), n.state(), n.sock(), n.sock()+".ttrpc", pauseImage, runc, filepath.Join(n.state(), "runc"),
		cniBinDir, n.p("cni", "net.d"), n.p("nri", "nri.sock"))
	cni := fmt.Sprintf(`{"cniVersion": "1.0.0", "name": "retl", "plugins": [
  {"type": "bridge", "bridge": "retl0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": %q}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
`, podCIDR, n.p("cni", "ipam"))
	pk := func(s string) string { return filepath.Join(n.certDir, s) }
	kubelet := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 0.0.0.0
port: %d
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %q}
authorization: {mode: AlwaysAllow}
tlsCertFile: %q
tlsPrivateKeyFile: %q
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%s
podLogsDir: %q
resolvConf: /etc/resolv.conf
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 50Mi, nodefs.available: 1%%, imagefs.available: 1%%, nodefs.inodesFree: 1%%}
serializeImagePulls: false
localStorageCapacityIsolation: false
syncFrequency: 10s
fileCheckFrequency: 0s
`, n.ports["kubelet"], pk("ca.crt"), pk("kubelet-serving.crt"), pk("kubelet-serving.key"), n.sock(), n.p("pod-logs"))
	proxy := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %q}
mode: iptables
hostnameOverride: %s
clusterCIDR: %s
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:%d
metricsBindAddress: 127.0.0.1:%d
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {syncPeriod: 10s, minSyncPeriod: 0s}
`, n.l.p("kube-proxy.kubeconfig"), n.node, podCIDR, n.ports["proxy-healthz"], n.ports["proxy-metrics"])
	for f, s := range map[string]string{
		n.p("containerd.toml"):                  ctd,
		n.p("cni", "net.d", "10-retl.conflist"): cni,
		n.p("kubelet.yaml"):                     kubelet,
		n.p("kube-proxy.yaml"):                  proxy,
	} {
		if err := os.WriteFile(f, []byte(s), 0644); err != nil {
			return err
		}
	}
	return nil
}

// spawnBin runs an external binary as a child of the supervisor.
func spawnBin(name, bin, logPath string, args ...string) (*child, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
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

func (n *criNode) bin(name string) string { return filepath.Join(n.binDir, name) }

// start runs containerd (then imports the images), kubelet and kube-proxy; the
// returned children are stopped in reverse order by the supervisor.
func (n *criNode) start() ([]*child, error) {
	t0 := time.Now()
	if other := otherCRINode(n.state()); other != "" {
		return nil, fmt.Errorf("another RUNTIME=containerd cluster is up (containerd at %s): only one per machine, "+
			"as kube-proxy owns the host's KUBE-* iptables chains and the pod bridge; stop it first (make cluster-down)", other)
	}
	criCleanup(n.l) // a crashed run's containers and mounts
	if err := n.writeConfigs(); err != nil {
		return nil, err
	}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "kubelet", "kube-proxy"} {
		if _, err := os.Stat(n.bin(b)); err != nil {
			return nil, fmt.Errorf("%s missing (make containers-tools): %v", n.bin(b), err)
		}
	}
	var kids []*child
	// The shim is looked up on PATH.
	os.Setenv("PATH", n.binDir+string(filepath.ListSeparator)+os.Getenv("PATH"))
	ctd, err := spawnBin("containerd", n.bin("containerd"), n.l.p("containerd.log"), "--config", n.p("containerd.toml"))
	if err != nil {
		return nil, err
	}
	kids = append(kids, ctd)
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", n.sock()); err == nil {
			c.Close()
			break
		}
		if i > 300 {
			return kids, fmt.Errorf("containerd socket %s not up after 30s (see containerd.log)", n.sock())
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Printf("containerd up after %v", time.Since(t0))
	for _, img := range n.images {
		out, err := exec.Command(n.bin("ctr"), "--address", n.sock(), "-n", "k8s.io", "images", "import",
			"--local", "--snapshotter", "overlayfs", img).CombinedOutput()
		if err != nil {
			return kids, fmt.Errorf("ctr images import %s: %v: %s", img, err, out)
		}
		log.Printf("imported %s: %s", img, strings.TrimSpace(string(out)))
	}
	log.Printf("images imported after %v", time.Since(t0))
	kl, err := spawnBin("kubelet", n.bin("kubelet"), n.l.p("kubelet.log"),
		"--config="+n.p("kubelet.yaml"),
		"--kubeconfig="+n.l.p("kubelet.kubeconfig"),
		"--root-dir="+n.p("kubelet"),
		"--hostname-override="+n.node,
		"--node-ip="+n.hostIP,
		"--v=2")
	if err != nil {
		return kids, err
	}
	kids = append(kids, kl)
	kp, err := spawnBin("kube-proxy", n.bin("kube-proxy"), n.l.p("kube-proxy.log"),
		"--config="+n.p("kube-proxy.yaml"), "--v=1")
	if err != nil {
		return kids, err
	}
	kids = append(kids, kp)
	return kids, nil
}

// otherCRINode is the socket of a live containerd of another cluster dir, or "".
func otherCRINode(own string) string {
	socks, _ := filepath.Glob("/run/retl-containerd/*/containerd.sock")
	for _, s := range socks {
		if filepath.Dir(s) == own {
			continue
		}
		if c, err := net.DialTimeout("unix", s, time.Second); err == nil {
			c.Close()
			return s
		}
	}
	return ""
}

// criCleanup removes what containerd leaves behind when it stops: running containers
// (runc state under the state dir), shims, and every mount under the cluster dir,
// the image store and the state dir. Idempotent.
func criCleanup(l layout) {
	state := criState(l)
	roots, _ := filepath.Glob(filepath.Join(state, "runc", "*"))
	for _, r := range roots {
		out, _ := exec.Command("runc", "--root", r, "list", "-q").Output()
		for _, id := range strings.Fields(string(out)) {
			_ = exec.Command("runc", "--root", r, "kill", id, "KILL").Run()
			_ = exec.Command("runc", "--root", r, "delete", "-f", id).Run()
		}
	}
	sock := filepath.Join(state, "containerd.sock")
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		cl := string(b)
		if strings.Contains(cl, "containerd-shim-runc-v2") && strings.Contains(cl, sock) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	unmountUnder(l.dir, l.dir+"-containerd", state)
}

// unmountUnder lazily unmounts every mount point below the given directories,
// deepest first.
func unmountUnder(dirs ...string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var pts []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := strings.ReplaceAll(f[4], "\\040", " ")
		for _, d := range dirs {
			if mp == d || strings.HasPrefix(mp, d+"/") {
				pts = append(pts, mp)
			}
		}
	}
	sort.Slice(pts, func(i, j int) bool { return len(pts[i]) > len(pts[j]) })
	for _, p := range pts {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}
