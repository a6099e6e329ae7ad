// retl-cluster: a real local Kubernetes control plane for tests and the demo.
//
// One binary, several modes:
//
//	retl-cluster start  [--dir D] [--bin-dir B] [--runtime process|containerd --images A,B]
//	                                             start in the background, wait until ready
//	retl-cluster stop   [--dir D]                stop it, kill pod processes, free ports
//	retl-cluster status [--dir D]                exit 0 when up and ready
//	retl-cluster run    [--dir D] [--bin-dir B]  the supervisor, in the foreground
//	retl-cluster kube-apiserver ARGS...          the real kube-apiserver command
//	retl-cluster kube-controller-manager ARGS... the real kube-controller-manager command
//	retl-cluster container-init                  (internal) sets up one container's mounts, then execs it
//
// The supervisor runs an embedded etcd, the apiserver and controller manager as child
// processes of this same binary (each keeps its process-global state to itself), and
// in-process a small kubelet (node, pods as local processes, logs endpoint) that is also
// the scheduler.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	kcm "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: retl-cluster start|stop|status|run|kube-apiserver|kube-controller-manager [flags]")
	os.Exit(2)
}

type commonFlags struct {
	dir        string
	binDir     string
	node       string
	wait       int
	runtime    string // "process" (the local kubelet) or "containerd" (cri.go)
	images     string // containerd: OCI archives to import, comma-separated
	nodeBinDir string // containerd: where containerd, ctr, kubelet, kube-proxy are
}

func parseCommon(args []string) commonFlags {
	var c commonFlags
	fs := flag.NewFlagSet("retl-cluster", flag.ExitOnError)
	fs.StringVar(&c.dir, "dir", "build/cluster", "state directory (wiped at each start)")
	fs.StringVar(&c.binDir, "bin-dir", "build/bin", "directories (colon-separated) prepended to the PATH of every pod")
	fs.StringVar(&c.node, "node-name", "retl-node", "name of the local node")
	fs.IntVar(&c.wait, "timeout", 90, "seconds start waits for readiness")
	fs.StringVar(&c.runtime, "runtime", "process", "process (pods as local processes) or containerd (real kubelet)")
	fs.StringVar(&c.images, "images", "", "containerd: OCI archives imported at start (comma-separated)")
	fs.StringVar(&c.nodeBinDir, "node-bin-dir", "", "containerd: directory of containerd, ctr, kubelet, kube-proxy (default: this binary's)")
	_ = fs.Parse(args)
	if c.runtime != "process" && c.runtime != "containerd" {
		fatalf("--runtime must be process or containerd, not %q", c.runtime)
	}
	if c.nodeBinDir == "" {
		self, _ := os.Executable()
		c.nodeBinDir = filepath.Dir(self)
	}
	var err error
	if c.dir, err = filepath.Abs(c.dir); err != nil {
		fatalf("%v", err)
	}
	dirs := filepath.SplitList(c.binDir)
	for i, d := range dirs {
		if dirs[i], err = filepath.Abs(d); err != nil {
			fatalf("%v", err)
		}
	}
	c.binDir = strings.Join(dirs, string(filepath.ListSeparator))
	return c
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "retl-cluster: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	mode, args := os.Args[1], os.Args[2:]
	switch mode {
	case "kube-apiserver":
		cmd := apiserver.NewAPIServerCommand()
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
	case "kube-controller-manager":
		cmd := kcm.NewControllerManagerCommand()
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
	case "container-init":
		containerInit()
	case "run":
		os.Exit(runSupervisor(parseCommon(args)))
	case "start":
		os.Exit(start(parseCommon(args)))
	case "stop":
		os.Exit(stop(parseCommon(args)))
	case "status":
		os.Exit(status(parseCommon(args)))
	default:
		usage()
	}
}
