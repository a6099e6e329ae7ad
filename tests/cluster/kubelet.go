package main

// The local kubelet: registers one Node (127.0.0.1), renews its Lease, binds pending
// pods to it (it is the scheduler too, under the system:kube-scheduler identity), runs
// the pods bound to it as local processes (pod.go) and serves container logs to the
// apiserver over HTTPS (logs.go). It talks to the apiserver as system:node:<name>, so
// the Node authorizer and the NodeRestriction admission plugin apply as for a real one.

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

const kubeletVersion = "v1.32.13"

type kubeletConfig struct {
	layout     layout
	node       string
	binDir     string
	apiPort    int
	port       int
	kubeconfig string
	schedKC    string
	caFile     string
	certFile   string
	keyFile    string
	// schedulerOnly: bind pending pods to node, run nothing (another kubelet does).
	schedulerOnly bool
}

type kubelet struct {
	cfg   kubeletConfig
	cs    *kubernetes.Clientset
	sched *kubernetes.Clientset
	mu    sync.Mutex
	pods  map[types.UID]*podWorker
	// finished pods whose object may linger (finalizers): no second worker for them
	finished map[types.UID]bool
	wg       sync.WaitGroup
	ctx      context.Context
	// mountNS is false when private mount namespaces are unavailable (see container.go).
	mountNS bool
	hostEnv []string
}

func newKubelet(cfg kubeletConfig) (*kubelet, error) {
	rc, err := restConfig(cfg.kubeconfig)
	if err != nil {
		return nil, err
	}
	sc, err := restConfig(cfg.schedKC)
	if err != nil {
		return nil, err
	}
	return &kubelet{
		cfg:      cfg,
		cs:       kubernetes.NewForConfigOrDie(rc),
		sched:    kubernetes.NewForConfigOrDie(sc),
		pods:     map[types.UID]*podWorker{},
		finished: map[types.UID]bool{},
		mountNS:  probeMountNS(),
	}, nil
}

func memBytes() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 8 << 30
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fs := strings.Fields(s.Text())
		if len(fs) >= 2 && fs[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fs[1], 10, 64)
			return kb * 1024
		}
	}
	return 8 << 30
}

func (k *kubelet) nodeStatus(now metav1.Time) corev1.NodeStatus {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(memBytes(), resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(110, resource.DecimalSI),
		corev1.ResourceEphemeralStorage: resource.MustParse("50Gi"),
	}
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return corev1.NodeStatus{
		Capacity:    rl,
		Allocatable: rl.DeepCopy(),
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
			{Type: corev1.NodeHostName, Address: k.cfg.node},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(k.cfg.port)}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               "retl-local",
			KernelVersion:           kernelVersion(),
			OSImage:                 "retl local processes",
			ContainerRuntimeVersion: "retl-local://1.0",
			KubeletVersion:          kubeletVersion,
			KubeProxyVersion:        kubeletVersion,
			OperatingSystem:         runtime.GOOS,
			Architecture:            runtime.GOARCH,
		},
	}
}

func kernelVersion() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

// registerNode creates the Node (or takes over an existing one) and posts Ready.
func (k *kubelet) registerNode(ctx context.Context) error {
	now := metav1.Now()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: k.cfg.node,
			Labels: map[string]string{
				"kubernetes.io/hostname": k.cfg.node,
				"kubernetes.io/os":       runtime.GOOS,
				"kubernetes.io/arch":     runtime.GOARCH,
				"beta.kubernetes.io/os":  runtime.GOOS,
			},
		},
	}
	if _, err := k.cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node: %w", err)
	}
	return k.postNodeStatus(ctx, now)
}

func (k *kubelet) postNodeStatus(ctx context.Context, now metav1.Time) error {
	for i := 0; i < 5; i++ {
		n, err := k.cs.CoreV1().Nodes().Get(ctx, k.cfg.node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st := k.nodeStatus(now)
		for i := range st.Conditions {
			for _, old := range n.Status.Conditions {
				if old.Type == st.Conditions[i].Type && old.Status == st.Conditions[i].Status {
					st.Conditions[i].LastTransitionTime = old.LastTransitionTime
				}
			}
		}
		n.Status = st
		if _, err = k.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err == nil || !apierrors.IsConflict(err) {
			return err
		}
	}
	return fmt.Errorf("node status: too many conflicts")
}

func (k *kubelet) renewLease(ctx context.Context) error {
	leases := k.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, k.cfg.node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		n, err := k.cs.CoreV1().Nodes().Get(ctx, k.cfg.node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		l = &coordv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: k.cfg.node, Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID}}},
			Spec: coordv1.LeaseSpec{HolderIdentity: ptr.To(k.cfg.node), LeaseDurationSeconds: ptr.To(int32(40)), RenewTime: &now},
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.RenewTime = &now
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}

func (k *kubelet) start(ctx context.Context) error {
	k.ctx = ctx
	k.hostEnv = os.Environ()
	if k.cfg.schedulerOnly {
		k.startScheduler(ctx)
		return nil
	}
	if err := startLogServer(k); err != nil {
		return err
	}
	var err error
	for i := 0; i < 50; i++ {
		if err = k.registerNode(ctx); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			if err := k.renewLease(ctx); err != nil && ctx.Err() == nil {
				log.Printf("kubelet: lease: %v", err)
			}
			if err := k.postNodeStatus(ctx, metav1.Now()); err != nil && ctx.Err() == nil {
				log.Printf("kubelet: node status: %v", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()

	// Pods bound to this node.
	f := informers.NewSharedInformerFactoryWithOptions(k.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.cfg.node).String()
	}))
	pi := f.Core().V1().Pods().Informer()
	_, _ = pi.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { k.podUpdated(o.(*corev1.Pod)) },
		UpdateFunc: func(_, o any) { k.podUpdated(o.(*corev1.Pod)) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if p, ok := o.(*corev1.Pod); ok {
				k.podRemoved(p)
			}
		},
	})
	f.Start(ctx.Done())
	k.startScheduler(ctx)
	return nil
}

// startScheduler binds pods waiting for a node to this node: the scheduler's part.
func (k *kubelet) startScheduler(ctx context.Context) {
	sf := informers.NewSharedInformerFactoryWithOptions(k.sched, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.AndSelectors(
			fields.OneTermEqualSelector("spec.nodeName", ""),
			fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
			fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed)),
		).String()
	}))
	si := sf.Core().V1().Pods().Informer()
	_, _ = si.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { go k.schedule(o.(*corev1.Pod)) },
		UpdateFunc: func(_, o any) { go k.schedule(o.(*corev1.Pod)) },
	})
	sf.Start(ctx.Done())
}

func (k *kubelet) schedule(p *corev1.Pod) {
	if p.Spec.NodeName != "" || p.DeletionTimestamp != nil {
		return
	}
	if p.Spec.SchedulerName != "" && p.Spec.SchedulerName != corev1.DefaultSchedulerName {
		return
	}
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: k.cfg.node},
	}
	err := k.sched.CoreV1().Pods(p.Namespace).Bind(k.ctx, b, metav1.CreateOptions{})
	if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && k.ctx.Err() == nil {
		log.Printf("scheduler: bind %s/%s: %v", p.Namespace, p.Name, err)
		return
	}
	if err == nil {
		log.Printf("scheduler: bound %s/%s to %s", p.Namespace, p.Name, k.cfg.node)
		now := metav1.Now()
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{GenerateName: p.Name + ".", Namespace: p.Namespace},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
			Reason:         "Scheduled", Type: corev1.EventTypeNormal,
			Message:        fmt.Sprintf("Successfully assigned %s/%s to %s", p.Namespace, p.Name, k.cfg.node),
			Source:         corev1.EventSource{Component: corev1.DefaultSchedulerName},
			FirstTimestamp: now, LastTimestamp: now, Count: 1,
			ReportingController: corev1.DefaultSchedulerName, ReportingInstance: corev1.DefaultSchedulerName,
		}
		_, _ = k.sched.CoreV1().Events(p.Namespace).Create(k.ctx, ev, metav1.CreateOptions{})
	}
}

func (k *kubelet) podUpdated(p *corev1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	w, ok := k.pods[p.UID]
	if !ok {
		if k.ctx.Err() != nil || k.finished[p.UID] {
			return
		}
		w = newPodWorker(k, p)
		k.pods[p.UID] = w
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			w.run()
			k.mu.Lock()
			delete(k.pods, p.UID)
			k.finished[p.UID] = true
			k.mu.Unlock()
		}()
		return
	}
	w.update(p, false)
}

func (k *kubelet) podRemoved(p *corev1.Pod) {
	k.mu.Lock()
	w, ok := k.pods[p.UID]
	delete(k.finished, p.UID)
	k.mu.Unlock()
	if ok {
		w.update(p, true)
	}
}

func (k *kubelet) worker(ns, name string) *podWorker {
	k.mu.Lock()
	defer k.mu.Unlock()
	var best *podWorker
	for _, w := range k.pods {
		p := w.latest()
		if p.Namespace == ns && p.Name == name {
			if best == nil || p.CreationTimestamp.After(best.latest().CreationTimestamp.Time) {
				best = w
			}
		}
	}
	return best
}

// shutdown kills every pod process: SIGTERM, then SIGKILL after grace.
func (k *kubelet) shutdown(grace time.Duration) {
	k.mu.Lock()
	ws := make([]*podWorker, 0, len(k.pods))
	for _, w := range k.pods {
		ws = append(ws, w)
	}
	k.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func(w *podWorker) { defer wg.Done(); w.killAll(grace) }(w)
	}
	wg.Wait()
}
