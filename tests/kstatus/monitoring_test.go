package kstatus

import (
	"bufio"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// ---- kube-state-metrics custom-resource-state config ----
// The documented schema (kube-state-metrics pkg/customresourcestate, config.go
// and config_metrics_types.go); unknown fields are rejected.

type ksmConfig struct {
	Kind string `json:"kind"`
	Spec struct {
		Resources []ksmResource `json:"resources"`
	} `json:"spec"`
}

type ksmResource struct {
	GroupVersionKind struct {
		Group   string `json:"group"`
		Version string `json:"version"`
		Kind    string `json:"kind"`
	} `json:"groupVersionKind"`
	MetricNamePrefix *string             `json:"metricNamePrefix"`
	ResourcePlural   string              `json:"resourcePlural"`
	CommonLabels     map[string]string   `json:"commonLabels"`
	LabelsFromPath   map[string][]string `json:"labelsFromPath"`
	ErrorLogV        int                 `json:"errorLogV"`
	Metrics          []ksmGenerator      `json:"metrics"`
}

type ksmGenerator struct {
	Name           string              `json:"name"`
	Help           string              `json:"help"`
	CommonLabels   map[string]string   `json:"commonLabels"`
	LabelsFromPath map[string][]string `json:"labelsFromPath"`
	ErrorLogV      int                 `json:"errorLogV"`
	Each           struct {
		Type  string `json:"type"`
		Gauge *struct {
			Path           []string            `json:"path"`
			LabelsFromPath map[string][]string `json:"labelsFromPath"`
			LabelFromKey   string              `json:"labelFromKey"`
			ValueFrom      []string            `json:"valueFrom"`
			ValueType      string              `json:"valueType"`
			NilIsZero      bool                `json:"nilIsZero"`
		} `json:"gauge"`
		StateSet *struct {
			Path           []string            `json:"path"`
			LabelsFromPath map[string][]string `json:"labelsFromPath"`
			LabelName      string              `json:"labelName"`
			List           []string            `json:"list"`
			ValueFrom      []string            `json:"valueFrom"`
		} `json:"stateSet"`
		Info *struct {
			Path           []string            `json:"path"`
			LabelsFromPath map[string][]string `json:"labelsFromPath"`
			LabelFromKey   string              `json:"labelFromKey"`
		} `json:"info"`
	} `json:"each"`
}

var metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func loadKSM(t *testing.T) (ksmConfig, ksmResource) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), "manifests/monitoring/kube-state-metrics.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c ksmConfig
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		t.Fatalf("kube-state-metrics.yaml does not follow the documented schema: %v", err)
	}
	if c.Kind != "CustomResourceStateMetrics" {
		t.Fatalf("kind %q, want CustomResourceStateMetrics", c.Kind)
	}
	if len(c.Spec.Resources) != 1 {
		t.Fatalf("want exactly one resource, got %d", len(c.Spec.Resources))
	}
	return c, c.Spec.Resources[0]
}

func ksmPrefix(r ksmResource) string {
	if r.MetricNamePrefix == nil {
		return "kube_customresource"
	}
	return *r.MetricNamePrefix
}

func ksmName(r ksmResource, g ksmGenerator) string {
	if p := ksmPrefix(r); p != "" {
		return p + "_" + g.Name
	}
	return g.Name
}

// A metric's generator reduced to what the checks need.
type ksmEach struct {
	typ          string
	path         []string
	valueFrom    []string
	labels       map[string][]string
	labelFromKey string
	labelName    string
	list         []string
	nilIsZero    bool
}

func eachOf(g ksmGenerator) (ksmEach, error) {
	e := g.Each
	n := 0
	var out ksmEach
	if e.Gauge != nil {
		n++
		out = ksmEach{typ: "gauge", path: e.Gauge.Path, valueFrom: e.Gauge.ValueFrom,
			labels: e.Gauge.LabelsFromPath, labelFromKey: e.Gauge.LabelFromKey,
			nilIsZero: e.Gauge.NilIsZero}
		if e.Gauge.ValueType != "" && e.Gauge.ValueType != "duration" &&
			e.Gauge.ValueType != "quantity" {
			return out, fmt.Errorf("valueType %q", e.Gauge.ValueType)
		}
	}
	if e.StateSet != nil {
		n++
		out = ksmEach{typ: "stateset", path: e.StateSet.Path, valueFrom: e.StateSet.ValueFrom,
			labels: e.StateSet.LabelsFromPath, labelName: e.StateSet.LabelName,
			list: e.StateSet.List}
	}
	if e.Info != nil {
		n++
		out = ksmEach{typ: "info", path: e.Info.Path, labels: e.Info.LabelsFromPath,
			labelFromKey: e.Info.LabelFromKey}
	}
	if n != 1 {
		return out, fmt.Errorf("each must set exactly one of gauge, stateSet, info (has %d)", n)
	}
	if strings.ToLower(e.Type) != out.typ {
		return out, fmt.Errorf("each.type %q does not match the %s block", e.Type, out.typ)
	}
	return out, nil
}

func elemSchema(s map[string]interface{}) map[string]interface{} {
	for s["type"] == "array" {
		s, _ = s["items"].(map[string]interface{})
	}
	return s
}

// valueTypeOK: KSM turns numbers, booleans, "true/false/unknown" strings,
// RFC 3339 strings and quantities into floats.
func valueTypeOK(s map[string]interface{}) bool {
	switch s["type"] {
	case "integer", "number", "boolean":
		return true
	case "string":
		if s["format"] == "date-time" {
			return true
		}
		if enum, ok := s["enum"].([]interface{}); ok {
			for _, v := range enum {
				switch strings.ToLower(fmt.Sprint(v)) {
				case "true", "false", "unknown", "yes", "no":
				default:
					return false
				}
			}
			return true
		}
	}
	return false
}

// Every path the KSM config reads exists in the CRD schema and ends where a
// value of a usable type lives.
func TestKSMConfigPathsExistInCRD(t *testing.T) {
	schema := crdSchema(t)
	_, res := loadKSM(t)
	gvk := res.GroupVersionKind
	if gvk.Group != "retl.io" || gvk.Version != "v1alpha1" || gvk.Kind != "ReverseEtlJob" {
		t.Fatalf("groupVersionKind %+v", gvk)
	}
	for l, p := range res.LabelsFromPath {
		if !labelNameRE.MatchString(l) || strings.HasPrefix(l, "customresource_") {
			t.Errorf("resource label %q: invalid or reserved", l)
		}
		if _, err := schemaAt(schema, p); err != nil {
			t.Errorf("resource label %s: %v", l, err)
		}
	}
	seen := map[string]bool{}
	for _, g := range res.Metrics {
		g := g
		t.Run(g.Name, func(t *testing.T) {
			name := ksmName(res, g)
			if !metricNameRE.MatchString(name) || seen[name] {
				t.Fatalf("metric name %q invalid or duplicated", name)
			}
			seen[name] = true
			if strings.TrimSpace(g.Help) == "" {
				t.Error("no help text")
			}
			e, err := eachOf(g)
			if err != nil {
				t.Fatal(err)
			}
			at, err := schemaAt(schema, e.path)
			if err != nil {
				t.Fatalf("path: %v", err)
			}
			elem := elemSchema(at)
			for l, p := range e.labels {
				if !labelNameRE.MatchString(l) || strings.HasPrefix(l, "customresource_") {
					t.Errorf("label %q: invalid or reserved", l)
				}
				ls, err := schemaAt(elem, p)
				if err != nil {
					t.Errorf("label %s: %s (relative to %v)", l, err, e.path)
					continue
				}
				if ls["type"] == "object" || ls["type"] == "array" {
					t.Errorf("label %s: %v is not a scalar", l, p)
				}
			}
			switch e.typ {
			case "gauge":
				if e.labelFromKey != "" {
					if elem["type"] != "object" {
						t.Fatalf("labelFromKey on %v, which is not an object", e.path)
					}
					props, _ := elem["properties"].(map[string]interface{})
					if len(props) == 0 {
						t.Fatalf("labelFromKey on %v: no known keys", e.path)
					}
					for k, ps := range props {
						vs, err := schemaAt(ps.(map[string]interface{}), e.valueFrom)
						if err != nil || !valueTypeOK(vs) {
							t.Errorf("%v.%s: value not numeric (%v)", e.path, k, err)
						}
					}
					return
				}
				vs, err := schemaAt(elem, e.valueFrom)
				if err != nil {
					t.Fatalf("valueFrom: %v", err)
				}
				if !valueTypeOK(vs) {
					t.Fatalf("value at %v %v has type %v %v: KSM cannot convert it",
						e.path, e.valueFrom, vs["type"], vs["format"])
				}
			case "stateset":
				if e.labelName == "" || len(e.list) == 0 {
					t.Fatal("stateSet needs labelName and list")
				}
				vs, err := schemaAt(elem, e.valueFrom)
				if err != nil {
					t.Fatalf("valueFrom: %v", err)
				}
				enum, _ := vs["enum"].([]interface{})
				if len(enum) == 0 {
					t.Fatalf("stateSet on %v: the CRD gives no enum to check the list against", e.path)
				}
				want := map[string]bool{}
				for _, v := range enum {
					want[fmt.Sprint(v)] = true
				}
				for _, v := range e.list {
					if !want[v] {
						t.Errorf("stateSet value %q is not in the CRD enum %v", v, enum)
					}
					delete(want, v)
				}
				for v := range want {
					t.Errorf("CRD enum value %q missing from the stateSet list", v)
				}
			case "info":
				if len(e.labels) == 0 && e.labelFromKey == "" {
					t.Fatal("info metric without labels")
				}
			}
		})
	}
}

// ---- evaluating the config on fixtures (kube-state-metrics semantics) ----

type sample struct {
	labels map[string]string
	value  float64
}

func getPath(v interface{}, path []string) interface{} {
	for _, p := range path {
		switch m := v.(type) {
		case map[string]interface{}:
			v = m[p]
		case []interface{}:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(m) {
				return nil
			}
			v = m[i]
		default:
			return nil
		}
		if v == nil {
			return nil
		}
	}
	return v
}

func toFloat(v interface{}) (float64, error) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	case string:
		switch strings.ToLower(x) {
		case "true", "yes":
			return 1, nil
		case "false", "no", "unknown":
			return 0, nil
		}
		if ts, err := time.Parse(time.RFC3339, x); err == nil {
			return float64(ts.Unix()), nil
		}
		return strconv.ParseFloat(x, 64)
	}
	return 0, fmt.Errorf("cannot convert %T %v", v, v)
}

func addLabels(obj interface{}, paths map[string][]string, into map[string]string) {
	for l, p := range paths {
		if v := getPath(obj, p); v != nil {
			into[l] = fmt.Sprint(v)
		}
	}
}

// evalKSM produces the samples kube-state-metrics would produce for obj.
func evalKSM(res ksmResource, g ksmGenerator, obj map[string]interface{}) ([]sample, []error) {
	e, err := eachOf(g)
	if err != nil {
		return nil, []error{err}
	}
	base := map[string]string{"customresource_group": res.GroupVersionKind.Group,
		"customresource_version": res.GroupVersionKind.Version,
		"customresource_kind":    res.GroupVersionKind.Kind}
	addLabels(obj, res.LabelsFromPath, base)
	for k, v := range g.CommonLabels {
		base[k] = v
	}
	var out []sample
	var errs []error
	emit := func(l map[string]string, v float64) {
		for k, bv := range base {
			if _, ok := l[k]; !ok {
				l[k] = bv
			}
		}
		out = append(out, sample{l, v})
	}
	v := getPath(obj, e.path)
	gaugeOne := func(it interface{}) {
		got := getPath(it, e.valueFrom)
		if got == nil {
			if e.nilIsZero {
				l := map[string]string{}
				addLabels(it, e.labels, l)
				emit(l, 0)
			}
			return
		}
		f, err := toFloat(got)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %v: %v", g.Name, e.path, err))
			return
		}
		l := map[string]string{}
		addLabels(it, e.labels, l)
		emit(l, f)
	}
	switch e.typ {
	case "gauge":
		switch it := v.(type) {
		case map[string]interface{}:
			if e.labelFromKey == "" {
				errs = append(errs, fmt.Errorf("%s: %v is an object; set valueFrom or labelFromKey", g.Name, e.path))
				break
			}
			for _, k := range sortedKeys(it) {
				f, err := toFloat(getPath(it[k], e.valueFrom))
				if err != nil {
					errs = append(errs, fmt.Errorf("%s [%s]: %v", g.Name, k, err))
					continue
				}
				l := map[string]string{e.labelFromKey: k}
				emit(l, f)
			}
		case []interface{}:
			for _, el := range it {
				gaugeOne(el)
			}
		default:
			gaugeOne(v)
		}
	case "stateset":
		s, ok := getPath(v, e.valueFrom).(string)
		if !ok {
			break // KSM skips an absent status value
		}
		for _, entry := range e.list {
			l := map[string]string{e.labelName: entry}
			addLabels(v, e.labels, l)
			val := 0.0
			if s == entry {
				val = 1
			}
			emit(l, val)
		}
	case "info":
		target := interface{}(obj)
		if len(e.path) > 0 {
			target = v
		}
		l := map[string]string{}
		addLabels(target, e.labels, l)
		if len(l) > 0 {
			emit(l, 1)
		}
	}
	return out, errs
}

func findSample(ss []sample, match map[string]string) (float64, bool) {
	for _, s := range ss {
		ok := true
		for k, v := range match {
			if s.labels[k] != v {
				ok = false
			}
		}
		if ok {
			return s.value, true
		}
	}
	return 0, false
}

// The config evaluated on every fixture converts without errors, and gives
// the values the status holds.
func TestKSMConfigOnFixtures(t *testing.T) {
	_, res := loadKSM(t)
	fx := fixtures(t)
	all := map[string]map[string][]sample{}
	for _, name := range sortedKeys(fx) {
		all[name] = map[string][]sample{}
		for _, g := range res.Metrics {
			ss, errs := evalKSM(res, g, fx[name])
			for _, err := range errs {
				t.Errorf("%s: %v", name, err)
			}
			all[name][ksmName(res, g)] = ss
		}
	}
	ts := func(s string) float64 {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return float64(tm.Unix())
	}
	id := map[string]string{"namespace": "sales-ops", "reverseetljob": "account-scores"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range id {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	checks := []struct {
		fixture, metric string
		labels          map[string]string
		want            float64
	}{
		{"healthy.yaml", "kube_reverseetljob_status_condition", map[string]string{"type": "Ready", "reason": "Scheduled"}, 1},
		{"healthy.yaml", "kube_reverseetljob_status_condition", map[string]string{"type": "Stalled"}, 0},
		{"healthy.yaml", "kube_reverseetljob_status_last_run_result", map[string]string{"result": "Succeeded"}, 1},
		{"healthy.yaml", "kube_reverseetljob_status_last_run_result", map[string]string{"result": "Failed"}, 0},
		{"healthy.yaml", "kube_reverseetljob_status_last_run_rows", map[string]string{"kind": "changed"}, 120},
		{"healthy.yaml", "kube_reverseetljob_status_last_run_duration_seconds", nil, 3.1},
		{"healthy.yaml", "kube_reverseetljob_status_failing_rows", nil, 2},
		{"healthy.yaml", "kube_reverseetljob_status_totals", map[string]string{"kind": "rowsSynced"}, 123456},
		{"healthy.yaml", "kube_reverseetljob_status_last_successful_time", nil, ts("2026-11-24T13:00:05Z")},
		{"healthy.yaml", "kube_reverseetljob_status_next_schedule_time", nil, ts("2026-11-24T13:30:00Z")},
		{"healthy.yaml", "kube_reverseetljob_status_last_schedule_time", nil, ts("2026-11-24T13:00:00Z")},
		{"healthy.yaml", "kube_reverseetljob_created", nil, ts("2026-11-20T09:00:00Z")},
		{"healthy.yaml", "kube_reverseetljob_spec_suspend", nil, 0},
		{"healthy.yaml", "kube_reverseetljob_info", map[string]string{"mode": "Upsert", "destination_object": "Account", "schedule": "*/30 * * * *"}, 1},
		{"running.yaml", "kube_reverseetljob_status_active_run", nil, 42},
		{"running.yaml", "kube_reverseetljob_status_condition", map[string]string{"type": "Reconciling", "reason": "RunInProgress"}, 1},
		{"generation-not-observed.yaml", "kube_reverseetljob_metadata_generation", nil, 4},
		{"generation-not-observed.yaml", "kube_reverseetljob_status_observed_generation", nil, 3},
		{"stalled-invalid-spec.yaml", "kube_reverseetljob_status_condition", map[string]string{"type": "Stalled", "reason": "InvalidSpec"}, 1},
		{"last-run-failed.yaml", "kube_reverseetljob_status_condition", map[string]string{"type": "LastRunSucceeded", "reason": "Failed"}, 0},
		{"last-run-failed.yaml", "kube_reverseetljob_status_last_run_result", map[string]string{"result": "Failed"}, 1},
		{"threshold-exceeded.yaml", "kube_reverseetljob_status_last_run_result", map[string]string{"result": "ThresholdExceeded"}, 1},
		{"threshold-exceeded.yaml", "kube_reverseetljob_status_failing_rows", nil, 1500},
		{"suspended.yaml", "kube_reverseetljob_spec_suspend", nil, 1},
		{"no-run-yet.yaml", "kube_reverseetljob_status_condition", map[string]string{"type": "LastRunSucceeded", "reason": "NoRunYet"}, 0},
		{"no-status.yaml", "kube_reverseetljob_status_failing_rows", nil, 0},
	}
	for _, c := range checks {
		got, ok := findSample(all[c.fixture][c.metric], with(c.labels))
		if !ok {
			t.Errorf("%s: no %s%v", c.fixture, c.metric, c.labels)
			continue
		}
		if math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: %s%v = %v, want %v", c.fixture, c.metric, c.labels, got, c.want)
		}
	}
	// Optional paths give no series (not zero) when absent.
	if ss := all["healthy.yaml"]["kube_reverseetljob_status_active_run"]; len(ss) != 0 {
		t.Errorf("active_run present without an active run: %v", ss)
	}
	if ss := all["no-status.yaml"]["kube_reverseetljob_status_last_run_result"]; len(ss) != 0 {
		t.Errorf("last_run_result without a last run: %v", ss)
	}
}

// ---- the controller's metrics (rendered by build/test/retl-metrics-dump) ----

type metricInfo struct {
	typ    string
	labels map[string]bool
}

// controllerMetrics reads the exposition the controller's registry renders
// (path in $RETL_METRICS_EXPOSITION) into metric name -> labels.
func controllerMetrics(t *testing.T) map[string]*metricInfo {
	t.Helper()
	path := os.Getenv("RETL_METRICS_EXPOSITION")
	if path == "" {
		t.Fatal("RETL_METRICS_EXPOSITION is not set: tests/suites/80-monitoring.sh renders the " +
			"controller's metrics with build/test/retl-metrics-dump first")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*metricInfo{}
	sc := bufio.NewScanner(f)
	sampleRE := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? \S+$`)
	labelRE := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"`)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# TYPE ") {
			parts := strings.Fields(line)
			if len(parts) != 4 {
				t.Fatalf("bad TYPE line %q", line)
			}
			out[parts[2]] = &metricInfo{typ: parts[3], labels: map[string]bool{}}
			if parts[3] == "histogram" {
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					out[parts[2]+suf] = &metricInfo{typ: "histogram-part", labels: map[string]bool{}}
				}
			}
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("bad sample line %q", line)
		}
		mi := out[m[1]]
		if mi == nil {
			t.Fatalf("sample %s before its TYPE line", m[1])
		}
		for _, l := range labelRE.FindAllStringSubmatch(m[3], -1) {
			mi.labels[l[1]] = true
		}
	}
	if len(out) == 0 {
		t.Fatal("no metrics in the exposition")
	}
	return out
}

// ksmMetrics lists the names (and labels) the KSM config produces.
func ksmMetrics(t *testing.T) map[string]*metricInfo {
	_, res := loadKSM(t)
	out := map[string]*metricInfo{}
	for _, g := range res.Metrics {
		mi := &metricInfo{typ: "ksm", labels: map[string]bool{
			"customresource_group": true, "customresource_version": true, "customresource_kind": true}}
		for l := range res.LabelsFromPath {
			mi.labels[l] = true
		}
		for l := range res.CommonLabels {
			mi.labels[l] = true
		}
		for l := range g.CommonLabels {
			mi.labels[l] = true
		}
		e, err := eachOf(g)
		if err != nil {
			t.Fatal(err)
		}
		for l := range e.labels {
			mi.labels[l] = true
		}
		if e.labelFromKey != "" {
			mi.labels[e.labelFromKey] = true
		}
		if e.labelName != "" {
			mi.labels[e.labelName] = true
		}
		out[ksmName(res, g)] = mi
	}
	return out
}

// Labels every series gets from the scrape itself.
var targetLabels = map[string]bool{"job": true, "instance": true, "namespace": true,
	"pod": true, "service": true, "container": true, "endpoint": true}

func TestControllerMetricsExposed(t *testing.T) {
	cm := controllerMetrics(t)
	want := map[string][]string{
		"controller_runtime_reconcile_total":               {"controller", "result"},
		"controller_runtime_reconcile_errors_total":        {"controller"},
		"controller_runtime_reconcile_time_seconds_bucket": {"controller", "le"},
		"workqueue_depth":                         {"name"},
		"workqueue_adds_total":                    {"name"},
		"workqueue_queue_duration_seconds_bucket": {"name", "le"},
		"workqueue_work_duration_seconds_bucket":  {"name", "le"},
		"workqueue_retries_total":                 {"name"},
		"leader_election_master_status":           {"name"},
		"rest_client_requests_total":              {"code", "method", "host"},
		"retl_runs_total":                         {"namespace", "job", "result"},
		"retl_rows_synced_total":                  {"namespace", "job"},
		"retl_rows_failed_total":                  {"namespace", "job"},
		"retl_last_run_duration_seconds":          {"namespace", "job"},
		"retl_last_run_timestamp_seconds":         {"namespace", "job"},
		"retl_rows_failing":                       {"namespace", "job"},
	}
	for _, name := range sortedKeys(want) {
		mi := cm[name]
		if mi == nil {
			t.Errorf("%s not exposed", name)
			continue
		}
		for _, l := range want[name] {
			if !mi.labels[l] {
				t.Errorf("%s lacks label %s (has %v)", name, l, sortedKeys(mi.labels))
			}
		}
	}
}

// The PrometheusRule is valid for Prometheus (rulefmt: names, durations,
// expressions, templates) and its expressions read only metrics that exist,
// with labels those metrics have.
func TestPrometheusRule(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "manifests/monitoring/prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		APIVersion string                 `json:"apiVersion"`
		Kind       string                 `json:"kind"`
		Metadata   map[string]interface{} `json:"metadata"`
		Spec       map[string]interface{} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(b, &pr); err != nil {
		t.Fatal(err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Fatalf("apiVersion/kind %s/%s", pr.APIVersion, pr.Kind)
	}
	spec, err := yaml.Marshal(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.Parse(spec, false, model.UTF8Validation, p,
		slog.New(slog.NewTextHandler(os.Stderr, nil)))
	for _, e := range errs {
		t.Errorf("rulefmt: %v", e)
	}
	if groups == nil {
		t.FailNow()
	}

	known := controllerMetrics(t)
	for k, v := range ksmMetrics(t) {
		if known[k] != nil {
			t.Errorf("KSM metric %s collides with a controller metric", k)
		}
		known[k] = v
	}
	alerts := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				name = r.Record
			}
			t.Run(name, func(t *testing.T) {
				if r.Alert != "" {
					alerts++
					if r.Labels["severity"] == "" {
						t.Error("no severity label")
					}
					if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
						t.Error("summary and description annotations are required")
					}
				}
				expr, err := p.ParseExpr(r.Expr)
				if err != nil {
					t.Fatalf("expr: %v", err)
				}
				checkExpr(t, expr, known)
			})
		}
	}
	if alerts < 5 {
		t.Errorf("only %d alerts", alerts)
	}
}

func checkExpr(t *testing.T, expr parser.Expr, known map[string]*metricInfo) {
	t.Helper()
	used := 0
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		switch x := n.(type) {
		case *parser.VectorSelector:
			used++
			mi := known[x.Name]
			if mi == nil {
				t.Errorf("metric %q does not exist (not rendered by the controller, not in the KSM config)", x.Name)
				return nil
			}
			for _, m := range x.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					continue
				}
				if !mi.labels[m.Name] && !targetLabels[m.Name] {
					t.Errorf("%s has no label %q (has %v)", x.Name, m.Name, sortedKeys(mi.labels))
				}
			}
		case *parser.AggregateExpr:
			names := selectorNames(x.Expr)
			for _, l := range x.Grouping {
				ok := targetLabels[l]
				for _, n := range names {
					if mi := known[n]; mi != nil && mi.labels[l] {
						ok = true
					}
				}
				if !ok {
					t.Errorf("grouping label %q is on none of %v", l, names)
				}
			}
		}
		return nil
	})
	if used == 0 {
		t.Error("expression reads no metric")
	}
}

func selectorNames(e parser.Expr) []string {
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs.Name)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// docs/monitoring.md names every metric the controller and the KSM config
// export and every alert, so the reference cannot drift from the code.
func TestDocsListEverything(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "docs/monitoring.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for name, mi := range controllerMetrics(t) {
		if mi.typ == "histogram-part" {
			continue
		}
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("controller metric %s is not documented", name)
		}
	}
	for name := range ksmMetrics(t) {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("kube-state-metrics metric %s is not documented", name)
		}
	}
	rules, err := os.ReadFile(filepath.Join(root(t), "manifests/monitoring/prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*- alert: (\S+)`).FindAllStringSubmatch(string(rules), -1) {
		if !strings.Contains(doc, "`"+m[1]+"`") {
			t.Errorf("alert %s is not documented", m[1])
		}
	}
}
