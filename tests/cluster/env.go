package main

// Container environment as the kubelet builds it: service variables, envFrom (with
// prefix), env (value, secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef), then
// $(VAR) expansion. Errors carry the kubelet's wording, since tests and users read them
// from status.containerStatuses[].state.waiting.message.

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

// retryable marks an error that may clear by itself (authorizer not yet aware of the pod).
type retryable struct{ err error }

func (r *retryable) Error() string { return r.err.Error() }

var envNameRE = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)

func (w *podWorker) getSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	s, err := w.k.cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("secret %q not found", name)
	case apierrors.IsForbidden(err):
		return nil, &retryable{err}
	}
	return s, err
}

func (w *podWorker) getConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	c, err := w.k.cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("configmap %q not found", name)
	case apierrors.IsForbidden(err):
		return nil, &retryable{err}
	}
	return c, err
}

func isNotFoundMsg(err error) bool { return err != nil && strings.HasSuffix(err.Error(), "not found") }

func fieldValue(p *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return p.Name, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "metadata.uid":
		return string(p.UID), nil
	case "spec.nodeName":
		return p.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, nil
	case "status.podIP", "status.hostIP":
		return "127.0.0.1", nil
	case "status.podIPs", "status.hostIPs":
		return "127.0.0.1", nil
	}
	for _, m := range []struct {
		prefix string
		vals   map[string]string
	}{{"metadata.labels", p.Labels}, {"metadata.annotations", p.Annotations}} {
		if path == m.prefix {
			var b strings.Builder
			for k, v := range m.vals {
				fmt.Fprintf(&b, "%s=%q\n", k, v)
			}
			return b.String(), nil
		}
		if strings.HasPrefix(path, m.prefix+"['") && strings.HasSuffix(path, "']") {
			return m.vals[path[len(m.prefix)+2:len(path)-2]], nil
		}
	}
	return "", fmt.Errorf("unsupported fieldPath: %s", path)
}

func resourceValue(k *kubelet, c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	var q resource.Quantity
	name := ref.Resource
	list := c.Resources.Limits
	if strings.HasPrefix(name, "requests.") {
		list = c.Resources.Requests
	}
	rn := corev1.ResourceName(name[strings.Index(name, ".")+1:])
	if v, ok := list[rn]; ok {
		q = v
	} else {
		alloc := k.nodeStatus(metav1.Now()).Allocatable
		v, ok := alloc[rn]
		if !ok {
			return "", fmt.Errorf("unsupported container resource: %v", name)
		}
		q = v
	}
	div := resource.MustParse("1")
	if ref.Divisor.Sign() > 0 {
		div = ref.Divisor
	}
	if rn == corev1.ResourceCPU {
		return strconv.FormatInt((q.MilliValue()+div.MilliValue()-1)/div.MilliValue(), 10), nil
	}
	return strconv.FormatInt((q.Value()+div.Value()-1)/div.Value(), 10), nil
}

func (w *podWorker) podPath() string {
	path := w.k.cfg.binDir + ":" + os.Getenv("PATH")
	if os.Getenv("PATH") == "" {
		path = w.k.cfg.binDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	return path
}

// buildEnv resolves the environment of c; the result is KEY=VALUE strings.
func (w *podWorker) buildEnv(ctx context.Context, p *corev1.Pod, c *corev1.Container) ([]string, error) {
	port := strconv.Itoa(w.k.cfg.apiPort)
	home := "/root"
	if uid, _, _ := identity(p, c); uid != nil && *uid != 0 {
		home = "/tmp"
	}
	base := [][2]string{
		{"PATH", w.podPath()},
		{"HOSTNAME", p.Name},
		{"HOME", home},
		{"KUBERNETES_SERVICE_HOST", "127.0.0.1"},
		{"KUBERNETES_SERVICE_PORT", port},
		{"KUBERNETES_SERVICE_PORT_HTTPS", port},
		{"KUBERNETES_PORT", "tcp://127.0.0.1:" + port},
		{"KUBERNETES_PORT_" + port + "_TCP", "tcp://127.0.0.1:" + port},
		{"KUBERNETES_PORT_" + port + "_TCP_PROTO", "tcp"},
		{"KUBERNETES_PORT_" + port + "_TCP_PORT", port},
		{"KUBERNETES_PORT_" + port + "_TCP_ADDR", "127.0.0.1"},
	}
	if !w.k.mountNS {
		// Without private mounts the termination message file cannot sit at its path.
		for _, ct := range w.ctrs {
			if ct.spec.Name == c.Name {
				base = append(base, [2]string{"RETL_TERMINATION_MESSAGE_PATH", ct.termPath})
			}
		}
	}
	order := []string{}
	vals := map[string]string{}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, kv := range base {
		set(kv[0], kv[1])
	}
	svc := map[string]string{}
	for k, v := range vals {
		svc[k] = v
	}

	for _, ef := range c.EnvFrom {
		switch {
		case ef.SecretRef != nil:
			s, err := w.getSecret(ctx, p.Namespace, ef.SecretRef.Name)
			if err != nil {
				if isNotFoundMsg(err) && isTrue(ef.SecretRef.Optional) {
					continue
				}
				return nil, err
			}
			for k, v := range s.Data {
				if envNameRE.MatchString(ef.Prefix + k) {
					set(ef.Prefix+k, string(v))
				}
			}
		case ef.ConfigMapRef != nil:
			cm, err := w.getConfigMap(ctx, p.Namespace, ef.ConfigMapRef.Name)
			if err != nil {
				if isNotFoundMsg(err) && isTrue(ef.ConfigMapRef.Optional) {
					continue
				}
				return nil, err
			}
			for k, v := range cm.Data {
				if envNameRE.MatchString(ef.Prefix + k) {
					set(ef.Prefix+k, v)
				}
			}
		}
	}

	tmp := map[string]string{}
	for _, e := range c.Env {
		var v string
		switch {
		case e.ValueFrom == nil:
			v = expansion.Expand(e.Value, expansion.MappingFuncFor(tmp, svc))
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s, err := w.getSecret(ctx, p.Namespace, ref.Name)
			if err != nil {
				if isNotFoundMsg(err) && isTrue(ref.Optional) {
					continue
				}
				return nil, err
			}
			b, ok := s.Data[ref.Key]
			if !ok {
				if isTrue(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %v in Secret %v/%v", ref.Key, p.Namespace, ref.Name)
			}
			v = string(b)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, err := w.getConfigMap(ctx, p.Namespace, ref.Name)
			if err != nil {
				if isNotFoundMsg(err) && isTrue(ref.Optional) {
					continue
				}
				return nil, err
			}
			s, ok := cm.Data[ref.Key]
			if !ok {
				if isTrue(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %v in ConfigMap %v/%v", ref.Key, p.Namespace, ref.Name)
			}
			v = s
		case e.ValueFrom.FieldRef != nil:
			s, err := fieldValue(p, e.ValueFrom.FieldRef.FieldPath)
			if err != nil {
				return nil, err
			}
			v = s
		case e.ValueFrom.ResourceFieldRef != nil:
			s, err := resourceValue(w.k, c, e.ValueFrom.ResourceFieldRef)
			if err != nil {
				return nil, err
			}
			v = s
		}
		tmp[e.Name] = v
		set(e.Name, v)
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, nil
}

func isTrue(b *bool) bool { return b != nil && *b }

// expandArgs applies $(VAR) expansion to command and args with the container's env.
func expandArgs(in []string, env []string) []string {
	m := map[string]string{}
	for _, kv := range env {
		if i := strings.IndexByte(kv, '='); i > 0 {
			m[kv[:i]] = kv[i+1:]
		}
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expansion.Expand(s, expansion.MappingFuncFor(m))
	}
	return out
}
