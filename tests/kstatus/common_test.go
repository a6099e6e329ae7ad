// Package kstatus holds the monitoring contract tests of retl: the ReverseEtlJob
// status the controller writes is kstatus-compliant, and the shipped monitoring
// files (kube-state-metrics config, PrometheusRule) agree with the CRD and with
// the controller's metrics.
package kstatus

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// root is the repository root: $RETL_ROOT, else two levels up from this package.
func root(t *testing.T) string {
	t.Helper()
	if r := os.Getenv("RETL_ROOT"); r != "" {
		return r
	}
	r, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const fixtureDir = "manifests/monitoring/argocd/retl.io/ReverseEtlJob/testdata"

func loadYAML(t *testing.T, path string) map[string]interface{} {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var m map[string]interface{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return m
}

// fixtures returns every status fixture, by file name.
func fixtures(t *testing.T) map[string]map[string]interface{} {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root(t), fixtureDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s (%v)", fixtureDir, err)
	}
	out := map[string]map[string]interface{}{}
	for _, f := range files {
		out[filepath.Base(f)] = loadYAML(t, f)
	}
	return out
}

// fixtureObjects returns the fixtures as the API machinery decodes them
// (integers as int64), which kstatus requires.
func fixtureObjects(t *testing.T) map[string]*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root(t), fixtureDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s (%v)", fixtureDir, err)
	}
	out := map[string]*unstructured.Unstructured{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		j, err := yaml.YAMLToJSON(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = u
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// crdSchema returns the openAPIV3Schema of the served ReverseEtlJob version.
// The CRD is written by another part of the project; it is read at run time.
func crdSchema(t *testing.T) map[string]interface{} {
	t.Helper()
	crd := loadYAML(t, filepath.Join(root(t), "crds/retl.io_reverseetljobs.yaml"))
	spec, _ := crd["spec"].(map[string]interface{})
	if spec["group"] != "retl.io" {
		t.Fatalf("CRD group is %v, want retl.io", spec["group"])
	}
	names, _ := spec["names"].(map[string]interface{})
	if names["kind"] != "ReverseEtlJob" {
		t.Fatalf("CRD kind is %v", names["kind"])
	}
	versions, _ := spec["versions"].([]interface{})
	for _, v := range versions {
		vm, _ := v.(map[string]interface{})
		if vm["name"] == "v1alpha1" {
			s, _ := vm["schema"].(map[string]interface{})
			o, _ := s["openAPIV3Schema"].(map[string]interface{})
			if o == nil {
				t.Fatal("CRD v1alpha1 has no openAPIV3Schema")
			}
			return o
		}
	}
	t.Fatal("CRD has no version v1alpha1")
	return nil
}

// ObjectMeta fields the schema leaves implicit (metadata is "type: object").
var objectMeta = map[string]map[string]interface{}{
	"name":              {"type": "string"},
	"namespace":         {"type": "string"},
	"uid":               {"type": "string"},
	"resourceVersion":   {"type": "string"},
	"generation":        {"type": "integer", "format": "int64"},
	"creationTimestamp": {"type": "string", "format": "date-time"},
	"deletionTimestamp": {"type": "string", "format": "date-time"},
	"labels":            {"type": "object", "additionalProperties": map[string]interface{}{"type": "string"}},
	"annotations":       {"type": "object", "additionalProperties": map[string]interface{}{"type": "string"}},
	"finalizers":        {"type": "array", "items": map[string]interface{}{"type": "string"}},
}

// schemaAt walks path (KSM path syntax: field names; array items are stepped
// into implicitly) from the root schema. It returns the schema there, or an
// error naming the first segment the CRD does not define.
func schemaAt(s map[string]interface{}, path []string) (map[string]interface{}, error) {
	cur := s
	for i, p := range path {
		for cur["type"] == "array" {
			items, _ := cur["items"].(map[string]interface{})
			if items == nil {
				return nil, fmt.Errorf("%s: array without items", strings.Join(path[:i], "."))
			}
			cur = items
		}
		if i == 1 && path[0] == "metadata" {
			ms, ok := objectMeta[p]
			if !ok {
				return nil, fmt.Errorf("metadata.%s is not an ObjectMeta field", p)
			}
			return schemaAt(ms, path[i+1:])
		}
		if pr, ok := cur["x-kubernetes-preserve-unknown-fields"].(bool); ok && pr {
			if props, _ := cur["properties"].(map[string]interface{}); props[p] == nil {
				return map[string]interface{}{}, nil
			}
		}
		props, _ := cur["properties"].(map[string]interface{})
		next, _ := props[p].(map[string]interface{})
		if next == nil {
			return nil, fmt.Errorf("%s is not in the CRD schema", strings.Join(path[:i+1], "."))
		}
		cur = next
	}
	return cur, nil
}

// checkAgainstSchema reports every field of v (at path) the schema does not
// define, every enum violation and every scalar of the wrong type.
func checkAgainstSchema(s map[string]interface{}, v interface{}, path string, errs *[]string) {
	if pr, _ := s["x-kubernetes-preserve-unknown-fields"].(bool); pr {
		return
	}
	if enum, ok := s["enum"].([]interface{}); ok {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			*errs = append(*errs, fmt.Sprintf("%s: %v not in enum %v", path, v, enum))
		}
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]interface{})
		if !ok {
			*errs = append(*errs, fmt.Sprintf("%s: want object, got %T", path, v))
			return
		}
		props, _ := s["properties"].(map[string]interface{})
		if props == nil {
			return
		}
		for _, k := range sortedKeys(m) {
			ps, _ := props[k].(map[string]interface{})
			if ps == nil {
				*errs = append(*errs, fmt.Sprintf("%s.%s: not in the CRD schema", path, k))
				continue
			}
			checkAgainstSchema(ps, m[k], path+"."+k, errs)
		}
		if req, ok := s["required"].([]interface{}); ok {
			for _, r := range req {
				if _, ok := m[r.(string)]; !ok {
					*errs = append(*errs, fmt.Sprintf("%s: required field %v missing", path, r))
				}
			}
		}
	case "array":
		a, ok := v.([]interface{})
		if !ok {
			*errs = append(*errs, fmt.Sprintf("%s: want array, got %T", path, v))
			return
		}
		items, _ := s["items"].(map[string]interface{})
		for i, e := range a {
			checkAgainstSchema(items, e, fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case "string":
		if _, ok := v.(string); !ok {
			*errs = append(*errs, fmt.Sprintf("%s: want string, got %T", path, v))
		}
	case "integer":
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			*errs = append(*errs, fmt.Sprintf("%s: want integer, got %v", path, v))
		}
	case "number":
		if _, ok := v.(float64); !ok {
			*errs = append(*errs, fmt.Sprintf("%s: want number, got %T", path, v))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			*errs = append(*errs, fmt.Sprintf("%s: want boolean, got %T", path, v))
		}
	}
}

// The fixtures must be status the controller can write: every status field
// (and spec field) exists in the CRD with the right type and enum value.
func TestFixturesMatchCRD(t *testing.T) {
	s := crdSchema(t)
	props, _ := s["properties"].(map[string]interface{})
	for _, name := range sortedKeys(fixtures(t)) {
		obj := fixtures(t)[name]
		t.Run(name, func(t *testing.T) {
			var errs []string
			for _, part := range []string{"spec", "status"} {
				v, ok := obj[part]
				if !ok {
					continue
				}
				ps, _ := props[part].(map[string]interface{})
				checkAgainstSchema(ps, v, part, &errs)
			}
			for _, e := range errs {
				t.Error(e)
			}
		})
	}
}
