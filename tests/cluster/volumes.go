package main

// Pod volumes materialised as directories under build/cluster/pods/<uid>/volumes/<name>
// and bind-mounted into each container's private mount namespace: emptyDir, secret,
// configMap, downwardAPI, hostPath and projected (serviceAccountToken via the
// TokenRequest API bound to the pod, configMap, secret, downwardAPI) — the last is the
// kube-api-access volume the ServiceAccount admission plugin adds to every pod.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func (w *podWorker) volumeDir(name string) string { return filepath.Join(w.dir, "volumes", name) }

func (w *podWorker) volumeSource(p *corev1.Pod, name string) (string, bool) {
	for _, v := range p.Spec.Volumes {
		if v.Name == name {
			if v.HostPath != nil {
				return v.HostPath.Path, true
			}
			return w.volumeDir(name), true
		}
	}
	return "", false
}

func writeFile(dir, rel string, data []byte, mode *int32, def *int32) error {
	m := os.FileMode(0644)
	if def != nil {
		m = os.FileMode(*def)
	}
	if mode != nil {
		m = os.FileMode(*mode)
	}
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0755); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, m); err != nil {
		return err
	}
	_ = os.Chmod(tmp, m)
	return os.Rename(tmp, p)
}

func writeItems(dir string, data map[string][]byte, items []corev1.KeyToPath, def *int32, kind, ns, name string, optional bool) error {
	if len(items) == 0 {
		for k, v := range data {
			if err := writeFile(dir, k, v, nil, def); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("configmap references non-existent config key: %s", it.Key)
		}
		if err := writeFile(dir, it.Path, v, it.Mode, def); err != nil {
			return err
		}
	}
	return nil
}

func cmData(cm *corev1.ConfigMap) map[string][]byte {
	m := map[string][]byte{}
	for k, v := range cm.Data {
		m[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		m[k] = v
	}
	return m
}

func (w *podWorker) downward(dir string, items []corev1.DownwardAPIVolumeFile, def *int32) error {
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = fieldValue(w.pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			c := &corev1.Container{}
			for i := range w.pod.Spec.Containers {
				if w.pod.Spec.Containers[i].Name == it.ResourceFieldRef.ContainerName {
					c = &w.pod.Spec.Containers[i]
				}
			}
			v, err = resourceValue(w.k, c, it.ResourceFieldRef)
		}
		if err != nil {
			return err
		}
		if err := writeFile(dir, it.Path, []byte(v), it.Mode, def); err != nil {
			return err
		}
	}
	return nil
}

func (w *podWorker) token(ctx context.Context, p *corev1.Pod, src *corev1.ServiceAccountTokenProjection) ([]byte, error) {
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{
		ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID},
	}}
	if src.Audience != "" {
		tr.Spec.Audiences = []string{src.Audience}
	}
	if tr.Spec.ExpirationSeconds == nil {
		tr.Spec.ExpirationSeconds = ptr.To(int64(3607))
	}
	out, err := w.k.cs.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to fetch token: %w", err)
	}
	return []byte(out.Status.Token), nil
}

// prepareVolumes (re)writes every volume of the pod; an error reads like the kubelet's
// FailedMount event.
func (w *podWorker) prepareVolumes(ctx context.Context, p *corev1.Pod) error {
	for _, v := range p.Spec.Volumes {
		dir := w.volumeDir(v.Name)
		if err := os.MkdirAll(dir, 0777); err != nil {
			return err
		}
		fail := func(err error) error {
			return fmt.Errorf("MountVolume.SetUp failed for volume %q : %v", v.Name, err)
		}
		switch {
		case v.EmptyDir != nil:
			_ = os.Chmod(dir, 0777)
		case v.HostPath != nil:
		case v.Secret != nil:
			s, err := w.getSecret(ctx, p.Namespace, v.Secret.SecretName)
			if err != nil {
				if isNotFoundMsg(err) && isTrue(v.Secret.Optional) {
					continue
				}
				return fail(err)
			}
			if err := writeItems(dir, s.Data, v.Secret.Items, v.Secret.DefaultMode, "secret", p.Namespace, s.Name, isTrue(v.Secret.Optional)); err != nil {
				return fail(err)
			}
		case v.ConfigMap != nil:
			cm, err := w.getConfigMap(ctx, p.Namespace, v.ConfigMap.Name)
			if err != nil {
				if isNotFoundMsg(err) && isTrue(v.ConfigMap.Optional) {
					continue
				}
				return fail(err)
			}
			if err := writeItems(dir, cmData(cm), v.ConfigMap.Items, v.ConfigMap.DefaultMode, "configmap", p.Namespace, cm.Name, isTrue(v.ConfigMap.Optional)); err != nil {
				return fail(err)
			}
		case v.DownwardAPI != nil:
			if err := w.downward(dir, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode); err != nil {
				return fail(err)
			}
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				var err error
				switch {
				case src.ServiceAccountToken != nil:
					var tok []byte
					if tok, err = w.token(ctx, p, src.ServiceAccountToken); err == nil {
						err = writeFile(dir, src.ServiceAccountToken.Path, tok, nil, v.Projected.DefaultMode)
					}
				case src.ConfigMap != nil:
					var cm *corev1.ConfigMap
					if cm, err = w.getConfigMap(ctx, p.Namespace, src.ConfigMap.Name); err == nil {
						err = writeItems(dir, cmData(cm), src.ConfigMap.Items, v.Projected.DefaultMode, "configmap", p.Namespace, cm.Name, isTrue(src.ConfigMap.Optional))
					} else if isNotFoundMsg(err) && isTrue(src.ConfigMap.Optional) {
						err = nil
					}
				case src.Secret != nil:
					var s *corev1.Secret
					if s, err = w.getSecret(ctx, p.Namespace, src.Secret.Name); err == nil {
						err = writeItems(dir, s.Data, src.Secret.Items, v.Projected.DefaultMode, "secret", p.Namespace, s.Name, isTrue(src.Secret.Optional))
					} else if isNotFoundMsg(err) && isTrue(src.Secret.Optional) {
						err = nil
					}
				case src.DownwardAPI != nil:
					err = w.downward(dir, src.DownwardAPI.Items, v.Projected.DefaultMode)
				}
				if err != nil {
					return fail(err)
				}
			}
		default:
			return fail(fmt.Errorf("volume type not supported by the retl local kubelet"))
		}
		if sc := p.Spec.SecurityContext; sc != nil && sc.FSGroup != nil && v.HostPath == nil {
			applyFSGroup(dir, int(*sc.FSGroup), v.EmptyDir != nil)
		}
	}
	return nil
}

// applyFSGroup gives the pod's fsGroup group ownership and read (emptyDir: write) access.
func applyFSGroup(dir string, gid int, writable bool) {
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		_ = os.Lchown(path, -1, gid)
		mode := info.Mode().Perm() | 0040
		if info.IsDir() {
			mode |= 0010 | os.ModeSetgid
		}
		if writable {
			mode |= 0020
		}
		_ = os.Chmod(path, mode)
		return nil
	})
}
