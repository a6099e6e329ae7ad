// pause: the pod sandbox's process for RUNTIME=containerd (no registry, so no
// registry.k8s.io/pause): it holds the pod's namespaces until SIGTERM/SIGINT and
// reaps zombies as PID 1. Built static into localhost/pause:retl (scripts/image.sh).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
