package main

// Container processes. Each container runs as `retl-cluster container-init` in fresh
// mount and UTS namespaces (cloned by the kubelet); that helper bind-mounts the pod's
// volumes, the container's own termination-message file onto terminationMessagePath
// and the service-account token directory onto its mountPath, sets the hostname to the
// pod name, changes directory, and execs the container command. Go cannot run code
// between fork and exec, hence the helper. The container is its own process group so
// signals reach its children too.

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
)

type mountSpec struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

type initSpec struct {
	Path     string      `json:"path"`
	Argv     []string    `json:"argv"`
	Env      []string    `json:"env"`
	Dir      string      `json:"dir"`
	Hostname string      `json:"hostname,omitempty"`
	Mounts   []mountSpec `json:"mounts,omitempty"`
	NS       bool        `json:"ns"`
	Staging  string      `json:"staging,omitempty"`
	UID      *int64      `json:"uid,omitempty"`
	GID      *int64      `json:"gid,omitempty"`
	Groups   []int64     `json:"groups,omitempty"`
}

// nonRootDefault stands in for an image's non-root USER when a pod asks for
// runAsNonRoot without a runAsUser (the distroless "nonroot" uid).
const nonRootDefault = 65532

// identity is the uid/gid/supplementary groups the container runs as, from the
// container's securityContext over the pod's; nil uid means root, the image default.
func identity(p *corev1.Pod, c *corev1.Container) (uid, gid *int64, groups []int64) {
	ps := p.Spec.SecurityContext
	cs := c.SecurityContext
	nonRoot := false
	if ps != nil {
		uid, gid = ps.RunAsUser, ps.RunAsGroup
		nonRoot = ps.RunAsNonRoot != nil && *ps.RunAsNonRoot
		groups = append(groups, ps.SupplementalGroups...)
		if ps.FSGroup != nil {
			groups = append(groups, *ps.FSGroup)
		}
	}
	if cs != nil {
		if cs.RunAsUser != nil {
			uid = cs.RunAsUser
		}
		if cs.RunAsGroup != nil {
			gid = cs.RunAsGroup
		}
		if cs.RunAsNonRoot != nil {
			nonRoot = *cs.RunAsNonRoot
		}
	}
	if uid == nil && nonRoot {
		u := int64(nonRootDefault)
		uid = &u
	}
	if uid != nil && gid == nil {
		g := *uid
		if *uid != nonRootDefault {
			g = 0
		}
		gid = &g
	}
	return uid, gid, groups
}

// probeMountNS says whether the helper can run in private mount namespaces here.
func probeMountNS() bool {
	self, err := os.Executable()
	if err != nil {
		return false
	}
	cmd := exec.Command(self, "container-init", "--probe")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		log.Printf("kubelet: private mount namespaces unavailable (%v: %s); termination messages go through $RETL_TERMINATION_MESSAGE_PATH and volumes are not mounted", err, out)
		return false
	}
	return true
}

func lookPath(file, path string) (string, error) {
	if strings.Contains(file, "/") {
		if st, err := os.Stat(file); err != nil || st.IsDir() || st.Mode()&0111 == 0 {
			return "", fmt.Errorf("exec: %q: stat %s: no such file or directory", file, file)
		}
		return file, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", file)
}

// entrypoint is command+args; without a command the image name (sans registry and tag)
// names the binary, standing in for the image's ENTRYPOINT.
func entrypoint(c *corev1.Container) []string {
	argv := append([]string{}, c.Command...)
	if len(argv) == 0 {
		img := c.Image
		if i := strings.LastIndex(img, "/"); i >= 0 {
			img = img[i+1:]
		}
		if i := strings.IndexAny(img, ":@"); i >= 0 {
			img = img[:i]
		}
		argv = []string{img}
	}
	return append(argv, c.Args...)
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return kv[len(key)+1:]
		}
	}
	return ""
}

// launch starts the container process; its output goes to lf.
func (k *kubelet) launch(w *podWorker, p *corev1.Pod, c *ctr, env []string, lf *os.File) (*exec.Cmd, error) {
	argv := expandArgs(entrypoint(&c.spec), env)
	bin, err := lookPath(argv[0], envValue(env, "PATH"))
	if err != nil {
		return nil, fmt.Errorf("failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: %v", err)
	}
	spec := initSpec{Path: bin, Argv: argv, Env: env, Dir: c.workDir, NS: k.mountNS,
		Staging: filepath.Join(filepath.Dir(c.termPath), "shadow")}
	spec.UID, spec.GID, spec.Groups = identity(p, &c.spec)
	if spec.UID != nil {
		_ = os.Chown(c.workDir, int(*spec.UID), int(*spec.GID))
		_ = os.Chown(c.termPath, int(*spec.UID), int(*spec.GID))
	}
	if c.spec.WorkingDir != "" {
		spec.Dir = c.spec.WorkingDir
	}
	if k.mountNS {
		spec.Hostname = p.Name
		tmp := c.spec.TerminationMessagePath
		if tmp == "" {
			tmp = corev1.TerminationMessagePathDefault
		}
		spec.Mounts = append(spec.Mounts, mountSpec{Source: c.termPath, Target: tmp})
		for _, vm := range c.spec.VolumeMounts {
			src, ok := w.volumeSource(p, vm.Name)
			if !ok {
				return nil, fmt.Errorf("volume %q not found", vm.Name)
			}
			if vm.SubPath != "" {
				src = filepath.Join(src, vm.SubPath)
			}
			spec.Mounts = append(spec.Mounts, mountSpec{Source: src, Target: vm.MountPath, ReadOnly: vm.ReadOnly})
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	r, wr, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command(self, "container-init")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.ExtraFiles = []*os.File{r}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if k.mountNS {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS
	}
	if err := cmd.Start(); err != nil {
		wr.Close()
		return nil, err
	}
	if err := json.NewEncoder(wr).Encode(spec); err != nil {
		wr.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	wr.Close()
	k.rememberProc(cmd.Process.Pid)
	return cmd, nil
}

// Pod process groups are recorded so that `retl-cluster stop` can kill what a crashed
// supervisor left behind.
func (k *kubelet) rememberProc(pgid int) {
	_ = os.WriteFile(filepath.Join(k.cfg.layout.procs(), strconv.Itoa(pgid)), nil, 0644)
}

func (k *kubelet) forgetProc(pgid int) {
	_ = os.Remove(filepath.Join(k.cfg.layout.procs(), strconv.Itoa(pgid)))
}

// ensureTarget makes a mount point for target without changing the host's view of
// the file system: the nearest existing ancestor directory is shadowed, inside the
// container's mount namespace only, by a tmpfs into which each of its entries is
// bind-mounted back (symlinks recreated); the missing path is then created in that
// tmpfs. So /dev/termination-log and /var/run/secrets/kubernetes.io/serviceaccount
// appear only inside containers. An ancestor that resolves to / is not shadowed: the
// missing directories are created on the host (e.g. an emptyDir at /scratch).
func ensureTarget(target string, dir bool, staging string) error {
	if _, err := os.Lstat(target); err == nil {
		return nil
	}
	anc := filepath.Dir(target)
	for {
		if _, err := os.Lstat(anc); err == nil {
			break
		}
		anc = filepath.Dir(anc)
	}
	real, err := filepath.EvalSymlinks(anc)
	if err != nil {
		return err
	}
	if real != "/" {
		if err := shadowDir(real, staging); err != nil {
			return fmt.Errorf("shadow %s: %w", real, err)
		}
	}
	if dir {
		return os.MkdirAll(target, 0755)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0644)
	if err == nil {
		f.Close()
	}
	return err
}

func shadowDir(dir, staging string) error {
	if err := os.MkdirAll(staging, 0700); err != nil {
		return err
	}
	orig, err := os.MkdirTemp(staging, "orig")
	if err != nil {
		return err
	}
	if err := syscall.Mount(dir, orig, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return err
	}
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	opts := fmt.Sprintf("mode=%o", st.Mode().Perm())
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		return err
	}
	ents, err := os.ReadDir(orig)
	if err != nil {
		return err
	}
	for _, e := range ents {
		src, dst := filepath.Join(orig, e.Name()), filepath.Join(dir, e.Name())
		switch {
		case e.Type()&os.ModeSymlink != 0:
			l, err := os.Readlink(src)
			if err != nil {
				return err
			}
			if err := os.Symlink(l, dst); err != nil {
				return err
			}
			continue
		case e.IsDir():
			if err := os.Mkdir(dst, 0755); err != nil {
				return err
			}
		default:
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0644)
			if err != nil {
				return err
			}
			f.Close()
		}
		if err := syscall.Mount(src, dst, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", e.Name(), err)
		}
	}
	return nil
}

func initFail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "retl-cluster container-init: "+format+"\n", a...)
	os.Exit(128)
}

// containerInit is the helper side: it runs inside the container's namespaces.
func containerInit() {
	if len(os.Args) > 2 && os.Args[2] == "--probe" {
		if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
			initFail("make / private: %v", err)
		}
		os.Exit(0)
	}
	f := os.NewFile(3, "spec")
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		initFail("read spec: %v", err)
	}
	var s initSpec
	if err := json.Unmarshal(b, &s); err != nil {
		initFail("parse spec: %v", err)
	}
	if s.Staging == "" { // a spec from an older supervisor
		s.Staging = filepath.Join(os.TempDir(), "retl-cluster-shadow", strconv.Itoa(os.Getpid()))
	}
	// The binary is opened before the container's mounts go up: a volume (an
	// emptyDir on /tmp, say) may shadow the host directory it lives in, as when
	// the repository itself sits under /tmp. It is executed through its fd.
	exe := s.Path
	if s.NS {
		fd, err := syscall.Open(s.Path, syscall.O_RDONLY, 0)
		if err != nil {
			initFail("open %s: %v", s.Path, err)
		}
		exe = "/proc/self/fd/" + strconv.Itoa(fd)
	}
	if s.NS {
		if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
			initFail("make / private: %v", err)
		}
		if s.Hostname != "" {
			_ = syscall.Sethostname([]byte(s.Hostname))
		}
		for _, m := range s.Mounts {
			st, err := os.Stat(m.Source)
			if err != nil {
				initFail("mount source %s: %v", m.Source, err)
			}
			if err := ensureTarget(m.Target, st.IsDir(), s.Staging); err != nil {
				initFail("mount target %s: %v", m.Target, err)
			}
			if err := syscall.Mount(m.Source, m.Target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
				initFail("bind %s on %s: %v", m.Source, m.Target, err)
			}
			if m.ReadOnly {
				if err := syscall.Mount("", m.Target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_REC, ""); err != nil {
					initFail("remount %s read-only: %v", m.Target, err)
				}
			}
		}
	}
	if err := os.MkdirAll(s.Dir, 0755); err != nil {
		initFail("working directory %s: %v", s.Dir, err)
	}
	if s.UID != nil {
		groups := make([]int, 0, len(s.Groups))
		for _, g := range s.Groups {
			groups = append(groups, int(g))
		}
		if err := syscall.Setgroups(groups); err != nil {
			initFail("setgroups: %v", err)
		}
		if err := syscall.Setgid(int(*s.GID)); err != nil {
			initFail("setgid %d: %v", *s.GID, err)
		}
		if err := syscall.Setuid(int(*s.UID)); err != nil {
			initFail("setuid %d: %v", *s.UID, err)
		}
		// Changing credentials clears the parent-death signal; the container must
		// still die with the kubelet.
		_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0)
		// It also makes /proc/self root-owned; the new user must reach its fd.
		_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 1, 0)
	}
	if err := os.Chdir(s.Dir); err != nil {
		initFail("chdir %s: %v", s.Dir, err)
	}
	if err := syscall.Exec(exe, s.Argv, s.Env); err != nil {
		initFail("exec %s: %v", s.Path, err)
	}
}
