package main

// One worker goroutine per pod bound to the node: prepares volumes, resolves env,
// starts the containers as local processes, restarts them per restartPolicy, enforces
// activeDeadlineSeconds, handles graceful deletion, and reports pod status like a
// kubelet does (phase, conditions, container states, exit codes, termination messages).

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const (
	maxTerminationMessage = 4096
	fallbackLogBytes      = 2048
	fallbackLogLines      = 80
	backoffBase           = 2 * time.Second
	backoffMax            = 60 * time.Second
)

type ctr struct {
	spec     corev1.Container
	init     bool
	logPath  string
	termPath string
	workDir  string

	cmd       *exec.Cmd
	pgid      int
	running   bool
	started   bool // ever started
	startedAt time.Time
	logOffset int64 // where this run's output starts in the log file
	prevStart int64 // where the previous run's output started
	// set by the waiter goroutine when the process exits
	exited     bool
	exitCode   int32
	finishedAt time.Time
	message    string
	startErr   bool

	restarts     int32
	nextStart    time.Time
	backoff      time.Duration
	lastTerm     *corev1.ContainerStateTerminated
	waitReason   string
	waitMessage  string
	ready        bool
	readyFails   int
	readyOK      int
	liveFails    int
	lastProbe    time.Time
	lastLiveness time.Time
}

type podWorker struct {
	k       *kubelet
	mu      sync.Mutex
	pod     *corev1.Pod
	deleted bool
	wake    chan struct{}
	dir     string
	born    time.Time

	ctrs          []*ctr
	volumesReady  bool
	volumeErr     string
	lastVolumeTry time.Time
	tokenRefresh  time.Time
	startTime     *metav1.Time
	phase         corev1.PodPhase
	reason        string
	message       string
	terminating   bool
	termDeadline  time.Time
	condTimes     map[corev1.PodConditionType]metav1.Time
	condStatus    map[corev1.PodConditionType]corev1.ConditionStatus
	lastPushed    *corev1.PodStatus
	events        map[string]bool
}

func newPodWorker(k *kubelet, p *corev1.Pod) *podWorker {
	w := &podWorker{
		k: k, pod: p.DeepCopy(), wake: make(chan struct{}, 1), born: time.Now(),
		dir:        filepath.Join(k.cfg.layout.pods(), string(p.UID)),
		phase:      corev1.PodPending,
		condTimes:  map[corev1.PodConditionType]metav1.Time{},
		condStatus: map[corev1.PodConditionType]corev1.ConditionStatus{},
		events:     map[string]bool{},
	}
	add := func(c corev1.Container, init bool) {
		cd := filepath.Join(w.dir, "containers", c.Name)
		w.ctrs = append(w.ctrs, &ctr{
			spec: c, init: init,
			logPath:  filepath.Join(k.cfg.layout.logs(), fmt.Sprintf("%s_%s_%s.log", p.Namespace, p.Name, c.Name)),
			termPath: filepath.Join(cd, "termination-log"),
			workDir:  filepath.Join(cd, "rootfs-workdir"),
		})
	}
	for _, c := range p.Spec.InitContainers {
		add(c, true)
	}
	for _, c := range p.Spec.Containers {
		add(c, false)
	}
	return w
}

func (w *podWorker) latest() *corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod
}

func (w *podWorker) update(p *corev1.Pod, deleted bool) {
	w.mu.Lock()
	w.pod = p.DeepCopy()
	if deleted {
		w.deleted = true
	}
	w.mu.Unlock()
	w.poke()
}

func (w *podWorker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *podWorker) key() string { return w.pod.Namespace + "/" + w.pod.Name }

func (w *podWorker) run() {
	log.Printf("kubelet: pod %s (%s) admitted", w.key(), w.pod.UID)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for w.step() {
		select {
		case <-w.k.ctx.Done():
			return
		case <-w.wake:
		case <-t.C:
		}
	}
	log.Printf("kubelet: pod %s (%s) worker done", w.key(), w.pod.UID)
}

// step runs one sync of the pod; false means the worker is finished.
func (w *podWorker) step() bool {
	w.mu.Lock()
	p, deleted := w.pod, w.deleted
	w.mu.Unlock()
	ctx := w.k.ctx
	now := time.Now()

	if deleted {
		w.killAll(2 * time.Second)
		return false
	}
	if p.DeletionTimestamp != nil {
		return w.terminate(ctx, p, now)
	}
	if w.phase == corev1.PodSucceeded || w.phase == corev1.PodFailed {
		// Until the final status is written (the apiserver may be away), as the
		// real kubelet's status manager retries it; a no-op once it is.
		w.push(ctx, p)
		return true
	}
	if w.startTime == nil {
		st := metav1.NewTime(now)
		w.startTime = &st
	}
	if ads := p.Spec.ActiveDeadlineSeconds; ads != nil && now.Sub(w.startTime.Time) >= time.Duration(*ads)*time.Second {
		w.event(p, corev1.EventTypeNormal, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline", "")
		w.killAll(gracePeriod(p))
		w.phase, w.reason = corev1.PodFailed, "DeadlineExceeded"
		w.message = "Pod was active on the node longer than the specified deadline"
		w.push(ctx, p)
		return true
	}
	if !w.volumesReady {
		if now.Sub(w.lastVolumeTry) >= 500*time.Millisecond {
			w.lastVolumeTry = now
			if err := w.prepareVolumes(ctx, p); err != nil {
				w.volumeErr = err.Error()
				w.event(p, corev1.EventTypeWarning, "FailedMount", err.Error(), err.Error())
			} else {
				w.volumesReady, w.volumeErr = true, ""
				w.tokenRefresh = now
			}
		}
		if !w.volumesReady {
			w.push(ctx, p)
			return true
		}
	}
	if now.Sub(w.tokenRefresh) > 10*time.Minute {
		w.tokenRefresh = now
		if err := w.prepareVolumes(ctx, p); err != nil {
			log.Printf("kubelet: %s: refresh volumes: %v", w.key(), err)
		}
	}

	policy := p.Spec.RestartPolicy
	// Init containers, in order, each to success.
	for _, c := range w.ctrs {
		if !c.init {
			continue
		}
		w.collect(c)
		if c.exited && c.exitCode == 0 && !c.running {
			continue
		}
		if c.running {
			w.push(ctx, p)
			return true
		}
		if c.exited && policy == corev1.RestartPolicyNever {
			w.phase, w.reason, w.message = corev1.PodFailed, "", ""
			w.push(ctx, p)
			return true
		}
		w.maybeStart(ctx, p, c, now)
		w.push(ctx, p)
		return true
	}

	for _, c := range w.ctrs {
		if c.init {
			continue
		}
		w.collect(c)
		if c.running {
			w.probe(p, c, now)
			continue
		}
		if !c.started || (c.exited && restarts(policy, c.exitCode)) {
			w.maybeStart(ctx, p, c, now)
		}
	}
	w.phase = w.computePhase(policy)
	w.push(ctx, p)
	return true
}

func restarts(policy corev1.RestartPolicy, code int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	}
	return true
}

func gracePeriod(p *corev1.Pod) time.Duration {
	if p.DeletionGracePeriodSeconds != nil {
		return time.Duration(*p.DeletionGracePeriodSeconds) * time.Second
	}
	if p.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*p.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

func (w *podWorker) computePhase(policy corev1.RestartPolicy) corev1.PodPhase {
	anyRunning, allDone, anyFailed, allStarted := false, true, false, true
	for _, c := range w.ctrs {
		if c.init {
			continue
		}
		if !c.started {
			allStarted = false
			allDone = false
			continue
		}
		if c.running {
			anyRunning = true
		}
		if c.running || restarts(policy, c.exitCode) {
			allDone = false
		}
		if c.exited && c.exitCode != 0 {
			anyFailed = true
		}
	}
	switch {
	case allDone && anyFailed:
		return corev1.PodFailed
	case allDone:
		return corev1.PodSucceeded
	case anyRunning || allStarted:
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// maybeStart starts c unless it is backing off or its configuration does not resolve.
func (w *podWorker) maybeStart(ctx context.Context, p *corev1.Pod, c *ctr, now time.Time) {
	if now.Before(c.nextStart) {
		c.waitReason = "CrashLoopBackOff"
		c.waitMessage = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", c.backoff, c.spec.Name, p.Name, p.Namespace, p.UID)
		return
	}
	env, err := w.buildEnv(ctx, p, &c.spec)
	if err != nil {
		var retry *retryable
		if errors.As(err, &retry) && time.Since(w.born) < 15*time.Second {
			c.waitReason, c.waitMessage = "ContainerCreating", ""
			return
		}
		c.waitReason, c.waitMessage = "CreateContainerConfigError", err.Error()
		w.event(p, corev1.EventTypeWarning, "Failed", "Error: "+err.Error(), "cfg/"+c.spec.Name+err.Error())
		return
	}
	if c.exited {
		c.lastTerm = w.terminatedState(c)
		c.restarts++
	}
	if err := w.startContainer(p, c, env); err != nil {
		// Like a runtime that cannot exec the entrypoint: the container terminates at once.
		msg := err.Error()
		c.started, c.exited, c.running = true, true, false
		c.exitCode, c.message = 128, msg
		c.startedAt, c.finishedAt, c.startErr = now, now, true
		w.event(p, corev1.EventTypeWarning, "Failed", "Error: "+msg, "start/"+c.spec.Name+msg)
		w.afterExit(p, c)
		return
	}
	c.waitReason, c.waitMessage = "", ""
	w.event(p, corev1.EventTypeNormal, "Started", "Started container "+c.spec.Name, "")
}

// afterExit schedules the restart back-off after a container terminated.
func (w *podWorker) afterExit(p *corev1.Pod, c *ctr) {
	if !restarts(p.Spec.RestartPolicy, c.exitCode) {
		return
	}
	if c.backoff == 0 || c.finishedAt.Sub(c.startedAt) > 10*time.Minute {
		c.backoff = backoffBase
	} else {
		c.backoff = min(c.backoff*2, backoffMax)
	}
	c.nextStart = time.Now().Add(c.backoff)
}

// collect turns an exit noticed by the waiter goroutine into container state.
func (w *podWorker) collect(c *ctr) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.running && c.exited {
		c.running = false
		c.ready = false
		w.k.forgetProc(c.pgid)
		w.afterExit(w.pod, c)
	}
}

func (w *podWorker) startContainer(p *corev1.Pod, c *ctr, env []string) error {
	if err := os.MkdirAll(filepath.Dir(c.termPath), 0755); err != nil {
		return err
	}
	if err := os.MkdirAll(c.workDir, 0755); err != nil {
		return err
	}
	if err := os.WriteFile(c.termPath, nil, 0666); err != nil {
		return err
	}
	_ = os.Chmod(c.termPath, 0666)
	lf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0644)
	if err != nil {
		return err
	}
	defer lf.Close()
	off, _ := lf.Seek(0, 2)
	cmd, err := w.k.launch(w, p, c, env, lf)
	if err != nil {
		return err
	}
	c.cmd, c.pgid = cmd, cmd.Process.Pid
	c.started, c.running, c.exited, c.ready = true, true, false, false
	c.prevStart = c.logOffset
	c.startedAt, c.logOffset = time.Now(), off
	c.readyFails, c.readyOK, c.liveFails = 0, 0, 0
	c.message, c.exitCode, c.startErr = "", 0, false
	go func() {
		_ = cmd.Wait()
		code := int32(cmd.ProcessState.ExitCode())
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int32(ws.Signal())
		}
		msg := readTerminationMessage(c, code)
		w.mu.Lock()
		c.exited, c.exitCode, c.finishedAt, c.message = true, code, time.Now(), msg
		w.mu.Unlock()
		log.Printf("kubelet: %s container %s exited %d", w.key(), c.spec.Name, code)
		w.poke()
	}()
	return nil
}

func readTerminationMessage(c *ctr, code int32) string {
	f, err := os.Open(c.termPath)
	if err == nil {
		buf := make([]byte, maxTerminationMessage)
		n, _ := f.Read(buf)
		f.Close()
		if n > 0 {
			return string(buf[:n])
		}
	}
	if c.spec.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError && code != 0 {
		return logTail(c.logPath, c.logOffset, fallbackLogLines, fallbackLogBytes)
	}
	return ""
}

func (w *podWorker) terminatedState(c *ctr) *corev1.ContainerStateTerminated {
	reason := "Completed"
	if c.exitCode != 0 {
		reason = "Error"
	}
	if c.startErr {
		reason = "StartError"
	}
	return &corev1.ContainerStateTerminated{
		ExitCode:    c.exitCode,
		Reason:      reason,
		Message:     c.message,
		StartedAt:   metav1.NewTime(c.startedAt),
		FinishedAt:  metav1.NewTime(c.finishedAt),
		ContainerID: containerID(w.pod, c),
	}
}

func containerID(p *corev1.Pod, c *ctr) string {
	return fmt.Sprintf("retl-local://%s-%s-%d", p.UID, c.spec.Name, c.restarts)
}

// signalAll sends sig to every running container's process group.
func (w *podWorker) signalAll(sig syscall.Signal) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.ctrs {
		if c.running && !c.exited {
			_ = syscall.Kill(-c.pgid, sig)
			n++
		}
	}
	return n
}

func (w *podWorker) anyAlive() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.ctrs {
		if c.running && !c.exited {
			return true
		}
	}
	return false
}

// killAll stops every container: SIGTERM, SIGKILL after grace, and waits for the exits.
func (w *podWorker) killAll(grace time.Duration) {
	if w.signalAll(syscall.SIGTERM) > 0 {
		w.event(w.latest(), corev1.EventTypeNormal, "Killing", "Stopping container(s)", "")
		deadline := time.Now().Add(grace)
		for w.anyAlive() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if w.signalAll(syscall.SIGKILL) > 0 {
			for i := 0; i < 100 && w.anyAlive(); i++ {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	for _, c := range w.ctrs {
		w.collect(c)
	}
}

// terminate handles a pod with a deletion timestamp: graceful stop, final status,
// then removal of the object with grace 0, as the kubelet does.
func (w *podWorker) terminate(ctx context.Context, p *corev1.Pod, now time.Time) bool {
	if !w.terminating {
		w.terminating = true
		w.termDeadline = now.Add(gracePeriod(p))
		if w.signalAll(syscall.SIGTERM) > 0 {
			w.event(p, corev1.EventTypeNormal, "Killing", "Stopping container(s)", "")
		}
	}
	if w.anyAlive() && now.Before(w.termDeadline) {
		return true
	}
	w.killAll(0)
	if w.phase != corev1.PodSucceeded && w.phase != corev1.PodFailed && w.startTime != nil {
		anyFailed, anyStarted := false, false
		for _, c := range w.ctrs {
			if c.started {
				anyStarted = true
			}
			if c.exited && c.exitCode != 0 {
				anyFailed = true
			}
		}
		if anyStarted {
			w.phase = corev1.PodSucceeded
			if anyFailed {
				w.phase = corev1.PodFailed
			}
		}
	}
	w.push(ctx, p)
	err := w.k.cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &p.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		log.Printf("kubelet: delete %s: %v", w.key(), err)
		return ctx.Err() == nil
	}
	log.Printf("kubelet: pod %s removed", w.key())
	return false
}

func (w *podWorker) ctrStatus(p *corev1.Pod, c *ctr) corev1.ContainerStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := corev1.ContainerStatus{
		Name:         c.spec.Name,
		Image:        c.spec.Image,
		ImageID:      "retl-local://" + c.spec.Image,
		RestartCount: c.restarts,
		Ready:        c.running && c.ready,
		Started:      ptr.To(c.running),
	}
	if c.lastTerm != nil {
		st.LastTerminationState.Terminated = c.lastTerm
	}
	switch {
	case c.running:
		st.ContainerID = containerID(p, c)
		st.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.startedAt)}
	case c.exited && (c.waitReason == "" || !restarts(p.Spec.RestartPolicy, c.exitCode) || w.phase == corev1.PodFailed || w.phase == corev1.PodSucceeded || w.terminating):
		st.ContainerID = containerID(p, c)
		st.State.Terminated = w.terminatedState(c)
	case c.exited:
		st.LastTerminationState.Terminated = w.terminatedState(c)
		st.State.Waiting = &corev1.ContainerStateWaiting{Reason: c.waitReason, Message: c.waitMessage}
	default:
		reason := c.waitReason
		if reason == "" {
			reason = "ContainerCreating"
			if !c.init && w.initPending() {
				reason = "PodInitializing"
			}
		}
		st.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: c.waitMessage}
	}
	return st
}

func (w *podWorker) initPending() bool {
	for _, c := range w.ctrs {
		if c.init && !(c.exited && c.exitCode == 0 && !c.running) {
			return true
		}
	}
	return false
}

func (w *podWorker) cond(t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
	s := corev1.ConditionFalse
	if ok {
		s = corev1.ConditionTrue
	}
	if old, seen := w.condStatus[t]; !seen || old != s {
		w.condStatus[t] = s
		w.condTimes[t] = metav1.Now()
	}
	c := corev1.PodCondition{Type: t, Status: s, LastTransitionTime: w.condTimes[t]}
	if !ok {
		c.Reason = reason
	}
	return c
}

func (w *podWorker) buildStatus(p *corev1.Pod) corev1.PodStatus {
	st := corev1.PodStatus{
		Phase:     w.phase,
		Reason:    w.reason,
		Message:   w.message,
		HostIP:    "127.0.0.1",
		HostIPs:   []corev1.HostIP{{IP: "127.0.0.1"}},
		StartTime: w.startTime,
		QOSClass:  p.Status.QOSClass,
	}
	if w.volumesReady {
		st.PodIP, st.PodIPs = "127.0.0.1", []corev1.PodIP{{IP: "127.0.0.1"}}
	}
	allReady, notReady := true, []string{}
	for _, c := range w.ctrs {
		cs := w.ctrStatus(p, c)
		if c.init {
			st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
			continue
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		if !cs.Ready {
			allReady = false
			notReady = append(notReady, c.spec.Name)
		}
	}
	terminal := w.phase == corev1.PodSucceeded || w.phase == corev1.PodFailed
	readyReason := "ContainersNotReady"
	if terminal {
		readyReason = "PodCompleted"
	}
	ready := allReady && !terminal && !w.terminating
	rc := w.cond(corev1.PodReady, ready, readyReason)
	cc := w.cond(corev1.ContainersReady, ready, readyReason)
	if !ready && !terminal {
		rc.Message = fmt.Sprintf("containers with unready status: %v", notReady)
		cc.Message = rc.Message
	}
	ic := w.cond(corev1.PodInitialized, !w.initPending(), "ContainersNotInitialized")
	sc := w.cond(corev1.PodReadyToStartContainers, w.volumesReady && !(terminal && !w.anyAlive() && w.terminating), "")
	st.Conditions = []corev1.PodCondition{sc, ic, rc, cc}
	return st
}

// push writes the pod status when it changed, keeping conditions others own.
func (w *podWorker) push(ctx context.Context, p *corev1.Pod) {
	st := w.buildStatus(p)
	if w.lastPushed != nil && equality.Semantic.DeepEqual(*w.lastPushed, st) {
		return
	}
	pods := w.k.cs.CoreV1().Pods(p.Namespace)
	for i := 0; i < 5 && ctx.Err() == nil; i++ {
		cur, err := pods.Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil || cur.UID != p.UID {
			return
		}
		next := st.DeepCopy()
		for _, c := range cur.Status.Conditions {
			switch c.Type {
			case corev1.PodReady, corev1.ContainersReady, corev1.PodInitialized, corev1.PodReadyToStartContainers:
			default:
				next.Conditions = append(next.Conditions, c)
			}
		}
		if next.QOSClass == "" {
			next.QOSClass = cur.Status.QOSClass
		}
		cur.Status = *next
		_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if err == nil {
			w.lastPushed = &st
			return
		}
		if !apierrors.IsConflict(err) {
			log.Printf("kubelet: status of %s: %v", w.key(), err)
			return
		}
	}
}

// event records a pod event once per dedup key ("" means always).
func (w *podWorker) event(p *corev1.Pod, typ, reason, msg, dedup string) {
	if dedup != "" {
		if w.events[dedup] {
			return
		}
		w.events[dedup] = true
	}
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: p.Name + ".", Namespace: p.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		Reason:         reason, Message: msg, Type: typ,
		Source:         corev1.EventSource{Component: "kubelet", Host: w.k.cfg.node},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "kubelet", ReportingInstance: w.k.cfg.node,
	}
	go func() {
		if _, err := w.k.cs.CoreV1().Events(p.Namespace).Create(context.Background(), ev, metav1.CreateOptions{}); err != nil && w.k.ctx.Err() == nil {
			log.Printf("kubelet: event %s %s: %v", w.key(), reason, err)
		}
	}()
}

func itoa(i int) string { return strconv.Itoa(i) }
